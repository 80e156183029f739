//! Task arguments before they are framed: [`ArgsBuf`] encodes a run of items once, into
//! [`Args`] (their bytes back to back, where each ends, and large payloads kept by
//! reference); [`TaskFramer`] frames any list of `Args` slices at send, writing only a
//! header and an offset table of its own.
//!
//! A scheduler that queues `Args` merges, splits and re-queues work by slicing: no item is
//! encoded twice, and no payload is copied until the transport copies it once.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::parts::FrameParts;
use super::{FLAG_REVOCABLE, KIND_TASKS, MAGIC, TASK_HEADER, VERSION, checksum};
use crate::error::What;
use crate::fingerprint::FnId;
use crate::out_of_band::{self, Segment};

/// The most payload bytes a frame holds: its offsets are 32-bit.
pub const FRAME_LIMIT: u64 = u32::MAX as u64;

/// A value too large to travel in a frame.
///
/// ```
/// use multiproc_codec::{TooLarge, What};
///
/// let e = TooLarge { what: What::Argument, size: 5 << 30, limit: u32::MAX as u64 };
/// assert_eq!(
///     e.to_string(),
///     "the argument encodes to 5368709120 bytes (5.0 GiB); a frame holds at most 4294967295 bytes (4.0 GiB)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TooLarge {
    /// What the value was.
    pub what: What,
    /// Its encoded size in bytes.
    pub size: u64,
    /// The most a frame holds.
    pub limit: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gib = |n: u64| n as f64 / f64::from(1u32 << 30);
        write!(
            f,
            "the {} encodes to {} bytes ({:.1} GiB); a frame holds at most {} bytes ({:.1} GiB)",
            self.what,
            self.size,
            gib(self.size),
            self.limit,
            gib(self.limit)
        )
    }
}

impl std::error::Error for TooLarge {}

/// Encodes the arguments of a run of items, then hands them over as [`Args`].
///
/// Large [`Bytes`](crate::Bytes) payloads (64 KiB and up) are kept by reference, as in a
/// [`FrameBuf::by_reference`](crate::FrameBuf::by_reference) frame, as long as the buffer
/// is not moved between its pushes.
///
/// ```
/// use multiproc_codec::{encode, parse, ArgsBuf, Frame, FnId, TaskFramer, TypeFingerprint, What};
///
/// let mut buf = ArgsBuf::new();
/// for x in [3u64, 400, 5] {
///     assert_eq!(buf.push_with(|out| encode(&x, What::Argument, out))?, None);
/// }
/// let args = buf.finish();
/// let func = FnId { target: 16, trampoline: 32, types: TypeFingerprint::of::<u64, u64>(), tag: 0 };
/// // Items 1 and 2 only, framed at send.
/// let mut framer = TaskFramer::default();
/// let batch = [args.slice(1..3)];
/// let parts = framer.frame(7, func, false, &batch)?;
/// let bytes: Vec<u8> = parts.concat();
/// let Frame::Tasks(batch) = parse(&bytes).unwrap() else { unreachable!() };
/// assert_eq!((batch.batch(), batch.len()), (7, 2));
/// assert_eq!(batch.item(1), [5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct ArgsBuf {
    bytes: Vec<u8>,
    /// Where each item ends, counting the payloads kept by reference (within a frame's
    /// payload: [`FRAME_LIMIT`] bytes, 32 bits).
    ends: Vec<u32>,
    segments: Vec<Segment>,
    segment_bytes: usize,
    /// `bytes` was noted as the buffer that takes payloads by reference.
    collecting: bool,
}

impl ArgsBuf {
    /// An empty buffer.
    pub fn new() -> ArgsBuf {
        ArgsBuf::default()
    }

    /// Appends one item written by `write`, unless it takes the payload past
    /// [`FRAME_LIMIT`] (see [`push_within`](Self::push_within)).
    #[inline]
    pub fn push_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Option<u64>, E> {
        self.push_within(FRAME_LIMIT, write)
    }

