//! [`TimeoutError`]: `as_completed` ran past its timeout. (A task's own failure, and every
//! other error of a submission or a wait, is a [`TaskError`](multiproc_pool::TaskError);
//! an executor that cannot be built is a [`PoolError`](multiproc_pool::PoolError).)

use std::fmt;

/// [`as_completed`](crate::as_completed) ran past its timeout. Python:
/// `concurrent.futures.TimeoutError`.
///
/// ```
/// use multiproc::executor::TimeoutError;
///
/// let e = TimeoutError { unfinished: 1, total: 2 };
/// assert_eq!(e.to_string(), "1 (of 2) futures unfinished");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError {
    /// Futures not finished when the time ran out.
    pub unfinished: usize,
    /// How many there were in all.
    pub total: usize,
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (of {}) futures unfinished", self.unfinished, self.total)
    }
}

impl std::error::Error for TimeoutError {}
