//! `SharedWords`: a few `u64`s in shared memory, read and written with one atomic access.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ipc_channel::ipc::IpcSharedMemory;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::IpcError;
use crate::sys::Mapping;

/// Words of memory shared between processes, for progress counters and flags that cost one
/// atomic store and no system call.
///
/// Internal to multiproc (the pool's progress words): a `SharedWords` crosses to another
/// process only inside this crate's own messages (its serde form is ipc-channel's), not
/// as a task's or a process's argument. To share memory, use `multiproc::sync`'s `Value`,
/// `Array` or `SharedMemory`, which travel everywhere.
///
/// Backed by a memfd. `Clone` shares the same memory; sending a `SharedWords` inside an
/// ipc-channel message (it implements serde's traits) sends the descriptor, and a `fork`ed
/// child shares it too. All words start at zero.
///
/// ```
/// use multiproc_ipc::SharedWords;
///
/// let words = SharedWords::new(4)?;
/// let view = words.clone(); // the same memory
/// view.store(2, 42);
/// assert_eq!(words.load(2), 42);
/// assert_eq!(words.len(), 4);
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
#[derive(Clone)]
pub struct SharedWords {
    map: Arc<Mapping>,
    len: usize,
}

impl SharedWords {
    /// Creates `len` zeroed shared words.
    ///
    /// # Errors
    ///
    /// [`IpcError::Io`] when the operating system refuses the memory.
    pub fn new(len: usize) -> Result<SharedWords, IpcError> {
        let bytes = len
            .checked_mul(8)
            .ok_or_else(|| IpcError::Protocol(format!("{len} shared words do not fit")))?;
        let map = Mapping::zeroed(bytes).map_err(IpcError::Io)?;
        Ok(SharedWords { map: Arc::new(map), len })
    }

    /// Number of words.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no words at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Closes this process's descriptor of the words, keeping the memory: for words it
    /// will never send on (a parent's view of a worker's progress). They cannot be sent
    /// afterwards.
    ///
    /// ```
    /// let mut words = multiproc_ipc::SharedWords::new(2)?;
    /// words.detach()?;
    /// words.store(1, 5);
    /// assert_eq!(words.load(1), 5);
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`IpcError::Protocol`] when a clone shares them; [`IpcError::Io`] when the OS
    /// refuses the new mapping.
    pub fn detach(&mut self) -> Result<(), IpcError> {
        Arc::get_mut(&mut self.map)
            .ok_or_else(|| IpcError::Protocol("shared words detached while shared".into()))?
            .detach()
            .map_err(IpcError::Io)
    }

    /// Reads word `i` (acquire).
    ///
    /// # Panics
    ///
    /// When `i >= self.len()`.
    #[must_use]
    #[inline]
    pub fn load(&self, i: usize) -> u64 {
        self.check(i);
        self.map.word(i).load(Ordering::Acquire)
    }

    /// Writes word `i` (release).
    ///
    /// # Panics
    ///
    /// When `i >= self.len()`.
    #[inline]
    pub fn store(&self, i: usize, v: u64) {
        self.check(i);
        self.map.word(i).store(v, Ordering::Release);
    }

    /// Word `i` itself, for a caller that updates it at a high rate: the bounds are
    /// checked once, here, instead of at every access. Other processes see the word's
    /// updates in the order the caller's atomic orderings give them.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use multiproc_ipc::SharedWords;
    ///
    /// let words = SharedWords::new(2)?;
    /// let counter = words.word(1);
    /// for i in 1..=3 {
    ///     counter.store(i, Ordering::Release);
    /// }
    /// assert_eq!(words.load(1), 3);
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    ///
    /// # Panics
    ///
    /// When `i >= self.len()`.
    #[must_use]
    pub fn word(&self, i: usize) -> &AtomicU64 {
        self.check(i);
        self.map.word(i)
    }

    /// Adds to word `i` and returns the previous value (acquire-release, wrapping).
    ///
    /// # Panics
    ///
    /// When `i >= self.len()`.
    pub fn fetch_add(&self, i: usize, v: u64) -> u64 {
        self.check(i);
        self.map.word(i).fetch_add(v, Ordering::AcqRel)
    }

    #[inline]
    fn check(&self, i: usize) {
        assert!(i < self.len, "shared word index {i} out of bounds (len {})", self.len);
    }
}

impl fmt::Debug for SharedWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedWords").field("len", &self.len).finish_non_exhaustive()
    }
}

impl Serialize for SharedWords {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let shm = self.map.shm().ok_or_else(|| {
            serde::ser::Error::custom("shared words whose descriptor was closed cannot be sent")
        })?;
        (self.len as u64, shm).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedWords {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SharedWords, D::Error> {
        let (len, shm) = <(u64, IpcSharedMemory)>::deserialize(deserializer)?;
        let len = usize::try_from(len).map_err(D::Error::custom)?;
        let map = Mapping::from_shm(shm);
        if len.checked_mul(8).is_none_or(|bytes| bytes > map.len()) {
            return Err(D::Error::custom(format!(
                "shared words: {len} words announced, {} bytes mapped",
                map.len()
            )));
        }
        Ok(SharedWords { map: Arc::new(map), len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn travels_over_an_ipc_channel() {
        let words = SharedWords::new(3).unwrap();
        let (tx, rx) = ipc_channel::ipc::channel::<SharedWords>().unwrap();
        tx.send(words.clone()).unwrap();
        let there = rx.recv().unwrap();
        assert_eq!(there.len(), 3);
        there.store(1, 7);
        assert_eq!(words.load(1), 7);
        assert_eq!(words.fetch_add(1, 1), 7);
        assert_eq!(there.load(1), 8);
    }

    #[test]
    fn empty_is_fine() {
        let words = SharedWords::new(0).unwrap();
        assert!(words.is_empty());
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn out_of_bounds_panics() {
        let words = SharedWords::new(1).unwrap();
        words.store(1, 0);
    }
}
