//! `Channel`, `Sender`, `Receiver`: a long-lived duplex of byte frames between two processes.
//!
//! Wire format on each direction's ipc-channel byte channel: one message per frame, whose
//! last byte is a tag. `INLINE`: the frame's bytes come first (the receiver pops the tag,
//! no copy). `SHARED`: a 16-byte [`Notice`] comes first — region id and frame length,
//! little-endian — and the bytes are in a shared-memory region (see `regions`), announced
//! beforehand on the direction's side channel. A frame can also be staged in a region
//! without a message on the byte channel ([`Sender::stage`]): its notice then travels
//! another way (in a ring record) and the receiver resolves it ([`Receiver::resolve`]).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcReceiver, IpcSender};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::IpcError;
use crate::message::Message;
use crate::regions::{Notice, Overflow, RegionPool, RegionTable, Side};
use crate::spare;
use crate::sys::ReadLease;

const TAG_INLINE: u8 = 0xA1;
const TAG_SHARED: u8 = 0x5E;

/// Frames larger than this many bytes go through a reusable shared-memory region by default
/// (see [`Sender::set_shm_threshold`]).
///
/// Chosen by measurement (`cargo bench -p multiproc-ipc --bench ipc_micro -- --sweep`, a
/// payload and an 8-byte ack per frame): the region path ties with the socket at 4 KiB and
/// wins from 16 KiB on (0.77x the time at 16 KiB, 0.69x at 32 KiB, 0.25x at 256 KiB with
/// both processes on one CPU; 0.92x / 0.85x / 0.72x across CPUs, where wake-ups dominate).
/// 32 KiB keeps the clear wins while sparing tiny frames the region's memory.
pub const DEFAULT_SHM_THRESHOLD: usize = 32 << 10;

/// Frames longer than this never go through the socket, whatever the threshold: the
/// receiver (our copy of ipc-channel) refuses messages above 1 GiB before allocating, so
/// that a peer claiming a huge message cannot make it allocate.
const MAX_INLINE: usize = crate::regions::MAX_POOL_BYTES;

/// Largest inline frame whose scratch buffer a thread keeps for the next send.
const SCRATCH_KEEP: usize = 1 << 20;

thread_local! {
    /// Where an inline frame gets its tag appended (ipc-channel sends one contiguous slice).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Creates two connected channel ends: by convention `(parent end, child end)`.
///
/// Each direction is one ipc-channel byte channel plus a side channel that carries
/// shared-memory regions; nothing is created per message. Hand the child end to the child
/// (inherit it across `fork`, or send it inside an ipc-channel message, e.g. through a
/// [`handoff`](crate::handoff)) and then drop your copy of it: the
/// parent only sees [`IpcError::Disconnected`] when every copy of the other end is gone.
///
/// # Errors
///
/// [`IpcError::Io`] when the OS refuses the sockets (e.g. out of descriptors).
///
/// ```
/// use multiproc_ipc::duplex;
///
/// let (parent, child) = duplex()?;
/// parent.send(b"ping")?;
/// assert_eq!(&*child.recv()?, b"ping");
/// child.send(b"pong")?;
/// assert_eq!(&*parent.recv()?, b"pong");
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
pub fn duplex() -> Result<(Channel, Channel), IpcError> {
    let (a_tx, a_rx) = one_way()?;
    let (b_tx, b_rx) = one_way()?;
    Ok((Channel::from_parts(a_tx, b_rx), Channel::from_parts(b_tx, a_rx)))
}

/// Completes ipc-channel's lazily initialized state in this process, so that a child
/// `fork`ed from it does not inherit that state half-initialized by another thread — the
/// child would wait for it forever (seen: a pool worker forked while a reader thread read
/// its first message hung in its own first receive). Call it before forking; after the
/// first call it costs nothing.
///
/// ```
/// multiproc_ipc::before_fork();
/// ```
pub fn before_fork() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        // A receive goes through every lazy static of the byte path (the platform's
        // largest fragment size, read on a receiver's first message).
        if let Ok((_tx, rx)) = ipc::bytes_channel() {
            let _ = rx.try_recv();
        }
    });
}

