//! [`Queue`], and its two halves [`QueueSender`] and [`QueueReceiver`]: a FIFO of serde
//! items between any number of processes. Python: `multiprocessing.Queue`.
//!
//! One lane in a sealed memfd: items are encoded by the putting thread and copied into
//! shared memory before `put` returns — there is no feeder thread, so a process can exit
//! right after a put (CPython's `join` before `get` deadlock does not exist here), an
//! item that cannot be encoded is an error at the `put`, not a traceback on stderr, and
//! `len` is exact.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::endpoint::{Receiving, RecvFail, SendFail, Sending};
use crate::error::{GetError, PutError, PutManyError, SyncError};
use crate::lane::{GetFail, Half, Lane, PutFail, Wait};
use crate::object::{Kind, Object, type_hash};
use crate::ring::RING_HEADER;

mod wire;

#[cfg(test)]
mod tests;

/// Where a queue's ring header is, and where its data starts.
const RING_AT: usize = 64;
const DATA_AT: usize = 4096;
/// Bytes of address space a queue reserves for its items. Only pages that hold items
/// cost memory, and they are given back once the queue drains below 1 MiB.
pub(crate) const CAPACITY: usize = 1 << 30;
/// The object flag of a `JoinableQueue`.
pub(crate) const JOINABLE: u64 = 1;

const _: () = assert!(RING_AT + RING_HEADER <= DATA_AT);

/// Makes the shared memory and both halves of a new queue.
pub(crate) fn create<T>(maxsize: usize, flags: u64) -> Result<(Sending, Receiving), SyncError> {
    let obj =
        Object::create(Kind::Queue, type_hash::<T>(), maxsize as u64, flags, DATA_AT + CAPACITY)?;
    let lane = Lane::new(Arc::clone(&obj), RING_AT, DATA_AT, CAPACITY);
    lane.init()?;
    let (tx, rx) = Half::pair()?;
    let sending = Sending {
        lane: Lane::new(Arc::clone(&obj), RING_AT, DATA_AT, CAPACITY),
        half: tx,
        maxsize: maxsize as u64,
    };
    Ok((sending, Receiving::new(lane, rx)))
}

pub(crate) fn lane_of(obj: &Arc<Object>) -> Lane {
    let cap = obj.map().len() - DATA_AT;
    Lane::new(Arc::clone(obj), RING_AT, DATA_AT, cap)
}

fn put_error<T>(fail: SendFail, item: T) -> PutError<T> {
    match fail {
        SendFail::Encode(e) => PutError::Encode(e),
        SendFail::Lane(PutFail::Full) => PutError::Full(item),
        SendFail::Lane(PutFail::TimedOut) => PutError::TimedOut(item),
        SendFail::Lane(PutFail::Disconnected) => PutError::Disconnected(item),
        SendFail::Lane(PutFail::TooLarge) => PutError::TooLarge(item),
        SendFail::Lane(PutFail::Io(e)) => PutError::Io(e),
    }
}

fn get_error(fail: RecvFail) -> GetError {
    match fail {
        RecvFail::Decode(e) => GetError::Decode(e),
        RecvFail::Lane(GetFail::Empty) => GetError::Empty,
        RecvFail::Lane(GetFail::TimedOut) => GetError::TimedOut,
        RecvFail::Lane(GetFail::Disconnected) => GetError::Disconnected,
        RecvFail::Lane(GetFail::Corrupt(why)) => GetError::Corrupt(why),
        RecvFail::Lane(GetFail::Io(e)) => GetError::Io(e),
    }
}

