//! The frames the scheduler moves: task batches, result batches and control messages.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! header   magic "MPRC" | version | kind | 0 0 | count u32 | payload_len u32 | batch u64
//!          tasks only: target i64 | trampoline i64 | types u64
//! payload  the items' encodings back to back (control: one encoded message)
//! ends     count x u32: where each item ends inside the payload
//! status   results only: count x u8 (0 = value, 1 = encoded RemoteFailure)
//! checksum u64 over header, tables (and a control payload)
//! ```
//!
//! A batch is built in one reusable buffer ([`FrameBuf`]) with no allocation per item, and
//! read in place ([`parse`]) with no copy: an item is a slice of the received frame. The
//! checksum covers everything that gives the frame its structure, so a truncated or
//! corrupted frame is rejected before any item is looked at; item payloads are user data
//! whose integrity the transport guarantees and whose validity `decode` checks.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::error::{CodecError, FrameError, What};
use crate::fingerprint::{BinaryFingerprint, FnId, TypeFingerprint};
use crate::hash::Hasher64;
use crate::out_of_band::{self, Segment};
use crate::panic_info::PanicInfo;
use crate::value::{decode, encode};

const MAGIC: &[u8; 4] = b"MPRC";
const VERSION: u8 = 1;
const KIND_TASKS: u8 = 1;
const KIND_RESULTS: u8 = 2;
const KIND_CONTROL: u8 = 3;
const BASE_HEADER: usize = 24;
const TASK_HEADER: usize = 48;
const STATUS_OK: u8 = 0;
const STATUS_FAILED: u8 = 1;

/// What went wrong on the far side for one item, in wire form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RemoteFailure {
    /// The function panicked.
    Panicked(PanicInfo),
    /// The argument could not be decoded or the result could not be encoded.
    Codec(CodecError),
    /// The frame's type fingerprint does not match the trampoline's: nothing was called.
    TypeMismatch {
        /// What the trampoline was compiled for.
        expected: TypeFingerprint,
        /// What the frame claimed.
        found: TypeFingerprint,
    },
    /// The function identity was rejected (an offset outside the executable's code).
    BadFunction(String),
    /// The function reported an error of its own (an initializer returning `Err`).
    Error(String),
}

impl fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteFailure::Panicked(p) => p.fmt(f),
            RemoteFailure::Codec(e) => e.fmt(f),
            RemoteFailure::TypeMismatch { expected, found } => write!(
                f,
                "type fingerprint mismatch: the worker's function takes {expected}, the task says {found}; nothing was called"
            ),
            RemoteFailure::BadFunction(why) => write!(f, "rejected function identity: {why}"),
            RemoteFailure::Error(message) => f.write_str(message),
        }
    }
}

/// A control message of the parent/worker protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Control {
    /// First message of a worker: which binary it runs and its pid.
    Hello {
        /// The worker's binary fingerprint.
        binary: BinaryFingerprint,
        /// The worker's process id.
        pid: u32,
    },
    /// Run an initializer once before any task.
    Initialize {
        /// The initializer function.
        func: FnId,
        /// Its encoded argument.
        args: Bytes,
    },
    /// The initializer returned.
    Initialized,
    /// The initializer failed; the worker exits after sending this.
    InitFailed(RemoteFailure),
    /// Finish and exit with status 0.
    Shutdown,
}

/// A reusable buffer that builds one frame at a time without allocating per item.
///
/// ```
/// use multiproc_codec::{encode, parse, Frame, FrameBuf, FnId, TypeFingerprint, What};
///
/// let func = FnId { target: 16, trampoline: 32, types: TypeFingerprint::of::<u64, u64>() };
/// let mut fb = FrameBuf::new();
/// fb.begin_tasks(1, func);
/// for x in [3u64, 4, 5] {
///     fb.push_with(|out| encode(&x, What::Argument, out))?;
/// }
/// let Frame::Tasks(batch) = parse(fb.finish()).unwrap() else { unreachable!() };
/// assert_eq!((batch.batch(), batch.func(), batch.len()), (1, func, 3));
/// assert_eq!(batch.item(2), [5]);
/// # Ok::<(), multiproc_codec::CodecError>(())
/// ```
#[derive(Debug, Default)]
pub struct FrameBuf {
    buf: Vec<u8>,
    ends: Vec<u32>,
    /// Positions of the failed items of a result batch (the status table, sparse: items
    /// rarely fail, and a push per item cost more than the table is worth).
    failed: Vec<u32>,
    kind: u8,
    header: usize,
    /// Whether large `Bytes` are kept by reference ([`by_reference`](Self::by_reference)).
    by_reference: bool,
    /// Those payloads, in frame order, each with the length of `buf` before it.
    segments: Vec<Segment>,
    /// Their bytes in all.
    segment_bytes: usize,
}

