//! Typed errors: [`TaskError`], everything a call that runs tasks can answer instead of a
//! value, and [`PoolError`], a pool or executor that cannot be built or joined.

use std::fmt;
use std::time::Duration;

use multiproc_codec::{CodecError, ErrorInfo, Limit, PanicInfo, RemoteFailure, TooLarge};
use multiproc_process::{ExitStatus, StartError};

/// Why a task produced no value — or why a call that runs tasks has none to give.
///
/// Every call that submits or waits for tasks answers with this one type (`apply`, `map`,
/// `imap`, `submit`, `get`, `result`, ...), so one `match` covers them all. Its causes,
/// by group:
///
/// - **the task failed**: it returned an error ([`Failed`](Self::Failed)) or panicked
///   ([`Panicked`](Self::Panicked));
/// - **its worker failed**: it died under the task ([`WorkerDied`](Self::WorkerDied)), was
///   killed past the pool's per-task timeout ([`TimedOut`](Self::TimedOut)), or the task
///   ran into one of the worker's limits ([`LimitExceeded`](Self::LimitExceeded));
/// - **its data could not cross**: an argument or result that serde could not encode or
///   decode ([`Codec`](Self::Codec)), or too large for a frame
///   ([`TooLarge`](Self::TooLarge)), or a function the worker would not call
///   ([`Rejected`](Self::Rejected));
/// - **it never ran**: [`Cancelled`](Self::Cancelled), refused by a pool that is not
///   running ([`NotRunning`](Self::NotRunning)) or by a call given chunk size 0
///   ([`ZeroChunksize`](Self::ZeroChunksize)), workers that could not start or initialize
///   ([`StartFailed`](Self::StartFailed), [`InitializerFailed`](Self::InitializerFailed)),
///   or an input iterator that panicked before it ([`InputPanicked`](Self::InputPanicked));
/// - **the caller's wait**: a wait with a timeout ran out while the task goes on
///   ([`WaitTimedOut`](Self::WaitTimedOut): ask again), or the value was taken already
///   ([`AlreadyTaken`](Self::AlreadyTaken)).
///
/// ```
/// use std::time::Duration;
/// use multiproc::{Pool, TaskError};
///
/// fn check(x: i64) -> Result<i64, std::num::TryFromIntError> { u8::try_from(x).map(i64::from) }
///
/// let pool = Pool::new(2)?;
/// match pool.apply(check, 300) {
///     Err(TaskError::Failed(e)) => assert!(e.message().contains("out of range")),
///     other => panic!("{other:?}"),
/// }
/// let slow = pool.apply_async(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 60_000)?;
/// assert_eq!(slow.get_timeout(Duration::ZERO).unwrap_err(), TaskError::WaitTimedOut);
/// pool.terminate();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task returned an error (`Err(e)`): the error's type, message and `source()`
    /// chain, and the error itself when it crossed typed (see
    /// [`ErrorInfo::downcast`]). Python: the exception the task raised.
    Failed(ErrorInfo),
    /// The function panicked in the worker: message, location and backtrace. The worker
    /// lives on.
    Panicked(PanicInfo),
    /// The worker running the task died (exit, abort, signal, OOM kill). Only the task it
    /// was running fails this way; the worker is replaced.
    WorkerDied {
        /// The worker that died (a pid for local workers).
        worker: String,
        /// How it ended, when known.
        status: Option<ExitStatus>,
    },
    /// The task ran past the pool's per-task timeout: its worker was killed and replaced.
    /// (A caller's own wait running out is [`WaitTimedOut`](Self::WaitTimedOut).)
    TimedOut {
        /// The worker that was killed.
        worker: String,
        /// The pool's timeout.
        after: Duration,
    },
    /// The task ran into one of its worker's limits (the builders' `memory_limit`,
    /// `cpu_time_limit`, `open_files_limit`): an allocation failed under the memory cap,
    /// its CPU time ran out, or it found no descriptor left. Its worker is replaced; the
    /// pool goes on.
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The limit, in its unit (see [`Limit`]).
        configured: u64,
        /// What the worker saw, in the same unit, when it knows: the task's CPU time, the
        /// descriptors open. `None` for a failed allocation (its size is not known).
        observed: Option<u64>,
    },
    /// An argument or a result could not be encoded or decoded: in the parent (nothing was
    /// sent) or in the worker. The error names the type and the direction.
    Codec(CodecError),
    /// The argument (in the parent) or the result (in the worker) encodes larger than a
    /// frame holds; nothing was sent, or the result was dropped.
    TooLarge(TooLarge),
    /// The worker would not call the function: its identity or types did not match the
    /// worker's binary. Nothing was called.
    Rejected(String),
    /// The iterator of inputs panicked while `imap` read it: the items before it ran, this
    /// error stands at its position, and nothing after it was read.
    InputPanicked(PanicInfo),
    /// Workers could not be initialized: the initializer failed on every attempt.
    InitializerFailed(String),
    /// Workers could not be started.
    StartFailed(String),
    /// The task was cancelled before it produced a value (`terminate`, a cancelled or
    /// dropped future, a dropped `imap`).
    Cancelled,
    /// The task was submitted to a pool that was closed or terminated, or to an executor
    /// that was shut down. Python: "Pool not running", "cannot schedule new futures after
    /// shutdown".
    NotRunning,
    /// The call was given chunk size 0. Python: "Chunksize must be 1+".
    ZeroChunksize,
    /// A wait with a timeout (`get_timeout`, `result_timeout`, `next_timeout`, a `map`'s
    /// timeout) ran out before the task ended. The task goes on, and the handle can be
    /// asked again. Python: `multiprocessing.TimeoutError`,
    /// `concurrent.futures.TimeoutError`.
    WaitTimedOut,
    /// The value was taken by an earlier call on the same handle.
    AlreadyTaken,
}