/// The sending half of a [`Queue`]: put only. While any sending handle of a queue
/// exists, in any process, its receivers never see [`GetError::Disconnected`].
///
/// `Clone` shares the handle; `Send` and `Sync`. Dropping the last sending handle in
/// every process (a process that exits or is killed drops its own) lets receivers drain
/// what is left and then get `Disconnected`.
///
/// ```
/// use multiproc::sync::{GetError, Queue};
///
/// let (tx, rx) = Queue::<u32>::new()?.split();
/// tx.put(1)?;
/// drop(tx); // the last sender anywhere
/// assert_eq!(rx.get()?, 1);
/// assert!(matches!(rx.get(), Err(GetError::Disconnected)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct QueueSender<T> {
    tx: Arc<Sending>,
    _items: PhantomData<fn(T) -> T>,
}

/// The receiving half of a [`Queue`]: get only.
///
/// `Clone` shares the handle; `Send` and `Sync`. When every receiving handle is gone in
/// every process, a put that would wait for room gets [`PutError::Disconnected`].
pub struct QueueReceiver<T> {
    rx: Arc<Receiving>,
    _items: PhantomData<fn(T) -> T>,
}

/// A FIFO queue between processes. Python: `multiprocessing.Queue`.
///
/// Items are serde values, encoded with the same codec as tasks; a large
/// [`Bytes`](multiproc_codec::Bytes) crosses as one block. The queue lives in shared
/// memory: a `put` copies the item there and returns (no feeder thread), a `get` copies it
/// out. Unbounded by default (`put` waits only once a gigabyte of items is waiting);
/// [`bounded`](Self::bounded) caps the number of items, as Python's `maxsize`.
///
/// A handle travels to other processes as a [`Process`](multiproc_process::Process)
/// argument, a pool initializer's argument, or inside an item of another `Queue` or
/// [`Pipe`](crate::Pipe), under every start method. `Clone` shares it in this process.
///
/// A `Queue` both sends and receives. Split it ([`split`](Self::split),
/// [`sender`](Self::sender), [`receiver`](Self::receiver)) to have consumers learn that
/// every producer is gone ([`GetError::Disconnected`]) instead of waiting for a sentinel.
///
/// Beyond CPython: a producer killed in the middle of a `put` never tears a message nor
/// loses anyone else's (each put commits with one store); a consumer blocked in `get`
/// gets `Disconnected` once every sending handle is gone, never a hang.
///
/// ```
/// use multiproc::Process;
/// use multiproc::sync::{Queue, QueueSender};
///
/// fn produce(tx: QueueSender<String>) {
///     for word in ["to", "be", "shared"] {
///         tx.put(word.to_string()).unwrap();
///     }
/// }
///
/// let (tx, rx) = Queue::new()?.split();
/// let mut p = Process::new(produce, tx); // the parent keeps no sender
/// p.start()?;
/// let words: Vec<String> = std::iter::from_fn(|| rx.get().ok()).collect(); // to Disconnected
/// p.join()?;
/// assert_eq!(words, ["to", "be", "shared"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Queue<T> {
    tx: QueueSender<T>,
    rx: QueueReceiver<T>,
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// An unbounded queue. Python: `Queue()`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Io`] when the system refuses the memory or the sockets.
    pub fn new() -> Result<Queue<T>, SyncError> {
        Queue::with_flags(0, 0)
    }

    /// A queue of at most `maxsize` items: `put` waits while it is full. Python:
    /// `Queue(maxsize)`.
    ///
    /// ```
    /// use multiproc::sync::{PutError, Queue};
    ///
    /// let q = Queue::bounded(1)?;
    /// q.put(1)?;
    /// assert!(q.is_full());
    /// assert!(matches!(q.try_put(2), Err(PutError::Full(2))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new); [`SyncError::Invalid`] for a `maxsize` of 0.
    pub fn bounded(maxsize: usize) -> Result<Queue<T>, SyncError> {
        if maxsize == 0 {
            return Err(SyncError::Invalid("a bounded queue holds at least one item".into()));
        }
        Queue::with_flags(maxsize, 0)
    }

    pub(crate) fn with_flags(maxsize: usize, flags: u64) -> Result<Queue<T>, SyncError> {
        let (tx, rx) = create::<T>(maxsize, flags)?;
        Ok(Queue {
            tx: QueueSender { tx: Arc::new(tx), _items: PhantomData },
            rx: QueueReceiver { rx: Arc::new(rx), _items: PhantomData },
        })
    }
}

