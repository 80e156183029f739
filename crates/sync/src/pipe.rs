//! [`Pipe`] and [`Connection`]: two ends that exchange serde messages. Python:
//! `multiprocessing.Pipe` and `multiprocessing.connection.Connection`.
//!
//! A pipe is two lanes (one per direction) in one sealed memfd; a one-way pipe is one.
//! Each end holds the producers' half of the lane it sends on and the consumers' half of
//! the lane it receives from, so the end-of-file of the bells says exactly "every copy
//! of the other end is gone".

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::endpoint::{Receiving, RecvFail, SendFail, Sending};
use crate::error::{RecvError, SendError, SyncError};
use crate::lane::{GetFail, Half, Lane, PutFail, Wait};
use crate::object::{Kind, Object, type_hash};
use crate::ring::RING_HEADER;
use crate::travel::{self, Route};
use crate::wait::{self, Readiness, Waitable, Watch};

/// Where lane `i`'s ring header is, where data starts, and how much address space each
/// lane reserves (only pages that hold messages cost memory).
const RINGS_AT: usize = 64;
const DATA_AT: usize = 4096;
const CAPACITY: usize = 1 << 30;

const _: () = assert!(RINGS_AT + 2 * RING_HEADER <= DATA_AT);

fn lane(obj: &Arc<Object>, i: u8) -> Lane {
    let lanes = obj.param().max(1) as usize;
    let cap = (obj.map().len() - DATA_AT) / lanes;
    let i = usize::from(i).min(lanes - 1);
    Lane::new(Arc::clone(obj), RINGS_AT + i * RING_HEADER, DATA_AT + i * cap, cap)
}

/// Makes a pipe's memory with `lanes` lanes (1 or 2), initialised.
fn create<T>(lanes: u8) -> Result<Arc<Object>, SyncError> {
    let size = DATA_AT + usize::from(lanes) * CAPACITY;
    let obj = Object::create(Kind::Pipe, type_hash::<T>(), u64::from(lanes), 0, size)?;
    for i in 0..lanes {
        lane(&obj, i).init()?;
    }
    Ok(obj)
}

/// Constructors of pipes. Python: `multiprocessing.Pipe(duplex)`.
///
/// ```
/// use multiproc::sync::Pipe;
///
/// let (a, b) = Pipe::<String>::new()?;
/// a.send("ping".to_string())?;
/// assert_eq!(b.recv()?, "ping");
/// b.send("pong".to_string())?;
/// assert_eq!(a.recv()?, "pong");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pipe<T>(PhantomData<fn(T) -> T>);

impl<T: Serialize + DeserializeOwned> Pipe<T> {
    /// Two connected duplex ends. Python: `Pipe()`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Io`] when the system refuses the memory or the sockets.
    #[expect(clippy::new_ret_no_self, reason = "Python's `Pipe()` returns the two ends")]
    pub fn new() -> Result<(Connection<T>, Connection<T>), SyncError> {
        let obj = create::<T>(2)?;
        let (ab_tx, ab_rx) = Half::pair()?;
        let (ba_tx, ba_rx) = Half::pair()?;
        let end = |send: u8, tx: Half, recv: u8, rx: Half| Connection {
            send: Some(Arc::new(Sending { lane: lane(&obj, send), half: tx, maxsize: 0 })),
            recv: Some(Arc::new(Receiving::new(lane(&obj, recv), rx))),
            _items: PhantomData,
        };
        Ok((end(0, ab_tx, 1, ba_rx), end(1, ba_tx, 0, ab_rx)))
    }

    /// A one-way pipe: `(reader, writer)`. Python: `Pipe(duplex=False)`.
    ///
    /// ```
    /// use multiproc::sync::{Pipe, SendError};
    ///
    /// let (reader, writer) = Pipe::<u8>::one_way()?;
    /// writer.send(1)?;
    /// assert_eq!(reader.recv()?, 1);
    /// assert!(matches!(reader.send(2), Err(SendError::ReadOnly(2))));
    /// assert!(!reader.writable() && writer.writable());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn one_way() -> Result<(Connection<T>, Connection<T>), SyncError> {
        let obj = create::<T>(1)?;
        let (tx, rx) = Half::pair()?;
        let reader = Connection {
            send: None,
            recv: Some(Arc::new(Receiving::new(lane(&obj, 0), rx))),
            _items: PhantomData,
        };
        let writer = Connection {
            send: Some(Arc::new(Sending { lane: lane(&obj, 0), half: tx, maxsize: 0 })),
            recv: None,
            _items: PhantomData,
        };
        Ok((reader, writer))
    }
}