impl FrameBuf {
    /// An empty buffer.
    pub fn new() -> FrameBuf {
        FrameBuf::default()
    }

    /// A buffer that builds its frames in `buf` (its contents are dropped, its capacity
    /// kept): a large buffer given back by [`finish_vec`](Self::finish_vec) is reused
    /// instead of asking the allocator for fresh memory, whose every page faults on first
    /// touch.
    ///
    /// ```
    /// use multiproc_codec::{Control, FrameBuf};
    ///
    /// let mut fb = FrameBuf::with_buffer(Vec::with_capacity(1 << 20));
    /// let frame = fb.control(&Control::Shutdown).to_vec();
    /// assert_eq!(fb.finish_vec().capacity(), 1 << 20); // the same memory, handed back
    /// # let _ = frame;
    /// ```
    pub fn with_buffer(buf: Vec<u8>) -> FrameBuf {
        let mut fb = FrameBuf::default();
        fb.buf = buf;
        fb
    }

    /// Keeps large [`Bytes`] payloads (64 KiB and up) by reference instead of copying them
    /// into the frame: finish with [`finish_parts`](Self::finish_parts) or
    /// [`finish_owned`](Self::finish_owned), whose parts a transport copies straight to
    /// their destination (one copy of the payload instead of two).
    ///
    /// ```
    /// use multiproc_codec::{encode, parse, Bytes, Frame, FrameBuf, What};
    ///
    /// let payload = Bytes::from(vec![5u8; 1 << 20]);
    /// let mut fb = FrameBuf::new().by_reference();
    /// fb.begin_results(1);
    /// fb.push_with(|out| encode(&payload, What::Result, out))?;
    /// let parts = fb.finish_parts();
    /// assert_eq!(parts.iter().count(), 3); // the frame's head, the payload, its tail
    /// assert_eq!(parts.iter().nth(1).unwrap().as_ptr(), payload.as_ptr()); // not copied
    /// let bytes = parts.to_vec();
    /// let Frame::Results(results) = parse(&bytes).unwrap() else { unreachable!() };
    /// assert_eq!(results.len(), 1);
    /// # Ok::<(), multiproc_codec::CodecError>(())
    /// ```
    #[must_use]
    pub fn by_reference(mut self) -> FrameBuf {
        self.by_reference = true;
        self
    }

    /// Empties the buffer, keeping its capacity, and lets go of the payloads it held by
    /// reference (a frame sent in parts holds them until then, or until the next
    /// `begin_*`).
    pub fn clear(&mut self) {
        out_of_band::stop(&self.buf);
        self.buf.clear();
        self.ends.clear();
        self.failed.clear();
        self.segments.clear();
        self.segment_bytes = 0;
    }

    fn begin(&mut self, kind: u8, batch: u64, header: usize) {
        self.clear();
        // The header, an item of a few bytes and the tables in one allocation: a fresh
        // buffer otherwise grows (and reallocates) four times on the header alone.
        self.buf.reserve(header + 64);
        if self.by_reference {
            out_of_band::start(&self.buf);
        }
        self.kind = kind;
        self.header = header;
        self.buf.extend_from_slice(MAGIC);
        self.buf.extend_from_slice(&[VERSION, kind, 0, 0]);
        self.buf.extend_from_slice(&[0; 8]); // count, payload_len: filled by finish
        self.buf.extend_from_slice(&batch.to_le_bytes());
    }

