//! [`JoinableQueue`]: a [`Queue`] whose consumers mark items done and whose producers
//! can wait until all are. Python: `multiprocessing.JoinableQueue`.

use std::fmt;
use std::ops::Deref;
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ReleaseError, SyncError};
use crate::queue::{JOINABLE, Queue};
use crate::wait::{Readiness, Waitable};

/// A [`Queue`] that counts unfinished items: every put adds one, every
/// [`task_done`](Self::task_done) removes one, and [`join`](Self::join) waits until none
/// is left. Python: `multiprocessing.JoinableQueue`.
///
/// Everything else is the queue's: it dereferences to [`Queue`]. The count lives in the
/// queue's shared memory, committed with each put and each `task_done`.
///
/// ```
/// use multiproc::Process;
/// use multiproc::sync::JoinableQueue;
///
/// fn work(q: JoinableQueue<u32>) {
///     while let Ok(job) = q.get() {
///         let _ = job * 2;
///         q.task_done().unwrap();
///     }
/// }
///
/// let q = JoinableQueue::new()?;
/// q.put_many(0..10).unwrap();
/// let mut worker = Process::new(work, q.clone());
/// worker.start()?;
/// q.join(); // every item was taken and marked done
/// assert!(q.is_empty());
/// worker.kill()?;
/// # let _ = worker.join();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// An unbounded joinable queue. Python: `JoinableQueue()`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Io`] when the system refuses the memory or the sockets.
    pub fn new() -> Result<JoinableQueue<T>, SyncError> {
        Ok(JoinableQueue { queue: Queue::with_flags(0, JOINABLE)? })
    }

    /// A joinable queue of at most `maxsize` items. Python: `JoinableQueue(maxsize)`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new); [`SyncError::Invalid`] for a `maxsize` of 0.
    pub fn bounded(maxsize: usize) -> Result<JoinableQueue<T>, SyncError> {
        if maxsize == 0 {
            return Err(SyncError::Invalid("a bounded queue holds at least one item".into()));
        }
        Ok(JoinableQueue { queue: Queue::with_flags(maxsize, JOINABLE)? })
    }
}

impl<T> JoinableQueue<T> {
    /// Marks one item taken from the queue as done. Python: `task_done()`.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::TooManyReleases`] when every item put is already done (Python's
    /// `ValueError`).
    pub fn task_done(&self) -> Result<(), ReleaseError> {
        match self.queue.receiver().receiving().lane.task_done() {
            Ok(true) => Ok(()),
            Ok(false) => Err(ReleaseError::TooManyReleases),
            Err(e) => Err(ReleaseError::Io(e)),
        }
    }

    /// Waits until every item ever put has been marked done. Python: `join()`.
    pub fn join(&self) {
        self.queue.receiver().receiving().lane.join(None);
    }

    /// Waits at most `timeout` for every item to be done; whether they are.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        self.queue.receiver().receiving().lane.join(deadline)
    }

    /// Items put and not yet marked done, now. Python: the `unfinished_tasks` counter.
    pub fn unfinished(&self) -> usize {
        self.queue.receiver().receiving().lane.ring().unfinished_hint() as usize
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue { queue: self.queue.clone() }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("len", &self.queue.len())
            .field("unfinished", &self.unfinished())
            .finish()
    }
}

impl<T> Waitable for JoinableQueue<T> {
    fn readiness(&self) -> Readiness<'_> {
        self.queue.readiness()
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let queue = Queue::<T>::deserialize(d)?;
        if !queue.is_joinable() {
            return Err(D::Error::custom("the queue sent is not a joinable queue"));
        }
        Ok(JoinableQueue { queue })
    }
}
