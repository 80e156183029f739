//! Reading a frame in place: [`parse`] checks its structure and checksum, then task and
//! result items are slices of the received bytes.

use std::ops::Range;

use super::message::{Control, RemoteFailure};
use super::{
    BASE_HEADER, FLAG_REVOCABLE, KIND_CONTROL, KIND_RESULTS, KIND_TASKS, MAGIC, STATUS_FAILED,
    STATUS_OK, TASK_HEADER, VERSION, checksum, u32_at, u64_at,
};
use crate::error::{FrameError, What};
use crate::fingerprint::{FnId, TypeFingerprint};
use crate::value::decode;

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

/// The batch id and item count of a task frame, read from its header alone: the first
/// bytes of the frame, such as the first of the parts [`TaskFramer`](crate::TaskFramer)
/// writes. `None` when `head` does not start a task frame. Nothing past the header is
/// checked: [`parse`] checks the whole frame.
///
/// ```
/// use multiproc_codec::{encode, task_header, ArgsBuf, FnId, TaskFramer, TypeFingerprint, What};
///
/// let mut buf = ArgsBuf::new();
/// buf.push_with(|out| encode(&7u64, What::Argument, out))?;
/// let args = [buf.finish()];
/// let func = FnId { target: 16, trampoline: 32, types: TypeFingerprint::of::<u64, u64>(), tag: 0 };
/// let mut framer = TaskFramer::default();
/// let parts = framer.frame(42, func, false, &args)?;
/// assert_eq!(task_header(parts[0]), Some((42, 1)));
/// assert_eq!(task_header(b"not a frame"), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn task_header(head: &[u8]) -> Option<(u64, usize)> {
    let is_tasks = head.len() >= TASK_HEADER
        && &head[..4] == MAGIC
        && head[4] == VERSION
        && head[5] == KIND_TASKS;
    is_tasks.then(|| (u64_at(head, 16), u32_at(head, 8) as usize))
}

/// A batch of task items, read in place.
#[derive(Debug, Clone, Copy)]
pub struct TaskFrame<'a> {
    batch: u64,
    func: FnId,
    revocable: bool,
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

    /// Whether the worker claims the items one by one as it starts them, so that the
    /// sender can take back those not started; otherwise it claims them all when it starts
    /// the first.
    pub fn revocable(&self) -> bool {
        self.revocable
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

impl<'a> FailedItem<'a> {
    /// A failure encoded in `bytes` (as [`FrameBuf::push_failure`](crate::FrameBuf::push_failure)
    /// or [`ItemBuf::failure`](crate::ItemBuf::failure) encode it), for a transport that
    /// carries items one by one.
    pub fn new(bytes: &'a [u8]) -> FailedItem<'a> {
        FailedItem(bytes)
    }

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
            tag: u64_at(bytes, 48),
        };
        let revocable = bytes[6] & FLAG_REVOCABLE != 0;
        return Ok(Frame::Tasks(TaskFrame { batch, func, revocable, items }));
    }
    let status = &bytes[tables_at + count * 4..sum_at];
    if status.iter().any(|&s| s != STATUS_OK && s != STATUS_FAILED) {
        return Err(FrameError::BadTable("unknown item status"));
    }
    Ok(Frame::Results(ResultFrame { batch, items, status }))
}