    /// Reserves room for `items` more items of about `bytes_each` encoded bytes, so a
    /// batch is built without the buffer growing (and copying) on the way.
    pub fn reserve(&mut self, items: usize, bytes_each: usize) {
        self.buf.reserve(items.saturating_mul(bytes_each.saturating_add(4)).saturating_add(8));
        self.ends.reserve(items);
    }

    /// Starts a task batch calling `func` on every item.
    pub fn begin_tasks(&mut self, batch: u64, func: FnId) {
        self.begin(KIND_TASKS, batch, TASK_HEADER);
        self.buf.extend_from_slice(&func.target.to_le_bytes());
        self.buf.extend_from_slice(&func.trampoline.to_le_bytes());
        self.buf.extend_from_slice(&func.types.0.to_le_bytes());
    }

    /// Starts a result batch answering task batch `batch`.
    pub fn begin_results(&mut self, batch: u64) {
        self.begin(KIND_RESULTS, batch, BASE_HEADER);
    }

    #[inline]
    fn end_item(&mut self) {
        let end = self.buf.len() - self.header + self.segment_bytes;
        // Frames are limited to 4 GiB of payload; `finish` reports it as too large.
        self.ends.push(u32::try_from(end).unwrap_or(u32::MAX));
    }

    /// Appends one item written by `write` (a value in a result batch). If `write` fails,
    /// the buffer is rolled back and no item is added.
    #[inline]
    pub fn push_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.buf.len();
        let written = write(&mut self.buf);
        // A frame that keeps large payloads by reference takes the item's segments (one
        // load when there are none).
        if self.by_reference && out_of_band::recorded() {
            self.take_segments(written.is_ok());
        }
        match written {
            Ok(()) => {
                self.end_item();
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(start);
                Err(e)
            }
        }
    }

    /// Takes the segments recorded for the item just written (or drops them: it failed).
    #[cold]
    fn take_segments(&mut self, keep: bool) {
        let before = self.segments.len();
        out_of_band::take_recorded(keep.then_some(&mut self.segments));
        self.segment_bytes += self.segments[before..].iter().map(|(_, b)| b.len()).sum::<usize>();
    }

    /// Appends an item whose encoding is already at hand.
    #[inline]
    pub fn push_raw(&mut self, item: &[u8]) {
        self.buf.extend_from_slice(item);
        self.end_item();
    }

    /// Appends a failed item to a result batch.
    pub fn push_failure(&mut self, failure: &RemoteFailure) {
        // A RemoteFailure holds only strings and integers: encoding it cannot fail.
        let start = self.buf.len();
        if encode(failure, What::Message, &mut self.buf).is_err() {
            self.buf.truncate(start);
        }
        if self.kind == KIND_RESULTS {
            self.failed.push(u32::try_from(self.ends.len()).unwrap_or(u32::MAX));
        }
        self.end_item();
    }

    /// Items pushed since the batch began.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no item was pushed since the batch began.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of item payload pushed so far.
    pub fn payload_len(&self) -> usize {
        self.buf.len().saturating_sub(self.header) + self.segment_bytes
    }

    /// Completes the frame and returns its bytes (valid until the next `begin_*`). Large
    /// payloads kept by reference ([`by_reference`](Self::by_reference)) are copied in.
    ///
    /// # Panics
    ///
    /// If the payload exceeds 4 GiB or a batch holds more than `u32::MAX` items.
    pub fn finish(&mut self) -> &[u8] {
        self.finish_parts();
        if !self.segments.is_empty() {
            self.buf = FrameParts { bytes: &self.buf, segments: &self.segments }.to_vec();
            self.segments.clear();
            self.segment_bytes = 0;
        }
        &self.buf
    }

    /// Completes the frame and returns it as parts: its own bytes, and the payloads kept by
    /// reference between them (valid until the next `begin_*`).
    ///
    /// # Panics
    ///
    /// As [`finish`](Self::finish).
    pub fn finish_parts(&mut self) -> FrameParts<'_> {
        self.complete();
        FrameParts { bytes: &self.buf, segments: &self.segments }
    }

    /// Completes the frame and moves it out, leaving this buffer empty.
    ///
    /// # Panics
    ///
    /// As [`finish`](Self::finish).
    pub fn finish_owned(&mut self) -> OwnedFrame {
        self.complete();
        self.segment_bytes = 0;
        OwnedFrame::new(std::mem::take(&mut self.buf), std::mem::take(&mut self.segments))
    }

    /// Writes the counts, tables and checksum behind the items.
    fn complete(&mut self) {
        out_of_band::stop(&self.buf);
        let payload = u32::try_from(self.payload_len()).expect("a frame holds at most 4 GiB");
        let count = u32::try_from(self.ends.len()).expect("a frame holds at most 2^32 items");
        self.buf[8..12].copy_from_slice(&count.to_le_bytes());
        self.buf[12..16].copy_from_slice(&payload.to_le_bytes());
        let tables = self.buf.len();
        // Sized first, then filled: a loop the compiler vectorizes (a push per entry is not).
        self.buf.resize(tables + 4 * self.ends.len(), 0);
        for (bytes, end) in self.buf[tables..].chunks_exact_mut(4).zip(&self.ends) {
            bytes.copy_from_slice(&end.to_le_bytes());
        }
        if self.kind == KIND_RESULTS {
            let status = self.buf.len();
            self.buf.resize(status + self.ends.len(), STATUS_OK);
            for &i in &self.failed {
                self.buf[status + i as usize] = STATUS_FAILED;
            }
        }
        let sum = checksum(&self.buf[..self.header], &self.buf[tables..]);
        self.buf.extend_from_slice(&sum.to_le_bytes());
    }

    /// Completes the frame and moves its bytes out, leaving this buffer empty.
    pub fn finish_vec(&mut self) -> Vec<u8> {
        self.finish();
        std::mem::take(&mut self.buf)
    }

    /// Builds a control frame and returns its bytes.
    pub fn control(&mut self, message: &Control) -> &[u8] {
        self.begin(KIND_CONTROL, 0, BASE_HEADER);
        out_of_band::stop(&self.buf);
        // Control messages hold only plain data: encoding cannot fail.
        let _ = encode(message, What::Message, &mut self.buf);
        let payload = u32::try_from(self.payload_len()).expect("control messages are small");
        self.buf[12..16].copy_from_slice(&payload.to_le_bytes());
        let sum = checksum(&self.buf[..BASE_HEADER], &self.buf[BASE_HEADER..]);
        self.buf.extend_from_slice(&sum.to_le_bytes());
        &self.buf
    }
}

