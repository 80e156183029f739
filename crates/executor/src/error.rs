//! Typed errors of the executor itself (a task's own failure is a
//! [`TaskError`](multiproc_pool::TaskError)).

use std::fmt;

use multiproc_pool::PoolError;

/// Misuse of the executor, or one that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecutorError {
    /// `max_workers(0)`. Python: "max_workers must be greater than 0".
    NoWorkers,
    /// `max_tasks_per_child(0)`.
    ZeroMaxTasks,
    /// A submission after `shutdown`. Python: "cannot schedule new futures after shutdown".
    Shutdown,
    /// The initializer's argument could not be encoded.
    Encode(multiproc_codec::CodecError),
}

impl fmt::Display for ExecutorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecutorError::NoWorkers => f.write_str("max_workers must be at least 1"),
            ExecutorError::ZeroMaxTasks => f.write_str("max_tasks_per_child must be at least 1"),
            ExecutorError::Shutdown => f.write_str("cannot schedule new futures after shutdown"),
            ExecutorError::Encode(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ExecutorError {}

impl From<PoolError> for ExecutorError {
    fn from(e: PoolError) -> ExecutorError {
        match e {
            PoolError::NoProcesses => ExecutorError::NoWorkers,
            PoolError::ZeroMaxTasks => ExecutorError::ZeroMaxTasks,
            PoolError::Encode(e) => ExecutorError::Encode(e),
            _ => ExecutorError::Shutdown,
        }
    }
}

/// `as_completed` or a `map` iterator ran past its timeout.
/// Python: `concurrent.futures.TimeoutError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError {
    /// Futures (or results) not finished when the time ran out.
    pub unfinished: usize,
    /// How many there were in all (for `map`: the results taken so far plus the rest).
    pub total: usize,
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (of {}) futures unfinished", self.unfinished, self.total)
    }
}

impl std::error::Error for TimeoutError {}