impl TaskError {
    /// The panic, when the task panicked.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(1)?;
    /// let err = pool.apply(|x: u32| -> u32 { panic!("{x} is odd") }, 3).unwrap_err();
    /// assert_eq!(err.panic().map(|p| p.message.as_str()), Some("3 is odd"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn panic(&self) -> Option<&PanicInfo> {
        match self {
            TaskError::Panicked(p) => Some(p),
            _ => None,
        }
    }

    /// The error the task returned, when it returned one.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(1)?;
    /// let err = pool.apply(|s: String| s.parse::<u8>(), "x".to_string()).unwrap_err();
    /// assert_eq!(err.error().map(|e| e.message()), Some("invalid digit found in string"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn error(&self) -> Option<&ErrorInfo> {
        match self {
            TaskError::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the task's worker died while running it (not a timeout).
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(1)?;
    /// let err = pool.apply(|code: i32| -> u8 { std::process::exit(code) }, 3).unwrap_err();
    /// assert!(err.is_worker_death());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_worker_death(&self) -> bool {
        matches!(self, TaskError::WorkerDied { .. })
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Failed(e) => write!(f, "the task failed: {e}"),
            TaskError::Panicked(p) => write!(f, "the task {p}"),
            TaskError::WorkerDied { worker, status: Some(s) } => {
                write!(f, "the worker ({worker}) died while running the task: {}", s.describe())
            }
            TaskError::WorkerDied { worker, status: None } => {
                write!(f, "the worker ({worker}) died while running the task")
            }
            TaskError::TimedOut { worker, after } => write!(
                f,
                "the task ran past the pool's timeout of {after:?}; its worker ({worker}) was killed"
            ),
            TaskError::LimitExceeded { limit, configured, observed } => {
                let failure = RemoteFailure::LimitExceeded {
                    limit: *limit,
                    configured: *configured,
                    observed: *observed,
                };
                failure.fmt(f)
            }
            TaskError::Codec(e) => e.fmt(f),
            TaskError::TooLarge(e) => e.fmt(f),
            TaskError::Rejected(why) => write!(f, "the worker would not call the function: {why}"),
            TaskError::InputPanicked(p) => write!(f, "the input iterator {p}"),
            TaskError::InitializerFailed(e) => write!(f, "the worker initializer failed: {e}"),
            TaskError::StartFailed(e) => write!(f, "cannot start workers: {e}"),
            TaskError::Cancelled => f.write_str("the task was cancelled"),
            TaskError::NotRunning => f.write_str(
                "not running: the pool was closed or terminated, or the executor shut down",
            ),
            TaskError::ZeroChunksize => f.write_str("chunk size must be at least 1"),
            TaskError::WaitTimedOut => {
                f.write_str("timed out waiting for the result (the task goes on)")
            }
            TaskError::AlreadyTaken => f.write_str("the value was taken by an earlier call"),
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // The task's own error is part of this message: its causes come next.
            TaskError::Failed(e) => std::error::Error::source(e),
            _ => None,
        }
    }
}