impl Drop for FrameBuf {
    fn drop(&mut self) {
        out_of_band::stop(&self.buf);
    }
}

/// A finished frame as it is sent: its own bytes, with large payloads kept by reference
/// between them (see [`FrameBuf::by_reference`]). The parts, in order, are the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameParts<'a> {
    bytes: &'a [u8],
    segments: &'a [Segment],
}

impl<'a> FrameParts<'a> {
    /// A frame in one piece.
    pub fn whole(bytes: &'a [u8]) -> FrameParts<'a> {
        FrameParts { bytes, segments: &[] }
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.segments.iter().map(|(_, b)| b.len()).sum::<usize>()
    }

    /// Whether the frame has no bytes (never true of a finished frame).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame's bytes, if it is in one piece.
    pub fn contiguous(&self) -> Option<&'a [u8]> {
        self.segments.is_empty().then_some(self.bytes)
    }

    /// The parts in order; empty ones left out.
    pub fn iter(&self) -> Parts<'a> {
        Parts { bytes: self.bytes, segments: self.segments, at: 0, next: 0, payload: None }
    }

    /// The frame in one piece (a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for part in self.iter() {
            out.extend_from_slice(part);
        }
        out
    }
}

/// The parts of a [`FrameParts`], in order.
#[derive(Debug, Clone)]
pub struct Parts<'a> {
    bytes: &'a [u8],
    segments: &'a [Segment],
    /// Where the frame's own bytes not yet given out start.
    at: usize,
    /// The next segment.
    next: usize,
    /// A payload to give out before going on.
    payload: Option<&'a [u8]>,
}