/// One direction: a connected sender and receiver.
fn one_way() -> Result<(Sender, Receiver), IpcError> {
    let (bytes_tx, bytes_rx) = ipc::bytes_channel().map_err(IpcError::from_io)?;
    let (side_tx, side_rx) = ipc::channel::<Side>().map_err(IpcError::from_io)?;
    Ok((
        Sender::new(bytes_tx, side_tx, DEFAULT_SHM_THRESHOLD),
        Receiver {
            bytes: Some(bytes_rx),
            side: side_rx,
            regions: RefCell::default(),
            trusting: Cell::new(false),
        },
    ))
}

/// One end of a duplex channel to another process: a [`Sender`] and a [`Receiver`].
///
/// Frames are byte slices; what they mean is the caller's business. Both ends may live in
/// one process (as in the examples) but are meant for two.
///
/// **Backpressure:** [`send`](Channel::send) blocks once the peer has a few hundred unread
/// frames queued (about 278 small ones, fewer large ones). A process that sends while its
/// peer also only sends deadlocks; keep a reader draining each direction (a thread per
/// direction, or strict request/response).
///
/// Serializing a `Channel` into an ipc-channel message moves its descriptors to the
/// receiving process: this value's receiving half stops working.
///
/// ```
/// use multiproc_ipc::{Channel, duplex};
///
/// let (parent, child) = duplex()?;
/// let (tx, rx) = child.split();
/// let child: Channel = Channel::from_parts(tx, rx);
/// child.send(&[])?; // empty frames are frames too
/// assert!(parent.recv()?.is_empty());
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
#[derive(Debug, Serialize, Deserialize)]
pub struct Channel {
    sender: Sender,
    receiver: Receiver,
}

impl Channel {
    /// Sends one frame to the peer; see [`Sender::send`].
    ///
    /// # Errors
    ///
    /// [`IpcError::Disconnected`] when the peer is gone.
    pub fn send(&self, frame: &[u8]) -> Result<(), IpcError> {
        self.sender.send(frame)
    }

    /// Waits for the next frame from the peer; see [`Receiver::recv`].
    ///
    /// # Errors
    ///
    /// [`IpcError::Disconnected`] when the peer is gone and every frame it sent was read.
    pub fn recv(&self) -> Result<Message, IpcError> {
        self.receiver.recv()
    }

    /// Splits into the sending and receiving halves (to read and write on two threads).
    #[must_use]
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }

    /// Joins a sending and a receiving half (e.g. after [`split`](Channel::split)).
    #[must_use]
    pub fn from_parts(sender: Sender, receiver: Receiver) -> Channel {
        Channel { sender, receiver }
    }

    /// The sending half, e.g. to clone it for another thread.
    #[must_use]
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// This channel's receiving half.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }
}

/// The sending half of a channel. `Clone` (clones share one pool of shared-memory regions),
/// `Send` and `Sync`.
///
/// ```
/// use multiproc_ipc::duplex;
///
/// let (parent, child) = duplex()?;
/// let (tx, _rx) = parent.split();
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.send(b"from a thread")).join().unwrap()?;
/// assert_eq!(&*child.recv()?, b"from a thread");
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
#[derive(Clone)]
pub struct Sender {
    inner: Arc<SenderInner>,
}

#[derive(Debug)]
struct SenderInner {
    bytes: IpcBytesSender,
    side: IpcSender<Side>,
    pool: Mutex<RegionPool>,
    threshold: AtomicUsize,
}

impl Sender {
    fn new(bytes: IpcBytesSender, side: IpcSender<Side>, threshold: usize) -> Sender {
        Sender {
            inner: Arc::new(SenderInner {
                bytes,
                side,
                pool: Mutex::new(RegionPool::default()),
                threshold: AtomicUsize::new(threshold),
            }),
        }
    }

    /// Sends one frame to the peer.
    ///
    /// A frame up to the shared-memory threshold ([`DEFAULT_SHM_THRESHOLD`]) is copied
    /// once into the socket. A larger one is copied into a shared-memory region that this
    /// sender reuses, and only a short notice crosses the socket; the receiver copies the
    /// frame out of the region when it receives it, and the region is free again (or, if
    /// it trusts this sender, reads it in place until it drops the [`Message`]). When no
    /// region is free (the receiver has not read or not dropped the frames in them yet),
    /// the frame goes through the socket instead: never an error, never a wait for memory.
    /// A frame larger than the pool's bound (256 MiB) gets a region of its own, used once.
    ///
    /// # Blocking
    ///
    /// `send` blocks while the peer's queue is full (a few hundred unread frames): that is
    /// the channel's backpressure. Keep a reader draining the other direction, or a
    /// send-while-the-peer-sends deadlocks. Sending a frame of more than about 200 KiB
    /// inline to a receiver on the same thread deadlocks too (ipc-channel streams it).
    ///
    /// # Errors
    ///
    /// [`IpcError::Disconnected`] when the peer closed its end (exited, killed); `Io` for
    /// other OS failures. Note that a process whose `SIGPIPE` is not ignored (Rust ignores
    /// it by default) is killed instead when writing to a dead peer.
    pub fn send(&self, frame: &[u8]) -> Result<(), IpcError> {
        self.send_parts(std::iter::once(frame))
    }