    /// Appends one item written by `write`, unless it takes the payload past `limit`
    /// bytes (or past [`FRAME_LIMIT`], what a frame holds): then it is taken out again and
    /// `Ok(Some(size))` gives its size. If `write` fails, nothing is added.
    ///
    /// ```
    /// use multiproc_codec::{encode, ArgsBuf, What};
    ///
    /// let mut buf = ArgsBuf::new();
    /// assert_eq!(buf.push_within(4, |out| encode(&7u8, What::Argument, out))?, None);
    /// assert_eq!(buf.push_within(4, |out| encode(&"long", What::Argument, out))?, Some(5));
    /// assert_eq!((buf.len(), buf.payload_len()), (1, 1));
    /// # Ok::<(), multiproc_codec::CodecError>(())
    /// ```
    #[inline(always)] // per item, on the caller's hot path
    pub fn push_within<E>(
        &mut self,
        limit: u64,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Option<u64>, E> {
        if !self.collecting {
            out_of_band::start(&self.bytes);
            self.collecting = true;
        }
        let (start, segments, segment_bytes) =
            (self.bytes.len(), self.segments.len(), self.segment_bytes);
        let written = write(&mut self.bytes);
        if out_of_band::recorded() {
            self.take_segments(written.is_ok());
        }
        if let Err(e) = written {
            self.bytes.truncate(start);
            return Err(e);
        }
        let end = (self.bytes.len() + self.segment_bytes) as u64;
        if end > limit.min(FRAME_LIMIT) {
            let size = end - self.payload_len();
            self.bytes.truncate(start);
            self.segments.truncate(segments);
            self.segment_bytes = segment_bytes;
            return Ok(Some(size));
        }
        // Within FRAME_LIMIT: 32 bits.
        self.ends.push(end as u32);
        Ok(None)
    }

    #[cold]
    fn take_segments(&mut self, keep: bool) {
        let before = self.segments.len();
        out_of_band::take_recorded(keep.then_some(&mut self.segments));
        self.segment_bytes += self.segments[before..].iter().map(|(_, b)| b.len()).sum::<usize>();
    }

    /// Reserves room for `items` more items of about `bytes_each` encoded bytes, so that
    /// a run is built without the buffer growing (and copying) on the way.
    pub fn reserve(&mut self, items: usize, bytes_each: usize) {
        self.bytes.reserve(items.saturating_mul(bytes_each));
        self.ends.reserve(items);
    }

    /// Items pushed.
    #[inline]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether nothing was pushed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of arguments pushed (payloads kept by reference included).
    #[inline]
    pub fn payload_len(&self) -> u64 {
        self.ends.last().map_or(0, |&end| u64::from(end))
    }

    /// Hands the items over as [`Args`] and leaves the buffer empty.
    pub fn finish(&mut self) -> Args {
        out_of_band::stop(&self.bytes);
        self.collecting = false;
        self.segment_bytes = 0;
        let store = Store {
            bytes: std::mem::take(&mut self.bytes),
            ends: std::mem::take(&mut self.ends),
            segments: std::mem::take(&mut self.segments),
        };
        let len = store.ends.len();
        Args { store: Arc::new(store), items: 0..len }
    }
}

impl Drop for ArgsBuf {
    fn drop(&mut self) {
        out_of_band::stop(&self.bytes);
    }
}

#[derive(Debug)]
struct Store {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    segments: Vec<Segment>,
}

impl Store {
    /// Where item `i` starts, counting payloads kept by reference.
    fn start(&self, i: usize) -> u64 {
        if i == 0 { 0 } else { u64::from(self.ends[i - 1]) }
    }

    /// Appends the parts that hold bytes `range` (payloads kept by reference included).
    fn parts<'a>(&'a self, range: Range<u64>, out: &mut Vec<&'a [u8]>) {
        let whole = FrameParts { bytes: &self.bytes, segments: &self.segments };
        let mut at = 0u64;
        for part in whole.iter() {
            let end = at + part.len() as u64;
            let (from, to) = (range.start.max(at), range.end.min(end));
            if from < to {
                out.push(&part[(from - at) as usize..(to - at) as usize]);
            }
            if end >= range.end {
                break;
            }
            at = end;
        }
    }
}