impl<'a> Iterator for Parts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let part = if let Some(payload) = self.payload.take() {
                payload
            } else if let Some((end, payload)) = self.segments.get(self.next) {
                self.next += 1;
                self.payload = Some(payload);
                let own = &self.bytes[self.at..*end];
                self.at = *end;
                own
            } else if self.at < self.bytes.len() {
                let own = &self.bytes[self.at..];
                self.at = self.bytes.len();
                own
            } else {
                return None;
            };
            if !part.is_empty() {
                return Some(part);
            }
        }
    }
}

/// A finished frame that owns its bytes and holds its large payloads by reference (see
/// [`FrameBuf::finish_owned`]).
#[derive(Debug, Default)]
pub struct OwnedFrame {
    bytes: Vec<u8>,
    segments: Vec<Segment>,
    len: usize,
}

impl OwnedFrame {
    fn new(bytes: Vec<u8>, segments: Vec<Segment>) -> OwnedFrame {
        let len = FrameParts { bytes: &bytes, segments: &segments }.len();
        OwnedFrame { bytes, segments, len }
    }

    /// The frame as parts to send.
    pub fn parts(&self) -> FrameParts<'_> {
        FrameParts { bytes: &self.bytes, segments: &self.segments }
    }

    /// The frame in one piece: borrowed when it is, else copied.
    pub fn to_contiguous(&self) -> std::borrow::Cow<'_, [u8]> {
        let parts = self.parts();
        parts.contiguous().map_or_else(|| parts.to_vec().into(), Into::into)
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame has no bytes (never true of a finished frame).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer that held the frame's own bytes, to build another frame in (see
    /// [`FrameBuf::with_buffer`]); the payloads held by reference are let go.
    pub fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }
}

impl From<Vec<u8>> for OwnedFrame {
    /// A frame in one piece.
    fn from(bytes: Vec<u8>) -> OwnedFrame {
        OwnedFrame::new(bytes, Vec::new())
    }
}

fn checksum(header: &[u8], tables: &[u8]) -> u64 {
    let mut h = Hasher64::new();
    h.write(header);
    h.write(tables);
    h.finish()
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// A parsed frame, borrowing the received bytes.
#[derive(Debug)]
pub enum Frame<'a> {
    /// A batch of task items.
    Tasks(TaskFrame<'a>),
    /// A batch of results.
    Results(ResultFrame<'a>),
    /// A control message.
    Control(Control),
}

/// The item table shared by task and result frames.
#[derive(Debug, Clone, Copy)]
struct Items<'a> {
    payload: &'a [u8],
    ends: &'a [u8],
}

impl<'a> Items<'a> {
    #[inline]
    fn len(&self) -> usize {
        self.ends.len() / 4
    }

    /// Items `range`, in order: one table entry read per item.
    #[inline]
    fn slices(&self, range: Range<usize>) -> Slices<'a> {
        let start = if range.start == 0 { 0 } else { u32_at(self.ends, (range.start - 1) * 4) };
        Slices {
            payload: self.payload,
            ends: self.ends[range.start * 4..range.end * 4].chunks_exact(4),
            start: start as usize,
        }
    }
}

/// The items of a frame in order (see [`TaskFrame::iter`], [`ResultFrame::values`]).
#[derive(Debug, Clone)]
struct Slices<'a> {
    payload: &'a [u8],
    ends: std::slice::ChunksExact<'a, u8>,
    start: usize,
}

impl<'a> Iterator for Slices<'a> {
    type Item = &'a [u8];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        let end = self.ends.next()?;
        let end = u32::from_le_bytes([end[0], end[1], end[2], end[3]]) as usize;
        let item = &self.payload[self.start..end];
        self.start = end;
        Some(item)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ends.size_hint()
    }
}

impl ExactSizeIterator for Slices<'_> {}

/// A batch of task items, read in place.
#[derive(Debug, Clone, Copy)]
pub struct TaskFrame<'a> {
    batch: u64,
    func: FnId,
    items: Items<'a>,
}

impl<'a> TaskFrame<'a> {
    /// The batch id chosen by the sender.
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// The function to call on every item.
    pub fn func(&self) -> FnId {
        self.func
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch has no items.
    pub fn is_empty(&self) -> bool {
        self.items.len() == 0
    }

    /// The encoded argument of item `i`.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`.
    #[inline]
    pub fn item(&self, i: usize) -> &'a [u8] {
        self.items.slices(i..i + 1).next().expect("an item index below the frame's count")
    }

