//! [`SimpleQueue`]: the smallest queue, put and get. Python: `multiprocessing.SimpleQueue`.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{GetError, PutError, SyncError};
use crate::queue::Queue;
use crate::wait::{Readiness, Waitable};

/// An unbounded queue with only `put`, `get` and `is_empty`. Python:
/// `multiprocessing.SimpleQueue`.
///
/// The same shared-memory queue as [`Queue`], without bounds, timeouts or batches.
///
/// ```
/// let q = multiproc::sync::SimpleQueue::new()?;
/// q.put("one".to_string())?;
/// assert!(!q.is_empty());
/// assert_eq!(q.get()?, "one");
/// assert!(q.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// A new queue. Python: `SimpleQueue()`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Io`] when the system refuses the memory or the sockets.
    pub fn new() -> Result<SimpleQueue<T>, SyncError> {
        Ok(SimpleQueue { queue: Queue::new()? })
    }

    /// Puts an item. Python: `put(item)`.
    ///
    /// # Errors
    ///
    /// See [`PutError`].
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.queue.put(item)
    }

    /// Takes the oldest item, waiting for one. Python: `get()`.
    ///
    /// # Errors
    ///
    /// See [`GetError`].
    pub fn get(&self) -> Result<T, GetError> {
        self.queue.get()
    }
}

impl<T> SimpleQueue<T> {
    /// Whether the queue is empty now. Python: `empty()`.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops this handle. Python: `close()`.
    pub fn close(self) {}
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue { queue: self.queue.clone() }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue").field("len", &self.queue.len()).finish()
    }
}

impl<T> Waitable for SimpleQueue<T> {
    fn readiness(&self) -> Readiness<'_> {
        self.queue.readiness()
    }
}

impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Queue::deserialize(d).map(|queue| SimpleQueue { queue })
    }
}