/// One end of a [`Pipe`]. Python: `multiprocessing.connection.Connection`.
///
/// Messages are serde values (`send`/`recv`) or raw bytes (`send_bytes`/`recv_bytes`);
/// each arrives whole, in order. A message is copied into shared memory by `send` and
/// out by `recv`: `send` does not wait for the other end (up to a gigabyte of unread
/// messages), so two ends that both send before they receive never deadlock.
///
/// `recv` waits for a message and returns [`RecvError::Disconnected`] once every copy of
/// the other end is gone (closed, or its process exited or was killed) and nothing is
/// left to read: never a hang. A waiting `recv` first polls the pipe for a few tens of
/// microseconds, so a reply that comes back that fast is picked up without sleeping.
///
/// An end travels to another process as a `Process` argument, a pool initializer's
/// argument or inside a message of another pipe or queue. `Clone` shares it in this
/// process; dropping the last handle closes it. `Send` and `Sync`.
pub struct Connection<T> {
    send: Option<Arc<Sending>>,
    recv: Option<Arc<Receiving>>,
    _items: PhantomData<fn(T) -> T>,
}

fn send_error<T>(fail: SendFail, item: T) -> SendError<T> {
    match fail {
        SendFail::Encode(e) => SendError::Encode(e),
        SendFail::Lane(PutFail::Full) => SendError::Full(item),
        SendFail::Lane(PutFail::TimedOut) => SendError::TimedOut(item),
        SendFail::Lane(PutFail::Disconnected) => SendError::Disconnected(item),
        SendFail::Lane(PutFail::TooLarge) => SendError::TooLarge(item),
        SendFail::Lane(PutFail::Io(e)) => SendError::Io(e),
    }
}

fn recv_error(fail: RecvFail) -> RecvError {
    match fail {
        RecvFail::Decode(e) => RecvError::Decode(e),
        RecvFail::Lane(GetFail::Empty) => RecvError::Empty,
        RecvFail::Lane(GetFail::TimedOut) => RecvError::TimedOut,
        RecvFail::Lane(GetFail::Disconnected) => RecvError::Disconnected,
        RecvFail::Lane(GetFail::Corrupt(why)) => RecvError::Corrupt(why),
        RecvFail::Lane(GetFail::Io(e)) => RecvError::Io(e),
    }
}

impl<T: Serialize> Connection<T> {
    /// Sends a message. Python: `send(obj)`.
    ///
    /// # Errors
    ///
    /// [`SendError::ReadOnly`] on the reading end of a one-way pipe; see [`SendError`].
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        let Some(tx) = &self.send else {
            return Err(SendError::ReadOnly(msg));
        };
        tx.send(&msg, Wait::Forever).map_err(|fail| send_error(fail, msg))
    }
}

impl<T> Connection<T> {
    /// Sends raw bytes as one message (the other end reads them with
    /// [`recv_bytes`](Self::recv_bytes)). Python: `send_bytes(buf)`.
    ///
    /// ```
    /// let (a, b) = multiproc::sync::Pipe::<()>::new()?;
    /// for msg in [&b"a"[..], b"", b"cd"] {
    ///     a.send_bytes(msg)?;
    /// }
    /// assert_eq!(b.recv_bytes()?, b"a");
    /// assert_eq!(b.recv_bytes()?, b""); // boundaries are kept, empty messages too
    /// assert_eq!(b.recv_bytes()?, b"cd");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), SendError<()>> {
        let Some(tx) = &self.send else {
            return Err(SendError::ReadOnly(()));
        };
        tx.send_bytes(bytes, Wait::Forever).map_err(|fail| send_error(fail, ()))
    }

    /// Receives one message's raw bytes. Python: `recv_bytes()`.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn recv_bytes(&self) -> Result<Vec<u8>, RecvError> {
        let rx = self.recv.as_ref().ok_or(RecvError::WriteOnly)?;
        rx.recv_bytes(Wait::Forever).map_err(recv_error)
    }

    /// Whether a `recv` would return at once (a message is waiting, or the other end is
    /// gone), waiting up to `timeout` for it (`Duration::ZERO`: just look). Takes nothing.
    /// Python: `poll(timeout)`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (a, b) = multiproc::sync::Pipe::<u8>::new()?;
    /// assert!(!b.poll(Duration::ZERO)?);
    /// a.send(1)?;
    /// assert!(b.poll(Duration::from_secs(1))?);
    /// assert_eq!(b.recv()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecvError::WriteOnly`] on the writing end of a one-way pipe;
    /// [`RecvError::Io`] if the system refuses.
    pub fn poll(&self, timeout: Duration) -> Result<bool, RecvError> {
        if self.recv.is_none() {
            return Err(RecvError::WriteOnly);
        }
        let deadline = Instant::now().checked_add(timeout);
        let ready = wait::wait_until(&[self.readiness().0], deadline).map_err(RecvError::Io)?;
        Ok(!ready.is_empty())
    }

    /// Whether this end can receive. Python: `readable`.
    pub fn readable(&self) -> bool {
        self.recv.is_some()
    }

    /// Whether this end can send. Python: `writable`.
    pub fn writable(&self) -> bool {
        self.send.is_some()
    }

    /// Drops this handle. Python: `close()`; once every copy of an end is gone, the other
    /// end's `recv` gets `Disconnected` after the messages left.
    pub fn close(self) {}
}