impl<T> Queue<T> {
    /// The two halves: consumers holding only the receiver get `Disconnected` once every
    /// sender is gone.
    pub fn split(self) -> (QueueSender<T>, QueueReceiver<T>) {
        (self.tx, self.rx)
    }

    /// A sending handle on this queue.
    pub fn sender(&self) -> QueueSender<T> {
        self.tx.clone()
    }

    /// A receiving handle on this queue.
    pub fn receiver(&self) -> QueueReceiver<T> {
        self.rx.clone()
    }

    /// Items in the queue now (exact: every put and get commits the count with it).
    /// Python: `qsize()`.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether the queue is empty now. Python: `empty()`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a bounded queue holds `maxsize` items now. Python: `full()`.
    pub fn is_full(&self) -> bool {
        self.tx.is_full()
    }

    /// The bound given to [`bounded`](Self::bounded), if any.
    pub fn maxsize(&self) -> Option<usize> {
        self.tx.maxsize()
    }

    /// Drops this handle. Python: `close()` (as the last handle of a process, it lets
    /// the other processes' receivers see `Disconnected` once they drained the queue).
    pub fn close(self) {}

    /// Whether it was made as a `JoinableQueue`.
    pub(crate) fn is_joinable(&self) -> bool {
        self.rx.rx.lane.object().flags() & JOINABLE != 0
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// Puts an item, waiting while a bounded queue is full. Python: `put(item)`.
    ///
    /// # Errors
    ///
    /// See [`PutError`]; the item is given back where it can be.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.tx.put(item)
    }

