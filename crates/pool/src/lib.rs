//! Python's `multiprocessing.Pool` on a scheduler that never hangs and never loses a task.
//!
//! - [`Pool`] / [`PoolBuilder`]: `map`, `map_async`, `starmap`, `imap`,
//!   `imap_unordered`, `apply`, `apply_async`, the `*_star` forms for functions of several
//!   arguments, `close`, `terminate`, `join`, with `initializer`, `max_tasks_per_child`, a
//!   start method and a per-task timeout; [`Chunked`] for an explicit `chunksize`.
//! - [`AsyncResult`] and [`IMap`]: results that arrive later, or lazily.
//! - [`TaskError`]: the one error of every call that submits or waits for tasks (a task
//!   that returned `Err`, panicked, lost its worker, ...); [`PoolError`]: a pool that
//!   cannot be built, or joined too early.
//! - [`Backend`]: how the scheduler reaches workers, so other kinds of workers (MPI
//!   ranks) can plug in.
//!
//! The scheduler is split in two. `plan` is a pure state machine: it owns the queue of
//! encoded runs of items, each worker's batches and every item's state, takes events
//! (submitted, answers, worker lost, tick, cancel, close, terminate) and returns actions
//! (send, revoke, kill, fail); it has no locks, threads, channels or clocks, and is
//! property-tested against a model. `shell` is the thin layer of threads around it that
//! turns IO into events and carries out the actions. Per task, whatever the batching:
//! every task ends exactly once; a worker's death fails only the item it was running;
//! finished items are delivered and unstarted ones re-queued, uncharged.
//!
//! The scheduler moves opaque frames (`multiproc-codec`); user types are encoded and
//! decoded at the edges of this crate's API. It knows nothing about fork, libc or file
//! descriptors: processes are `multiproc-process`'s business.
#![forbid(unsafe_code)]

mod answers;
mod async_result;
mod backend;
mod builder;
mod calls;
mod chunk;
mod error;
mod imap;
mod insights;
mod local;
mod plan;
mod pool;
#[cfg(feature = "progress")]
mod progress;
mod shell;
mod sink;
mod star;
mod submit;
mod task;

pub use answers::Answers;
pub use async_result::{AsyncResult, NotReady};
pub use backend::{
    Answer, AnswerReceiver, Backend, Expect, FrameSender, ItemRange, Lost, Progress, WorkerControl,
    WorkerLink, frame_answers,
};
pub use builder::PoolBuilder;
pub use calls::Chunked;
pub use chunk::{chunks, default_chunksize};
pub use error::{PoolError, TaskError};
pub use imap::IMap;
pub use insights::{Insights, RestartCause, SLOWEST, SlowTask, WorkerInsights};
pub use local::LocalBackend;
pub use multiproc_codec::Limit;
pub use pool::Pool;
pub use task::{Task, TaskState};