impl<T: DeserializeOwned> Connection<T> {
    fn recv_with(&self, wait: Wait) -> Result<T, RecvError> {
        let rx = self.recv.as_ref().ok_or(RecvError::WriteOnly)?;
        rx.recv(wait).map_err(recv_error)
    }

    /// Receives the next message, waiting for it. Python: `recv()`.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] once every copy of the other end is gone and nothing
    /// is left; see [`RecvError`].
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_with(Wait::Forever)
    }

    /// Receives the next message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvError::TimedOut`] after the timeout; as [`recv`](Self::recv).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvError> {
        self.recv_with(Wait::timeout(timeout))
    }

    /// Receives the next message if one is waiting.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`] when none is; as [`recv`](Self::recv).
    pub fn try_recv(&self) -> Result<T, RecvError> {
        self.recv_with(Wait::No)
    }
}

impl<T> Waitable for Connection<T> {
    fn readiness(&self) -> Readiness<'_> {
        match &self.recv {
            Some(rx) => Readiness(Watch::Lane(rx)),
            None => Readiness(Watch::Never),
        }
    }
}

impl<T> Clone for Connection<T> {
    fn clone(&self) -> Self {
        Connection { send: self.send.clone(), recv: self.recv.clone(), _items: PhantomData }
    }
}

impl<T> fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.readable())
            .field("writable", &self.writable())
            .finish_non_exhaustive()
    }
}

/// A connection as sent: which lanes its halves belong to, and where its descriptors are.
#[derive(Serialize, Deserialize)]
struct Wire {
    send: Option<u8>,
    recv: Option<u8>,
    route: Route,
}

/// The lane index of a half, from its place in the memory.
fn index_of(lane: &Lane) -> u8 {
    ((lane.header_offset() - RINGS_AT) / RING_HEADER) as u8
}

impl<T> Serialize for Connection<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let obj = self
            .send
            .as_ref()
            .map(|t| t.lane.object())
            .or_else(|| self.recv.as_ref().map(|r| r.lane.object()));
        let obj = obj.ok_or_else(|| S::Error::custom("a connection with no end"))?;
        let mut fds: Vec<BorrowedFd<'_>> = vec![obj.map().fd()];
        if let Some(t) = &self.send {
            fds.extend([t.half.bell.as_fd(), t.half.post.as_fd()]);
        }
        if let Some(r) = &self.recv {
            fds.extend([r.half.bell.as_fd(), r.half.post.as_fd()]);
        }
        let keep = Arc::new((self.send.clone(), self.recv.clone()));
        let route = travel::send(&fds, keep).map_err(S::Error::custom)?;
        let send = self.send.as_ref().map(|t| index_of(&t.lane));
        let recv = self.recv.as_ref().map(|r| index_of(&r.lane));
        Wire { send, recv, route }.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Connection<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(d)?;
        let mut fds = travel::receive(&wire.route).map_err(D::Error::custom)?.into_iter();
        let memory: OwnedFd = fds.next().ok_or_else(|| D::Error::custom("no pipe memory"))?;
        let obj =
            Object::receive(memory, Kind::Pipe, type_hash::<T>()).map_err(D::Error::custom)?;
        let missing = || D::Error::custom("the pipe's sockets are missing");
        let send = match wire.send {
            Some(i) => {
                let half = Half::from_fds(&mut fds).ok_or_else(missing)?;
                Some(Arc::new(Sending { lane: lane(&obj, i), half, maxsize: 0 }))
            }
            None => None,
        };
        let recv = match wire.recv {
            Some(i) => Some(Arc::new(Receiving::new(
                lane(&obj, i),
                Half::from_fds(&mut fds).ok_or_else(missing)?,
            ))),
            None => None,
        };
        Ok(Connection { send, recv, _items: PhantomData })
    }
}