    /// Sends one frame given in parts, as [`send`](Self::send) sends their concatenation:
    /// a frame in shared memory is copied there part by part, so a large payload that
    /// lives apart from the frame's other bytes is copied once, not gathered first.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    ///
    /// ```
    /// use multiproc_ipc::duplex;
    ///
    /// let (parent, child) = duplex()?;
    /// let payload = vec![9u8; 1 << 20];
    /// parent.sender().send_parts([&b"head"[..], &payload, b"tail"].into_iter())?;
    /// let got = child.recv()?;
    /// assert_eq!((&got[..4], got.len()), (&b"head"[..], 8 + (1 << 20)));
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    pub fn send_parts<'a>(
        &self,
        parts: impl Iterator<Item = &'a [u8]> + Clone,
    ) -> Result<(), IpcError> {
        let inner = &*self.inner;
        let len: usize = parts.clone().map(<[u8]>::len).sum();
        if len > inner.threshold.load(Ordering::Relaxed) || len > MAX_INLINE {
            let overflow = if len > MAX_INLINE { Overflow::Grow } else { Overflow::GiveUp };
            let taken = {
                let mut pool = inner.pool.lock().unwrap_or_else(PoisonError::into_inner);
                pool.take(len, &inner.side, overflow)?
            };
            if let Some((id, mut lease)) = taken {
                lease.copy_in(parts);
                let map = lease.map().clone();
                lease.publish();
                let mut frame = [TAG_SHARED; Notice::BYTES + 1];
                frame[..Notice::BYTES].copy_from_slice(&Notice { id, len: len as u64 }.to_bytes());
                return inner.bytes.send(&frame).map_err(|e| {
                    map.reclaim();
                    IpcError::from_io(e)
                });
            }
        }
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            buf.reserve(len + 1);
            for part in parts {
                buf.extend_from_slice(part);
            }
            buf.push(TAG_INLINE);
            let sent = inner.bytes.send(buf).map_err(IpcError::from_io);
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::new();
            }
            sent
        })
    }

    /// Copies a frame of `len` bytes, given in `parts`, into a shared-memory region of this
    /// sender and publishes it there, sending nothing on the byte channel: the caller
    /// hands the returned notice to the receiver another way, and the receiver turns it
    /// into a [`Message`] with [`Receiver::resolve`]. Never falls back to the socket: when
    /// every region is in use or the frame exceeds the pool's bound, a region is made for
    /// this frame alone, beyond the bound, and goes when the receiver drops the message.
    pub(crate) fn stage<'a>(
        &self,
        parts: impl Iterator<Item = &'a [u8]> + Clone,
        len: usize,
    ) -> Result<Notice, IpcError> {
        let inner = &*self.inner;
        let taken = {
            let mut pool = inner.pool.lock().unwrap_or_else(PoisonError::into_inner);
            pool.take(len, &inner.side, Overflow::Grow)?
        };
        let (id, mut lease) = taken.ok_or_else(|| {
            IpcError::Io(io::Error::other("a fresh shared-memory region could not be taken"))
        })?;
        lease.copy_in(parts);
        lease.publish();
        Ok(Notice { id, len: len as u64 })
    }

    /// Sets the size above which frames go through shared memory (`usize::MAX`: only those
    /// above 256 MiB, which never go through the socket).
    /// Applies to this sender and its clones; the default is [`DEFAULT_SHM_THRESHOLD`].
    pub fn set_shm_threshold(&self, bytes: usize) {
        self.inner.threshold.store(bytes, Ordering::Relaxed);
    }
}

