//! Waiting on many futures: `as_completed` and `wait`. Python:
//! `concurrent.futures.as_completed` and `concurrent.futures.wait`.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::TimeoutError;
use crate::future::{Future, Notify};

/// The futures de-duplicated, with a waiter registered on each unfinished one; returns
/// the distinct futures and the waiter, whose list starts with those already done.
fn watch<'a, R: 'a>(
    futures: impl IntoIterator<Item = &'a Future<R>>,
) -> (Vec<&'a Future<R>>, Arc<Notify>) {
    let mut seen = HashSet::new();
    let distinct: Vec<&Future<R>> = futures.into_iter().filter(|f| seen.insert(f.key())).collect();
    let notify = Arc::new(Notify { done: Mutex::new(Vec::new()), cond: Condvar::new() });
    for (i, f) in distinct.iter().enumerate() {
        if f.notify_on_done(&notify, i) {
            notify.done.lock().unwrap_or_else(|e| e.into_inner()).push(i);
        }
    }
    (distinct, notify)
}

/// Yields the futures as they complete (finished, failed or cancelled), each once even if
/// given twice. With a `timeout` (from this call), an `Err` saying how many are unfinished
/// ends the iteration when time runs out. Python: `as_completed(fs, timeout)`.
///
/// ```
/// use std::time::Duration;
/// use multiproc::{ProcessPoolExecutor, as_completed};
///
/// let ex = ProcessPoolExecutor::new(2)?;
/// let slow = ex.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 5_000)?;
/// let fast = ex.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 0)?;
/// let mut it = as_completed([&slow, &fast, &fast], Some(Duration::from_millis(500)));
/// assert!(std::ptr::eq(it.next().unwrap()?, &fast));
/// let err = it.next().unwrap().unwrap_err();
/// assert_eq!(err.to_string(), "1 (of 2) futures unfinished");
/// assert!(it.next().is_none());
/// # slow.cancel_and_kill();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn as_completed<'a, R: 'a>(
    futures: impl IntoIterator<Item = &'a Future<R>>,
    timeout: Option<Duration>,
) -> AsCompleted<'a, R> {
    let (futures, notify) = watch(futures);
    AsCompleted {
        futures,
        notify,
        yielded: 0,
        deadline: timeout.map(|t| Instant::now() + t),
        ended: false,
    }
}

/// The iterator of [`as_completed`].
#[must_use = "as_completed does nothing unless iterated"]
pub struct AsCompleted<'a, R> {
    futures: Vec<&'a Future<R>>,
    notify: Arc<Notify>,
    yielded: usize,
    deadline: Option<Instant>,
    ended: bool,
}

impl<R> std::fmt::Debug for AsCompleted<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsCompleted {{ yielded: {} of {} }}", self.yielded, self.futures.len())
    }
}

impl<'a, R> Iterator for AsCompleted<'a, R> {
    type Item = Result<&'a Future<R>, TimeoutError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended || self.yielded == self.futures.len() {
            return None;
        }
        let mut done = self.notify.done.lock().unwrap_or_else(|e| e.into_inner());
        while done.len() <= self.yielded {
            match self.deadline {
                None => done = self.notify.cond.wait(done).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        self.ended = true;
                        let total = self.futures.len();
                        return Some(Err(TimeoutError { unfinished: total - self.yielded, total }));
                    }
                    done = self
                        .notify
                        .cond
                        .wait_timeout(done, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        let index = done[self.yielded];
        self.yielded += 1;
        Some(Ok(self.futures[index]))
    }
}

/// When [`wait`] returns. Python: `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any future is done.
    FirstCompleted,
    /// As soon as any future fails (a cancelled one does not count, as in Python); else
    /// when all are done.
    FirstException,
    /// When all are done.
    AllCompleted,
}

/// Waits until `return_when` holds or `timeout` passes, and splits the futures into
/// `(done, not_done)` (duplicates counted once). Python: `wait(fs, timeout, return_when)`.
///
/// ```
/// use multiproc::{ProcessPoolExecutor, ReturnWhen, wait};
///
/// let ex = ProcessPoolExecutor::new(2)?;
/// let fs: Vec<_> = (0..4u32).map(|x| ex.submit(|x: u32| x, x)).collect::<Result<_, _>>()?;
/// let (done, not_done) = wait(&fs, None, ReturnWhen::AllCompleted);
/// assert_eq!((done.len(), not_done.len()), (4, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn wait<'a, R: 'a>(
    futures: impl IntoIterator<Item = &'a Future<R>>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> (Vec<&'a Future<R>>, Vec<&'a Future<R>>) {
    let (futures, notify) = watch(futures);
    let deadline = timeout.map(|t| Instant::now() + t);
    {
        let mut done = notify.done.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let satisfied = match return_when {
                ReturnWhen::AllCompleted => done.len() == futures.len(),
                ReturnWhen::FirstCompleted => !done.is_empty() || futures.is_empty(),
                ReturnWhen::FirstException => {
                    done.len() == futures.len() || done.iter().any(|&i| futures[i].failed())
                }
            };
            if satisfied {
                break;
            }
            match deadline {
                None => done = notify.cond.wait(done).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    done =
                        notify.cond.wait_timeout(done, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
    }
    futures.into_iter().partition(|f| f.done())
}
