//! multiproc: Python's `multiprocessing` and `concurrent.futures.ProcessPoolExecutor`
//! for Rust — run work in separate OS processes, with typed errors instead of hangs.
//!
//! Why processes when Rust threads already run in parallel: crash isolation (a segfault,
//! abort or OOM in a task kills one worker, not the program), hard timeouts (a thread
//! cannot be killed, a process can), leak containment, and non-thread-safe C libraries
//! run in parallel.
//!
//! ```
//! use std::path::PathBuf;
//! use multiproc::prelude::*;
//!
//! fn square(x: u64) -> u64 { x * x }
//! fn size(path: PathBuf) -> std::io::Result<u64> { Ok(std::fs::metadata(path)?.len()) }
//!
//! let mut p = Process::new(square, 12);
//! p.start()?;
//! assert_eq!(p.join()?, 144);
//!
//! let pool = Pool::new(2)?;
//! assert_eq!(pool.map(square, 1..4)?, [1, 4, 9]);
//! let sizes = pool.map_results(size, [PathBuf::from("Cargo.toml"), PathBuf::from("nope")])?;
//! assert!(sizes[0].is_ok() && matches!(sizes[1], Err(TaskError::Failed(_))));
//!
//! let ex = ProcessPoolExecutor::new(2)?;
//! let f: Future<u64> = ex.submit(square, 7)?;
//! assert_eq!(f.result()?, 49);
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
//! | `Pool(n, initializer, initargs, maxtasksperchild)` | [`Pool::new`], [`Pool::builder`] |
//! | `pool.map`, `map_async`, `imap`, `imap_unordered`, `apply`, `apply_async` | [`Pool::map`], [`map_async`](Pool::map_async), [`imap`](Pool::imap), [`imap_unordered`](Pool::imap_unordered), [`apply`](Pool::apply), [`apply_async`](Pool::apply_async) → [`AsyncResult`] |
//! | `pool.starmap(f, [(a, b)])`, `apply(f, (a, b))` | [`Pool::starmap`], [`apply_star`](Pool::apply_star), [`apply_async_star`](Pool::apply_async_star), [`imap_star`](Pool::imap_star), [`imap_unordered_star`](Pool::imap_unordered_star) |
//! | `ProcessPoolExecutor(n)`, `ex.submit(f, a, b)`, `ex.map(f, xs)` | [`ProcessPoolExecutor::new`], [`submit`](ProcessPoolExecutor::submit) / [`submit_star`](ProcessPoolExecutor::submit_star) → [`Future`], [`map`](ProcessPoolExecutor::map) / [`map_star`](ProcessPoolExecutor::map_star) |
//! | `as_completed(fs)`, `wait(fs, return_when=FIRST_EXCEPTION)` | [`as_completed`], [`wait`]`(.., `[`ReturnWhen::FirstException`]`)` |
//! | a task that raises | a task that returns `Err(e)`: [`TaskError::Failed`] with `e`'s type, message and causes ([`ErrorInfo`]); see [`TaskReturn`] |
//! | "can't pickle a lambda" | a capturing closure does not compile; see [`Function`] |
//! | `Queue()`, `Queue(maxsize)`, `JoinableQueue()`, `SimpleQueue()` | [`Queue::new`], [`Queue::bounded`], [`JoinableQueue`], [`SimpleQueue`] |
//! | `Pipe()`, `Pipe(duplex=False)`, `connection.wait(objs, t)` | [`Pipe::new`], [`Pipe::one_way`], [`connection::wait`] |
//! | `Lock()`, `RLock()`, `Semaphore(n)`, `BoundedSemaphore(n)` | [`Lock`], [`RLock`], [`Semaphore`], [`BoundedSemaphore`] (holder death: `OwnerDied`) |
//! | `Condition()`, `Event()`, `Barrier(n)` | [`Condition`], [`Event`], [`Barrier`] |
//! | `Value('q', 0)`, `Array('d', 10)`, `shared_memory.SharedMemory(...)` | [`Value`], [`Array`], [`SharedMemory`] |
//! | `p.sentinel` | [`Process::sentinel`] |
//! | `tqdm(pool.imap(f, xs), total=len(xs))` | `pool.progress().imap(f, xs)` (feature `progress`), or indicatif's `.progress()` on [`IMap`] (an [`ExactSizeIterator`] over an input of known length) |
//! | mpire's `pool.print_insights()` | `println!("{}", pool.insights())` ([`Pool::insights`] → [`Insights`]) |
//!
//! # Which call answers what
//!
//! Every error is a value to match on, and each kind of call has one error type:
//!
//! | calls | error |
//! |---|---|
//! | every call that submits tasks or waits for them: `Pool`'s `map`, `apply`, `imap`, `*_async`, `*_star`, ...; [`AsyncResult::get`], `get_timeout`; [`IMap`]'s `next`, `next_timeout`; `ProcessPoolExecutor`'s `submit`, `map`; [`Future::result`], `result_timeout`, `exception`, `.await`; the items of `map` and `imap` | [`TaskError`]: the task [`Failed`](TaskError::Failed) or [`Panicked`](TaskError::Panicked), its worker [`died`](TaskError::WorkerDied) or [`timed out`](TaskError::TimedOut), its data could not cross ([`Codec`](TaskError::Codec), [`TooLarge`](TaskError::TooLarge)), it never ran ([`NotRunning`](TaskError::NotRunning), [`Cancelled`](TaskError::Cancelled), ...), or a wait ran out ([`WaitTimedOut`](TaskError::WaitTimedOut)) |
//! | [`Pool::new`], [`PoolBuilder::build`], [`ProcessPoolExecutor::new`], [`ExecutorBuilder::build`], [`Pool::join`] | [`PoolError`] |
//! | [`AsyncResult::successful`] before the result is ready | [`NotReady`] |
//! | [`as_completed`] past its timeout | [`TimeoutError`] |
//! | every call of [`Process`] | [`ProcessError`] (its start: [`StartError`]) |
//! | [`sync`]'s queues, pipes, locks and shared memory | one error type per operation where the failures differ (`sync::SyncError`, `sync::PutError`, `sync::GetError`, `sync::LockError`, ...; see [`sync`]) |
//!
//! # Layers
//!
//! Each layer is its own crate, re-exported here as a module; each depends only on the
//! ones above it in this list:
//!
//! - [`codec`]: what crosses the boundary — serde encoding, frames, fingerprints, and the
//!   wire form of failures ([`PanicInfo`], [`ErrorInfo`], [`CodecError`]);
//! - [`ipc`]: channels between a parent and a child over ipc-channel, shared memory, the
//!   answer rings workers write into, and the peer's death as a typed error;
//! - [`process`]: start methods, the worker bootstrap, function identity ([`Function`],
//!   [`StarFn`], [`TaskReturn`]), and the `Process` API;
//! - [`sync`]: processes that talk — queues, pipes, robust locks, events, barriers,
//!   shared values and shared memory, all passable to a `Process` or a pool initializer;
//! - [`pool`]: `Pool`, its scheduler (a pure state machine in a thin shell of threads)
//!   and the [`Backend`](pool::Backend) trait through which it reaches its workers;
//! - [`executor`]: `ProcessPoolExecutor`, futures, `as_completed` and `wait`, as a thin
//!   layer over the pool;
//! - `mpi` (feature `mpi`): pools and executors whose workers are the ranks of an MPI job.
//!
//! # Features
//!
//! - `mpi` (off by default): the `multiproc::mpi` module (crate `multiproc-mpi`):
//!   `multiproc::mpi::init()` at the top of `main` turns every rank but 0 into a worker
//!   and gives rank 0 a [`Pool`] and a [`ProcessPoolExecutor`] over them. It needs an MPI
//!   installation (Open MPI: `openmpi-bin libopenmpi-dev`, and `libclang-dev` to build).
//! - `progress` (off by default): `pool.progress()` (and `pool.chunksize(n).progress()`,
//!   `MapOptions::progress` for the executor) shows a progress bar on stderr (indicatif)
//!   while a call's results arrive, failed items counted apart; nothing when stderr is
//!   not a terminal.
//! - `tracing` (off by default): `tracing` spans and events for the life of workers and
//!   pools — a worker's start and initializer, its exit and replacement (with its exit
//!   status), task timeouts, kills, `close`, `terminate`, `join`, and the loss of an MPI
//!   rank — each with the pool's id and the worker's pid and name. None per task.
//!
//! # Serde
//!
//! Arguments and values are serde types; [`serde`] is re-exported, so a program needs no
//! serde dependency of its own. Its derives then name the path:
//!
//! ```
//! use multiproc::serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! #[serde(crate = "multiproc::serde")]
//! struct Point { x: i32, y: i32 }
//!
//! let pool = multiproc::Pool::new(1)?;
//! assert_eq!(pool.apply(|p: Point| Point { x: p.y, y: p.x }, Point { x: 1, y: 2 })?, Point { x: 2, y: 1 });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
pub use serde;

