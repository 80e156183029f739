//! multiproc: Python's `multiprocessing` and `concurrent.futures.ProcessPoolExecutor`
//! for Rust — run work in separate OS processes, with typed errors instead of hangs.
//!
//! Why processes when Rust threads already run in parallel: crash isolation (a segfault,
//! abort or OOM in a task kills one worker, not the program), hard timeouts (a thread
//! cannot be killed, a process can), leak containment, non-thread-safe C libraries run
//! in parallel, and per-worker resource limits.
//!
//! ```
//! use multiproc::Process;
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! let mut p = Process::new(square, 12);
//! p.start()?;
//! assert_eq!(p.join()?, 144);
//! # Ok::<(), multiproc::ProcessError>(())
//! ```
//!
//! # Python ↔ multiproc
//!
//! | Python | multiproc |
//! |---|---|
//! | `Process(target=f, args=(x,))` | [`Process::new(f, x)`](Process::new) |
//! | `p.start()`, `p.join()`, `p.join(t)` | [`start`](Process::start), [`join`](Process::join) (returns `f`'s value), [`join_timeout`](Process::join_timeout) |
//! | `p.exitcode`, `p.is_alive()`, `p.pid`, `p.name` | [`exit_code`](Process::exit_code) ([`ExitStatus`]), [`is_alive`](Process::is_alive), [`pid`](Process::pid), [`name`](Process::name) |
//! | `p.terminate()`, `p.kill()`, `p.close()` | [`terminate`](Process::terminate), [`kill`](Process::kill), [`close`](Process::close) |
//! | `current_process()`, `parent_process()`, `active_children()` | [`current_process`], [`parent_process`], [`active_children`] |
//! | `cpu_count()` | [`cpu_count`] (respects the affinity mask) |
//! | `set_start_method("spawn")`, `get_context("fork")` | [`set_start_method`]`(`[`StartMethod::Spawn`]`)`, [`get_context`]`(`[`StartMethod::Fork`]`)` |
//! | `os.fork()` + a closure | [`Process::fork`] |
//! | "can't pickle a lambda" | a capturing closure does not compile; see [`Function`] |
//! | `Queue()`, `Queue(maxsize)`, `JoinableQueue()`, `SimpleQueue()` | [`Queue::new`], [`Queue::bounded`], [`JoinableQueue`], [`SimpleQueue`] |
//! | `Pipe()`, `Pipe(duplex=False)`, `connection.wait(objs, t)` | [`Pipe::new`], [`Pipe::one_way`], [`connection::wait`] |
//! | `Lock()`, `RLock()`, `Semaphore(n)`, `BoundedSemaphore(n)` | [`Lock`], [`RLock`], [`Semaphore`], [`BoundedSemaphore`] (holder death: `OwnerDied`) |
//! | `Condition()`, `Event()`, `Barrier(n)` | [`Condition`], [`Event`], [`Barrier`] |
//! | `Value('q', 0)`, `Array('d', 10)`, `shared_memory.SharedMemory(...)` | [`Value`], [`Array`], [`SharedMemory`] |
//! | `p.sentinel` | [`Process::sentinel`] |
//!
//! # Layers
//!
//! Each layer is its own crate, re-exported here as a module:
//!
//! - [`codec`]: what crosses the boundary — serde encoding, frames, fingerprints, errors;
//! - [`ipc`]: channels between a parent and a child over ipc-channel, shared memory, and
//!   the peer's death as a typed error;
//! - [`process`]: start methods, the worker bootstrap, function identity, and the
//!   `Process` API;
//! - [`sync`]: processes that talk — queues, pipes, robust locks, events, barriers,
//!   shared values and shared memory, all passable to a `Process` or a pool initializer.
//!
//! Nothing is needed in `main`: a hook that runs before `main` catches every child
//! started as a worker. Where such hooks cannot run, call [`bootstrap`] first thing.
#![forbid(unsafe_code)]

pub use multiproc_codec as codec;
pub use multiproc_executor as executor;
pub use multiproc_ipc as ipc;
#[cfg(feature = "mpi")]
pub use multiproc_mpi as mpi;
pub use multiproc_pool as pool;
pub use multiproc_process as process;
pub use multiproc_sync as sync;

pub use multiproc_codec::{Bytes, PanicInfo};
pub use multiproc_executor::{
    ExecutorBuilder, ExecutorError, Future, MapOptions, ProcessPoolExecutor, ReturnWhen,
    as_completed, wait,
};
pub use multiproc_pool::{AsyncResult, Pool, PoolBuilder, PoolError, TaskError, WaitError};
pub use multiproc_process::{
    Child, Context, ExitStatus, Function, InitOutcome, Process, ProcessError, ProcessInfo,
    Sentinel, StarFn, StartError, StartMethod, Worker, active_children, bootstrap, cpu_count,
    current_process, get_context, get_start_method, parent_process, set_start_method, start_worker,
};
pub use multiproc_sync::{
    Array, Barrier, BoundedSemaphore, Condition, Connection, Event, JoinableQueue, Lock, Pipe,
    Queue, RLock, Semaphore, SharedMemory, SimpleQueue, Value,
};

/// Python's `multiprocessing.connection`: pipes' ends, and waiting on several of them (and
/// on queues and process sentinels) at once.
pub mod connection {
    pub use multiproc_sync::{Connection, Pipe, Waitable, wait};
}

/// The names most programs need: `use multiproc::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Array, Bytes, Context, Event, ExitStatus, Lock, Pipe, Process, ProcessError, Queue,
        StartMethod, Value, cpu_count, current_process,
    };
}
