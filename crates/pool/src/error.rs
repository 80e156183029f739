//! Typed errors: what happened to one task, and what can go wrong with the pool itself.

use std::fmt;
use std::time::Duration;

use multiproc_codec::{CodecError, PanicInfo, RemoteFailure, TooLarge};
use multiproc_process::ExitStatus;

/// Why one task produced no value.
///
/// Every task submitted ends as a value or one of these, never a hang.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
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
    TimedOut {
        /// The worker that was killed.
        worker: String,
        /// The pool's timeout.
        after: Duration,
    },
    /// The argument could not be encoded in the parent (nothing was sent).
    Encode(CodecError),
    /// The argument (in the parent) or the result (in the worker) encodes larger than a
    /// frame holds; nothing was sent, or the result was dropped.
    TooLarge(TooLarge),
    /// The iterator of inputs panicked while `imap` read it: the items before it ran, this
    /// error stands at its position, and nothing after it was read.
    InputPanicked(PanicInfo),
    /// The result arrived but could not be decoded in the parent.
    Decode(CodecError),
    /// The worker could not run the function: an argument it could not decode, a result
    /// it could not encode, a type or function identity it rejected.
    Remote(RemoteFailure),
    /// Workers could not be initialized: the initializer failed on every attempt.
    InitializerFailed(String),
    /// Workers could not be started.
    StartFailed(String),
    /// The task was cancelled before it produced a value (`terminate`, or a cancelled
    /// future).
    Cancelled,
    /// The task was submitted to a pool that was closed or terminated.
    NotRunning,
    /// The value was taken by an earlier call (`get_timeout`) on the same handle.
    AlreadyTaken,
}

impl TaskError {
    /// The panic, when the task panicked.
    pub fn panic(&self) -> Option<&PanicInfo> {
        match self {
            TaskError::Panicked(p) => Some(p),
            _ => None,
        }
    }

    /// Whether the task's worker died while running it (not a timeout).
    pub fn is_worker_death(&self) -> bool {
        matches!(self, TaskError::WorkerDied { .. })
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked(p) => write!(f, "the task {p}"),
            TaskError::WorkerDied { worker, status: Some(s) } => {
                write!(f, "the worker ({worker}) died while running the task: exit code {s}")
            }
            TaskError::WorkerDied { worker, status: None } => {
                write!(f, "the worker ({worker}) died while running the task")
            }
            TaskError::TimedOut { worker, after } => write!(
                f,
                "the task ran past the pool's timeout of {after:?}; its worker ({worker}) was killed"
            ),
            TaskError::Encode(e) | TaskError::Decode(e) => e.fmt(f),
            TaskError::TooLarge(e) => e.fmt(f),
            TaskError::InputPanicked(p) => write!(f, "the input iterator {p}"),
            TaskError::Remote(r) => r.fmt(f),
            TaskError::InitializerFailed(e) => write!(f, "the worker initializer failed: {e}"),
            TaskError::StartFailed(e) => write!(f, "cannot start workers: {e}"),
            TaskError::Cancelled => f.write_str("the task was cancelled"),
            TaskError::NotRunning => f.write_str("pool not running (closed or terminated)"),
            TaskError::AlreadyTaken => f.write_str("the value was taken by an earlier call"),
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskError::Encode(e) | TaskError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RemoteFailure> for TaskError {
    fn from(f: RemoteFailure) -> TaskError {
        match f {
            RemoteFailure::Panicked(p) => TaskError::Panicked(p),
            RemoteFailure::TooLarge(e) => TaskError::TooLarge(e),
            other => TaskError::Remote(other),
        }
    }
}

/// Misuse of the pool, in Python's terms, or a pool that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// `processes(0)`. Python: "Number of processes must be at least 1".
    NoProcesses,
    /// `max_tasks_per_child(0)`. Python: "maxtasksperchild must be a positive int or None".
    ZeroMaxTasks,
    /// A task was submitted after `close` or `terminate`. Python: "Pool not running".
    NotRunning,
    /// `join` before `close` or `terminate`. Python: "Pool is still running".
    StillRunning,
    /// The initializer's argument could not be encoded.
    Encode(CodecError),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let PoolError::Encode(e) = self {
            return e.fmt(f);
        }
        f.write_str(match self {
            PoolError::NoProcesses => "number of processes must be at least 1",
            PoolError::ZeroMaxTasks => "max_tasks_per_child must be at least 1",
            PoolError::NotRunning => "pool not running (closed or terminated)",
            PoolError::StillRunning => "pool is still running: call close or terminate before join",
            PoolError::Encode(_) => "",
        })
    }
}

impl std::error::Error for PoolError {}

/// Waiting for a result timed out (the task itself goes on), or the task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitError {
    /// The wait timed out; the task is still pending or running.
    Timeout,
    /// The task failed.
    Task(TaskError),
    /// The value was taken by an earlier call.
    Taken,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Timeout => f.write_str("timed out waiting for the result"),
            WaitError::Task(e) => e.fmt(f),
            WaitError::Taken => f.write_str("the result was already taken"),
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Task(e) => Some(e),
            WaitError::Timeout | WaitError::Taken => None,
        }
    }
}

impl From<TaskError> for WaitError {
    fn from(e: TaskError) -> WaitError {
        WaitError::Task(e)
    }
}