/// The encoded arguments of a run of items, sliceable without copying (see [`ArgsBuf`]).
#[derive(Debug, Clone)]
pub struct Args {
    store: Arc<Store>,
    items: Range<usize>,
}

impl Args {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes of arguments (payloads kept by reference included).
    pub fn bytes(&self) -> u64 {
        self.span().end - self.span().start
    }

    /// Items `range` of these, sharing the same storage.
    ///
    /// # Panics
    ///
    /// If `range` reaches past the last item.
    pub fn slice(&self, range: Range<usize>) -> Args {
        assert!(range.start <= range.end && range.end <= self.len(), "a slice within the items");
        let first = self.items.start;
        Args { store: Arc::clone(&self.store), items: first + range.start..first + range.end }
    }

    /// The bytes these items occupy in the store.
    fn span(&self) -> Range<u64> {
        if self.items.is_empty() {
            return 0..0;
        }
        self.store.start(self.items.start)..u64::from(self.store.ends[self.items.end - 1])
    }
}

/// Frames lists of [`Args`] as task frames at send, reusing its own small buffers.
#[derive(Debug, Default)]
pub struct TaskFramer {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl TaskFramer {
    /// The parts of one task frame calling `func` on every item of `args`, in order;
    /// `stamp` is the frame's batch id, `revocable` its flag (see
    /// [`TaskFrame::revocable`](crate::TaskFrame::revocable)). Only the header and the
    /// offset table are written; the arguments are borrowed.
    ///
    /// # Errors
    ///
    /// [`TooLarge`] if the arguments add up to more than [`FRAME_LIMIT`] bytes.
    pub fn frame<'a>(
        &'a mut self,
        stamp: u64,
        func: FnId,
        revocable: bool,
        args: &'a [Args],
    ) -> Result<Vec<&'a [u8]>, TooLarge> {
        let payload: u64 = args.iter().map(Args::bytes).sum();
        let count: usize = args.iter().map(Args::len).sum();
        let too_large = TooLarge { what: What::Argument, size: payload, limit: FRAME_LIMIT };
        let payload32 = u32::try_from(payload).map_err(|_| too_large)?;
        let count32 = u32::try_from(count).map_err(|_| too_large)?;
        let head = &mut self.head;
        head.clear();
        head.extend_from_slice(MAGIC);
        let flags = if revocable { FLAG_REVOCABLE } else { 0 };
        head.extend_from_slice(&[VERSION, KIND_TASKS, flags, 0]);
        head.extend_from_slice(&count32.to_le_bytes());
        head.extend_from_slice(&payload32.to_le_bytes());
        head.extend_from_slice(&stamp.to_le_bytes());
        head.extend_from_slice(&func.target.to_le_bytes());
        head.extend_from_slice(&func.trampoline.to_le_bytes());
        head.extend_from_slice(&func.types.0.to_le_bytes());
        head.extend_from_slice(&func.tag.to_le_bytes());
        debug_assert_eq!(head.len(), TASK_HEADER);
        let tail = &mut self.tail;
        tail.clear();
        tail.resize(4 * count, 0);
        let mut slots = tail.chunks_exact_mut(4);
        let mut base = 0u64;
        for a in args {
            // Where the item ends in the frame's payload: within it (checked above), so
            // the shift is one in 32-bit arithmetic.
            let shift = (base as u32).wrapping_sub(a.span().start as u32);
            // The ends first: `zip` takes a slot only for an end it has.
            for (&end, slot) in a.store.ends[a.items.clone()].iter().zip(slots.by_ref()) {
                slot.copy_from_slice(&end.wrapping_add(shift).to_le_bytes());
            }
            base += a.bytes();
        }
        let sum = checksum(head, tail);
        tail.extend_from_slice(&sum.to_le_bytes());
        let mut parts = Vec::with_capacity(2 + args.len());
        parts.push(&self.head[..]);
        for a in args {
            a.store.parts(a.span(), &mut parts);
        }
        parts.push(&self.tail[..]);
        Ok(parts)
    }
}