    /// The encoded arguments, in order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        self.items.slices(0..self.items.len())
    }
}

/// One item of a result batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome<'a> {
    /// The encoded result value.
    Value(&'a [u8]),
    /// The item failed on the far side.
    Failed(RemoteFailure),
}

/// A batch of results, read in place.
#[derive(Debug, Clone, Copy)]
pub struct ResultFrame<'a> {
    batch: u64,
    items: Items<'a>,
    status: &'a [u8],
}

impl<'a> ResultFrame<'a> {
    /// The task batch these results answer.
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch has no items.
    pub fn is_empty(&self) -> bool {
        self.items.len() == 0
    }

    /// The outcome of item `i`.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`.
    #[inline]
    pub fn item(&self, i: usize) -> ItemOutcome<'a> {
        match self.value(i) {
            Ok(bytes) => ItemOutcome::Value(bytes),
            Err(failed) => ItemOutcome::Failed(failed.failure()),
        }
    }

    /// The encoded value of item `i`, or the item's failure still encoded: the fast path
    /// of a loop over results (nothing is decoded or copied).
    ///
    /// ```
    /// use multiproc_codec::{encode, parse, Frame, FrameBuf, RemoteFailure, What};
    ///
    /// let mut fb = FrameBuf::new();
    /// fb.begin_results(1);
    /// fb.push_with(|out| encode(&7u64, What::Result, out))?;
    /// fb.push_failure(&RemoteFailure::Error("no".into()));
    /// let Frame::Results(results) = parse(fb.finish()).unwrap() else { unreachable!() };
    /// assert_eq!(results.value(0).unwrap(), [7]);
    /// assert_eq!(results.value(1).unwrap_err().failure(), RemoteFailure::Error("no".into()));
    /// # Ok::<(), multiproc_codec::CodecError>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`.
    #[inline(always)]
    pub fn value(&self, i: usize) -> Result<&'a [u8], FailedItem<'a>> {
        self.values(i..i + 1).next().expect("an item index below the frame's count")
    }

    /// The outcomes, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = ItemOutcome<'a>> + 'a {
        self.values(0..self.len()).map(|value| match value {
            Ok(bytes) => ItemOutcome::Value(bytes),
            Err(failed) => ItemOutcome::Failed(failed.failure()),
        })
    }

    /// [`value`](Self::value) of the items `range`, in order: the fast path of a loop over
    /// a run of results.
    ///
    /// ```
    /// use multiproc_codec::{encode, parse, Frame, FrameBuf, RemoteFailure, What};
    ///
    /// let mut fb = FrameBuf::new();
    /// fb.begin_results(1);
    /// for x in [5u64, 6, 7] {
    ///     fb.push_with(|out| encode(&x, What::Result, out))?;
    /// }
    /// let Frame::Results(results) = parse(fb.finish()).unwrap() else { unreachable!() };
    /// let values: Vec<&[u8]> = results.values(1..3).map(Result::unwrap).collect();
    /// assert_eq!(values, [[6], [7]]);
    /// # Ok::<(), multiproc_codec::CodecError>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If `range` reaches past the last item.
    #[inline]
    pub fn values(&self, range: Range<usize>) -> Values<'a> {
        Values { status: self.status[range.clone()].iter(), items: self.items.slices(range) }
    }
}

/// The values of a run of results, in order (see [`ResultFrame::values`]).
#[derive(Debug, Clone)]
pub struct Values<'a> {
    items: Slices<'a>,
    status: std::slice::Iter<'a, u8>,
}

impl<'a> Iterator for Values<'a> {
    type Item = Result<&'a [u8], FailedItem<'a>>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.items.next()?;
        match self.status.next() {
            Some(&STATUS_OK) => Some(Ok(bytes)),
            _ => Some(Err(FailedItem(bytes))),
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}

impl ExactSizeIterator for Values<'_> {}

/// A failed item of a result batch, its failure still encoded.
#[derive(Debug, Clone, Copy)]
pub struct FailedItem<'a>(&'a [u8]);