impl Drop for SenderInner {
    fn drop(&mut self) {
        let pool = self.pool.get_mut().unwrap_or_else(PoisonError::into_inner);
        pool.retire_all(&self.side);
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("bytes", &self.inner.bytes)
            .field("shm_threshold", &self.inner.threshold.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The receiving half of a channel. `Send`, not `Sync`: one thread reads at a time.
///
/// ```
/// use multiproc_ipc::duplex;
///
/// let (parent, child) = duplex()?;
/// let (_tx, rx) = child.split();
/// let reader = std::thread::spawn(move || rx.recv().map(|m| m.into_vec()));
/// parent.send(b"to the reader thread")?;
/// assert_eq!(reader.join().unwrap()?, b"to the reader thread");
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
pub struct Receiver {
    /// `None` once closed ([`close_frames`](Self::close_frames)).
    bytes: Option<IpcBytesReceiver>,
    side: IpcReceiver<Side>,
    regions: RefCell<RegionTable>,
    /// Large frames are lent in place, not copied out ([`Receiver::trust_sender`]).
    trusting: Cell<bool>,
}

impl Receiver {
    /// Closes the byte channel and keeps the side channel: for a peer that sends nothing
    /// but staged frames (whose notices travel another way: in
    /// a ring's records), this process holds one descriptor less. Receiving a
    /// frame is [`IpcError::Disconnected`] from now on, and the receiver cannot be sent.
    ///
    /// ```
    /// let (a, b) = multiproc_ipc::duplex()?;
    /// let (_tx, mut rx) = b.split();
    /// rx.close_frames();
    /// assert!(rx.recv().unwrap_err().is_disconnected());
    /// assert!(a.send(b"x").unwrap_err().is_disconnected()); // nobody reads frames now
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    pub fn close_frames(&mut self) {
        self.bytes = None;
    }

    /// Waits for the next frame from the peer.
    ///
    /// # Errors
    ///
    /// [`IpcError::Disconnected`] once the peer is gone (exited, killed, dropped its
    /// end) and every frame it sent has been read; [`IpcError::Protocol`] when the bytes
    /// do not follow this crate's wire format.
    pub fn recv(&self) -> Result<Message, IpcError> {
        let bytes = self.bytes.as_ref().ok_or(IpcError::Disconnected)?;
        let buf = bytes.recv().map_err(IpcError::from_channel)?;
        self.unwrap_message(buf)
    }

    /// The next frame if one is waiting, without blocking: `Ok(None)` when there is none.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    ///
    /// ```
    /// let (a, b) = multiproc_ipc::duplex()?;
    /// assert!(b.receiver().try_recv()?.is_none());
    /// a.send(b"x")?;
    /// assert_eq!(&*b.receiver().try_recv()?.expect("a frame"), b"x");
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    pub fn try_recv(&self) -> Result<Option<Message>, IpcError> {
        let bytes = self.bytes.as_ref().ok_or(IpcError::Disconnected)?;
        match bytes.try_recv() {
            Ok(buf) => self.unwrap_message(buf).map(Some),
            Err(ipc_channel::TryRecvError::Empty) => Ok(None),
            Err(ipc_channel::TryRecvError::IpcError(e)) => Err(IpcError::from_channel(e)),
        }
    }

    /// Polls for up to `spin` before blocking like [`recv`](Self::recv).
    ///
    /// A reply that comes back within a few tens of microseconds is picked up without
    /// the thread going to sleep — on a machine whose idle cores wake slowly, that is the
    /// difference between a 20 µs and an 80 µs round trip. Between polls the thread
    /// yields, so another thread on the same core is not starved; still, polling only
    /// pays when the frame is due soon (see [`spin`](crate::spin())).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    ///
    /// ```
    /// let (a, b) = multiproc_ipc::duplex()?;
    /// a.send(b"x")?;
    /// assert_eq!(&*b.receiver().recv_spin(multiproc_ipc::SPIN)?, b"x");
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    pub fn recv_spin(&self, spin: std::time::Duration) -> Result<Message, IpcError> {
        crate::spin(spin, None, || self.try_recv().transpose()).unwrap_or_else(|| self.recv())
    }

    fn unwrap_message(&self, mut buf: Vec<u8>) -> Result<Message, IpcError> {
        match buf.pop() {
            Some(TAG_INLINE) => Ok(Message::from(buf)),
            Some(TAG_SHARED) => {
                let notice = <[u8; Notice::BYTES]>::try_from(&buf[..]).map_err(|_| {
                    IpcError::Protocol(format!("a region notice of {} bytes", buf.len()))
                })?;
                self.resolve(Notice::from_bytes(notice))
            }
            Some(tag) => Err(IpcError::Protocol(format!(
                "unknown frame tag {tag:#04x} on a message of {} bytes",
                buf.len() + 1
            ))),
            None => Err(IpcError::Protocol("empty message".into())),
        }
    }

    /// From now on, reads frames in shared memory in place (a [`Message`] that leases the
    /// sender's region until it drops) instead of copying each out on receipt.
    ///
    /// Only for a receiver whose sender is trusted to keep to the protocol, as a pool
    /// worker trusts its parent: a sender that writes into a region it lent would change
    /// bytes under the reader, which Rust does not allow. Every other receiver copies, so
    /// that a peer that is not trusted can neither change what it sent nor make the
    /// reader fault. Not carried along when the receiver is sent to another process.
    ///
    /// ```
    /// let (a, b) = multiproc_ipc::duplex()?;
    /// a.send(&vec![1u8; 1 << 20])?;
    /// assert!(!b.recv()?.is_lent(), "copied out");
    /// b.receiver().trust_sender();
    /// a.send(&vec![1u8; 1 << 20])?;
    /// assert!(b.recv()?.is_lent(), "read in place");
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    pub fn trust_sender(&self) {
        self.trusting.set(true);
    }

    /// The frame a [`Sender::stage`] (or a shared-memory send) left in a region: copied
    /// out (and the region handed back at once), or lent in place by a receiver that
    /// trusts its sender. The region's announcement was sent before the notice, so it is
    /// already queued on the side channel: never blocks.
    pub(crate) fn resolve(&self, notice: Notice) -> Result<Message, IpcError> {
        let Notice { id, len } = notice;
        let map = self.regions.borrow_mut().lookup(id, &self.side)?;
        let len = usize::try_from(len)
            .map_err(|_| IpcError::Protocol(format!("frame of {len} bytes")))?;
        let unpublished = || {
            IpcError::Protocol(format!(
                "shared-memory region {id:#x} does not hold a published frame of {len} bytes"
            ))
        };
        if self.trusting.get() {
            return ReadLease::new(map, len).map(Message::lent).ok_or_else(unpublished);
        }
        if len > map.capacity() {
            return Err(unpublished());
        }
        let mut bytes = spare::take(len);
        if !map.take_published(len, &mut bytes) {
            spare::give_back(bytes);
            return Err(unpublished());
        }
        Ok(Message::copied(bytes))
    }

    /// Regions this receiver has mapped (for tests of the sender's pool).
    #[cfg(test)]
    pub(crate) fn mapped_regions(&self) -> usize {
        self.regions.borrow().len()
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("bytes", &self.bytes)
            .field("regions", &self.regions.borrow().len())
            .finish_non_exhaustive()
    }
}

/// How a sender travels: its two descriptors and its threshold (not its regions).
#[derive(Serialize)]
struct SenderWireRef<'a> {
    bytes: &'a IpcBytesSender,
    side: &'a IpcSender<Side>,
    threshold: u64,
}

#[derive(Deserialize)]
struct SenderWire {
    bytes: IpcBytesSender,
    side: IpcSender<Side>,
    threshold: u64,
}

impl Serialize for Sender {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let threshold = self.inner.threshold.load(Ordering::Relaxed);
        SenderWireRef {
            bytes: &self.inner.bytes,
            side: &self.inner.side,
            threshold: u64::try_from(threshold).unwrap_or(u64::MAX),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Sender {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sender, D::Error> {
        let wire = SenderWire::deserialize(deserializer)?;
        let threshold = usize::try_from(wire.threshold).unwrap_or(usize::MAX);
        Ok(Sender::new(wire.bytes, wire.side, threshold))
    }
}

/// How a receiver travels: its two descriptors (which leave this process with it).
#[derive(Serialize)]
struct ReceiverWireRef<'a> {
    bytes: &'a IpcBytesReceiver,
    side: &'a IpcReceiver<Side>,
}

#[derive(Deserialize)]
struct ReceiverWire {
    bytes: IpcBytesReceiver,
    side: IpcReceiver<Side>,
}

impl Serialize for Receiver {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.bytes.as_ref().ok_or_else(|| {
            serde::ser::Error::custom("a receiver whose byte channel was closed cannot be sent")
        })?;
        ReceiverWireRef { bytes, side: &self.side }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Receiver {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Receiver, D::Error> {
        let wire = ReceiverWire::deserialize(deserializer)?;
        Ok(Receiver {
            bytes: Some(wire.bytes),
            side: wire.side,
            regions: RefCell::default(),
            trusting: Cell::new(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn auto_traits() {
        assert_send_sync::<Sender>();
        assert_send::<Receiver>();
        assert_send::<Channel>();
        assert_send::<Message>();
    }

    #[test]
    fn inline_and_shared_frames_round_trip_in_process() {
        let (a, b) = duplex().unwrap();
        for len in [0, 1, 100, DEFAULT_SHM_THRESHOLD, DEFAULT_SHM_THRESHOLD + 1, 3 << 20] {
            let frame: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            a.send(&frame).unwrap();
            let got = b.recv().unwrap();
            // Lengths grow: regions are mapped from the first frame above the threshold on.
            assert_eq!(b.receiver.mapped_regions() > 0, len > DEFAULT_SHM_THRESHOLD, "{len}");
            assert_eq!(&*got, &frame[..]);
        }
    }

    #[test]
    fn received_frames_free_their_region_at_once() {
        let (a, b) = duplex().unwrap();
        let frame = vec![7u8; 100 << 10];
        let held: Vec<Message> = (0..6)
            .map(|_| {
                a.send(&frame).unwrap();
                b.recv().unwrap()
            })
            .collect();
        assert!(held.iter().all(|m| **m == frame[..]));
        assert_eq!(b.receiver.mapped_regions(), 1, "one region, reused for every frame");
    }

    #[test]
    fn unread_frames_make_the_sender_fall_back_inline() {
        let (a, b) = duplex().unwrap();
        let frame = vec![7u8; 100 << 10];
        for _ in 0..6 {
            a.send(&frame).unwrap();
        }
        let got: Vec<Message> = (0..6).map(|_| b.recv().unwrap()).collect();
        assert!(got.iter().all(|m| **m == frame[..]));
        assert_eq!(b.receiver.mapped_regions(), 4, "four regions, then inline");
    }

    #[test]
    fn a_trusting_receiver_reads_in_place_until_it_drops_the_message() {
        let (a, b) = duplex().unwrap();
        b.receiver().trust_sender();
        let frame = vec![7u8; 100 << 10];
        let mut held = Vec::new();
        for _ in 0..6 {
            a.send(&frame).unwrap();
            held.push(b.recv().unwrap());
        }
        assert_eq!(held.iter().filter(|m| m.is_lent()).count(), 4, "four regions, then inline");
        assert!(held.iter().all(|m| **m == frame[..]));
        drop(held);
        a.send(&frame).unwrap();
        assert!(b.recv().unwrap().is_lent(), "regions are reused once released");
        assert_eq!(b.receiver.mapped_regions(), 4);
    }

    #[test]
    fn growing_frames_retire_small_regions() {
        let (a, b) = duplex().unwrap();
        for mib in [1usize, 2, 3, 4, 5, 6, 7, 8, 1] {
            let frame = vec![mib as u8; mib << 20];
            a.send(&frame).unwrap();
            let got = b.recv().unwrap();
            assert_eq!(&*got, &frame[..]);
        }
        assert!(b.receiver.mapped_regions() <= 4 + 1);
    }

    #[test]
    fn sender_and_receiver_travel_inside_messages() {
        let (a, b) = duplex().unwrap();
        let (tx, rx) = ipc::channel::<Channel>().unwrap();
        tx.send(b).unwrap();
        let b = rx.recv().unwrap();
        let big = vec![3u8; 1 << 20];
        a.send(&big).unwrap();
        assert_eq!(&*b.recv().unwrap(), &big[..]);
        b.send(&big).unwrap();
        assert_eq!(&*a.recv().unwrap(), &big[..]);
    }

    #[test]
    fn threshold_can_be_disabled() {
        let (a, b) = duplex().unwrap();
        a.sender().set_shm_threshold(usize::MAX);
        a.send(&vec![1u8; 100 << 10]).unwrap();
        assert_eq!(b.recv().unwrap().len(), 100 << 10);
        assert_eq!(b.receiver.mapped_regions(), 0);
    }

    #[test]
    fn dropping_the_peer_disconnects_both_directions() {
        let (a, b) = duplex().unwrap();
        drop(b);
        assert!(a.recv().unwrap_err().is_disconnected());
        assert!(a.send(b"x").unwrap_err().is_disconnected());
        assert!(a.send(&vec![0u8; 1 << 20]).unwrap_err().is_disconnected());
    }
}