    /// Puts an item, waiting at most `timeout` for room. Python: `put(item, timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`PutError::TimedOut`] after the timeout; as [`put`](Self::put).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.tx.put_timeout(item, timeout)
    }

    /// Puts an item if there is room now. Python: `put_nowait(item)`.
    ///
    /// # Errors
    ///
    /// [`PutError::Full`] when full; as [`put`](Self::put).
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        self.tx.try_put(item)
    }

    /// Puts every item, in order, committing as many as fit at a time: much cheaper per
    /// item than `put` in a loop. Waits for room as `put` does.
    ///
    /// # Errors
    ///
    /// [`PutManyError`]: how many were put, and why it stopped (an item that cannot be
    /// encoded stops it before anything is put).
    pub fn put_many(&self, items: impl IntoIterator<Item = T>) -> Result<(), PutManyError> {
        self.tx.put_many(items)
    }

    /// Takes the oldest item, waiting for one. Python: `get()`.
    ///
    /// # Errors
    ///
    /// See [`GetError`] (with only a `Queue`, this process is a sender: no
    /// `Disconnected`).
    pub fn get(&self) -> Result<T, GetError> {
        self.rx.get()
    }

    /// Takes the oldest item, waiting at most `timeout`. Python: `get(timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`GetError::TimedOut`] after the timeout; as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.rx.get_timeout(timeout)
    }

    /// Takes the oldest item if there is one. Python: `get_nowait()`.
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`] when empty; as [`get`](Self::get).
    pub fn try_get(&self) -> Result<T, GetError> {
        self.rx.try_get()
    }

    /// Takes between 1 and `max` of the oldest items at once, waiting for the first.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn get_many(&self, max: usize) -> Result<Vec<T>, GetError> {
        self.rx.get_many(max)
    }
}

impl<T: Serialize> QueueSender<T> {
    fn put_with(&self, item: T, wait: Wait) -> Result<(), PutError<T>> {
        match self.tx.send(&item, wait) {
            Ok(()) => Ok(()),
            Err(fail) => Err(put_error(fail, item)),
        }
    }

    /// Puts an item; see [`Queue::put`].
    ///
    /// # Errors
    ///
    /// See [`PutError`].
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_with(item, Wait::Forever)
    }

    /// Puts an item, waiting at most `timeout`; see [`Queue::put_timeout`].
    ///
    /// # Errors
    ///
    /// See [`PutError`].
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_with(item, Wait::timeout(timeout))
    }

    /// Puts an item if there is room now; see [`Queue::try_put`].
    ///
    /// # Errors
    ///
    /// See [`PutError`].
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_with(item, Wait::No)
    }

    /// Puts every item; see [`Queue::put_many`].
    ///
    /// # Errors
    ///
    /// See [`PutManyError`].
    pub fn put_many(&self, items: impl IntoIterator<Item = T>) -> Result<(), PutManyError> {
        self.tx
            .send_many(items, Wait::Forever)
            .map_err(|(put, fail)| PutManyError { put, error: put_error(fail, ()) })
    }
}

impl<T> QueueSender<T> {
    /// Items in the queue now; see [`Queue::len`].
    pub fn len(&self) -> usize {
        self.tx.lane.len_hint()
    }

    /// Whether the queue is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a bounded queue is full now.
    pub fn is_full(&self) -> bool {
        self.tx.maxsize != 0 && self.len() as u64 >= self.tx.maxsize
    }

    /// The queue's bound, if any.
    pub fn maxsize(&self) -> Option<usize> {
        (self.tx.maxsize != 0).then_some(self.tx.maxsize as usize)
    }

    /// Drops this handle (see [`Queue::close`]).
    pub fn close(self) {}
}

impl<T: DeserializeOwned> QueueReceiver<T> {
    fn get_with(&self, wait: Wait) -> Result<T, GetError> {
        self.rx.recv(wait).map_err(get_error)
    }

    /// Takes the oldest item; see [`Queue::get`]. Once every sending handle is gone and
    /// the queue is empty: [`GetError::Disconnected`].
    ///
    /// # Errors
    ///
    /// See [`GetError`].
    pub fn get(&self) -> Result<T, GetError> {
        self.get_with(Wait::Forever)
    }

    /// Takes the oldest item, waiting at most `timeout`; see [`Queue::get_timeout`].
    ///
    /// # Errors
    ///
    /// See [`GetError`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_with(Wait::timeout(timeout))
    }

    /// Takes the oldest item if there is one; see [`Queue::try_get`].
    ///
    /// # Errors
    ///
    /// See [`GetError`].
    pub fn try_get(&self) -> Result<T, GetError> {
        self.get_with(Wait::No)
    }

    /// Takes between 1 and `max` of the oldest items; see [`Queue::get_many`].
    ///
    /// # Errors
    ///
    /// See [`GetError`].
    pub fn get_many(&self, max: usize) -> Result<Vec<T>, GetError> {
        self.rx.recv_many(max, Wait::Forever).map_err(get_error)
    }
}

impl<T> QueueReceiver<T> {
    /// Items in the queue now; see [`Queue::len`].
    pub fn len(&self) -> usize {
        self.rx.lane.len_hint()
    }

    /// Whether the queue is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops this handle (see [`Queue::close`]).
    pub fn close(self) {}

    pub(crate) fn receiving(&self) -> &Receiving {
        &self.rx
    }
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        QueueSender { tx: Arc::clone(&self.tx), _items: PhantomData }
    }
}

impl<T> Clone for QueueReceiver<T> {
    fn clone(&self) -> Self {
        QueueReceiver { rx: Arc::clone(&self.rx), _items: PhantomData }
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { tx: self.tx.clone(), rx: self.rx.clone() }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("len", &self.len()).field("maxsize", &self.maxsize()).finish()
    }
}

impl<T> fmt::Debug for QueueSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueSender").field("len", &self.len()).finish()
    }
}

impl<T> fmt::Debug for QueueReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueReceiver").field("len", &self.len()).finish()
    }
}