pub use multiproc_codec::{Bytes, CodecError, ErrorInfo, Limit, PanicInfo, TooLarge};
pub use multiproc_executor::{
    ExecutorBuilder, Future, Map, MapOptions, ProcessPoolExecutor, ReturnWhen, TimeoutError,
    as_completed, wait,
};
pub use multiproc_pool::{
    AsyncResult, Chunked, IMap, Insights, NotReady, Pool, PoolBuilder, PoolError, TaskError,
};
pub use multiproc_process::{
    Child, Context, ExitStatus, Function, InitOutcome, Limits, Process, ProcessError, ProcessInfo,
    Sentinel, StarFn, StartError, StartMethod, TaskFailure, TaskReturn, Typed, Worker,
    active_children, bootstrap, cpu_count, current_process, get_context, get_start_method,
    parent_process, set_start_method, start_worker,
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
///
/// ```
/// use multiproc::prelude::*;
///
/// let pool = Pool::new(1)?;
/// let ex = ProcessPoolExecutor::new(1)?;
/// let f: Future<u32> = ex.submit(|x: u32| x + 1, 1)?;
/// let outcome: Result<u32, TaskError> = f.result();
/// assert_eq!(outcome, pool.apply(|x: u32| x + 1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod prelude {
    pub use crate::{
        Array, AsyncResult, Bytes, Context, ErrorInfo, Event, ExitStatus, Future, Lock, MapOptions,
        Pipe, Pool, PoolError, Process, ProcessError, ProcessPoolExecutor, Queue, ReturnWhen,
        StartMethod, TaskError, Typed, Value, as_completed, cpu_count, current_process, wait,
    };
}