impl FailedItem<'_> {
    /// Decodes the failure (or says why it cannot be read).
    #[cold]
    pub fn failure(self) -> RemoteFailure {
        failure(self.0)
    }
}

/// The failure encoded in `bytes` (or why it cannot be read).
#[cold]
fn failure(bytes: &[u8]) -> RemoteFailure {
    decode::<RemoteFailure>(bytes, What::Message).unwrap_or_else(RemoteFailure::Codec)
}

/// Reads a frame in place, checking its structure and checksum.
///
/// Arbitrary bytes give an error, never a panic:
///
/// ```
/// use multiproc_codec::{parse, Control, Frame, FrameBuf, FrameError};
///
/// let mut fb = FrameBuf::new();
/// let bytes = fb.control(&Control::Shutdown).to_vec();
/// assert!(matches!(parse(&bytes), Ok(Frame::Control(Control::Shutdown))));
/// assert!(matches!(parse(&bytes[..bytes.len() - 1]), Err(FrameError::Truncated { .. })));
/// assert!(parse(b"hello").is_err());
/// ```
pub fn parse(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    if bytes.len() < BASE_HEADER + 8 {
        return Err(FrameError::Truncated { needed: BASE_HEADER + 8, got: bytes.len() });
    }
    if &bytes[..4] != MAGIC || bytes[4] != VERSION {
        return Err(FrameError::BadMagic);
    }
    let kind = bytes[5];
    let count = u32_at(bytes, 8) as usize;
    let payload_len = u32_at(bytes, 12) as usize;
    let batch = u64_at(bytes, 16);
    let (header, per_item) = match kind {
        KIND_TASKS => (TASK_HEADER, 4),
        KIND_RESULTS => (BASE_HEADER, 5),
        KIND_CONTROL => (BASE_HEADER, 0),
        other => return Err(FrameError::UnknownKind(other)),
    };
    if kind == KIND_CONTROL && count != 0 {
        return Err(FrameError::BadTable("a control frame has no items"));
    }
    // count and payload_len are u32, so this cannot overflow a 64-bit usize.
    let needed = header + payload_len + count * per_item + 8;
    if bytes.len() < needed {
        return Err(FrameError::Truncated { needed, got: bytes.len() });
    }
    if bytes.len() > needed {
        return Err(FrameError::BadTable("bytes after the checksum"));
    }
    let tables_at = header + payload_len;
    let sum_at = bytes.len() - 8;
    let covered = if kind == KIND_CONTROL { header } else { tables_at };
    if checksum(&bytes[..header], &bytes[covered..sum_at]) != u64_at(bytes, sum_at) {
        return Err(FrameError::Checksum);
    }
    let payload = &bytes[header..tables_at];
    if kind == KIND_CONTROL {
        return decode::<Control>(payload, What::Message)
            .map(Frame::Control)
            .map_err(FrameError::Control);
    }
    let ends = &bytes[tables_at..tables_at + count * 4];
    // Whether every offset is at least the one before, without a branch per entry: the
    // table has an entry per item.
    let (mut unordered, mut last) = (false, 0u32);
    for e in ends.chunks_exact(4) {
        let e = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
        unordered |= e < last;
        last = e;
    }
    if unordered {
        return Err(FrameError::BadTable("item offsets out of order"));
    }
    if last as usize != payload_len {
        return Err(FrameError::BadTable("item offsets do not cover the payload"));
    }
    let items = Items { payload, ends };
    if kind == KIND_TASKS {
        let func = FnId {
            target: u64_at(bytes, 24) as i64,
            trampoline: u64_at(bytes, 32) as i64,
            types: TypeFingerprint(u64_at(bytes, 40)),
        };
        return Ok(Frame::Tasks(TaskFrame { batch, func, items }));
    }
    let status = &bytes[tables_at + count * 4..sum_at];
    if status.iter().any(|&s| s != STATUS_OK && s != STATUS_FAILED) {
        return Err(FrameError::BadTable("unknown item status"));
    }
    Ok(Frame::Results(ResultFrame { batch, items, status }))
}