impl From<RemoteFailure> for TaskError {
    /// What a worker reported instead of an item's value.
    fn from(f: RemoteFailure) -> TaskError {
        match f {
            RemoteFailure::Failed(e) => TaskError::Failed(e),
            RemoteFailure::Panicked(p) => TaskError::Panicked(p),
            RemoteFailure::Codec(e) => TaskError::Codec(e),
            RemoteFailure::TooLarge(e) => TaskError::TooLarge(e),
            RemoteFailure::Error(e) => TaskError::InitializerFailed(e),
            RemoteFailure::LimitExceeded { limit, configured, observed } => {
                TaskError::LimitExceeded { limit, configured, observed }
            }
            other => TaskError::Rejected(other.to_string()),
        }
    }
}

/// A pool or executor that cannot be built, or joined too early. Python's `ValueError`s
/// of `Pool(...)` and `ProcessPoolExecutor(...)`, and `Pool.join`'s.
///
/// ```
/// use multiproc::{Pool, PoolError, ProcessPoolExecutor};
///
/// assert_eq!(Pool::new(0).unwrap_err(), PoolError::NoProcesses);
/// assert_eq!(ProcessPoolExecutor::new(0).unwrap_err(), PoolError::NoProcesses);
/// let pool = Pool::new(1)?;
/// assert_eq!(pool.join(), Err(PoolError::StillRunning));
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// `processes(0)` or `max_workers(0)`. Python: "Number of processes must be at least
    /// 1", "max_workers must be greater than 0".
    NoProcesses,
    /// `max_tasks_per_child(0)`. Python: "maxtasksperchild must be a positive int or None".
    ZeroMaxTasks,
    /// `join` before `close` or `terminate`. Python: "Pool is still running".
    StillRunning,
    /// The initializer's argument could not be encoded.
    Codec(CodecError),
    /// This process cannot hold the workers asked for, even with its soft limit raised to
    /// the hard one: the resource, how many are needed and the limit (see
    /// [`StartError::Exhausted`](multiproc_process::StartError::Exhausted)).
    Exhausted {
        /// `"open file descriptors"`, `"processes"` or `"threads"` (the pool's own).
        resource: &'static str,
        /// How many are needed, when known.
        needed: Option<u64>,
        /// The hard limit, when known.
        limit: Option<u64>,
    },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::NoProcesses => f.write_str("number of processes must be at least 1"),
            PoolError::ZeroMaxTasks => f.write_str("max_tasks_per_child must be at least 1"),
            PoolError::StillRunning => {
                f.write_str("pool is still running: call close or terminate before join")
            }
            PoolError::Codec(e) => e.fmt(f),
            PoolError::Exhausted { resource, needed, limit } => {
                let e = StartError::Exhausted { resource, needed: *needed, limit: *limit };
                write!(f, "cannot start the pool's workers: {e}")
            }
        }
    }
}

impl std::error::Error for PoolError {}
