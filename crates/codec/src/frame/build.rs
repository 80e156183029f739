//! [`FrameBuf`]: builds one frame at a time in a reusable buffer, with no allocation per
//! item.

use super::args::{FRAME_LIMIT, TooLarge};
use super::message::{Control, RemoteFailure};
use super::parts::{FrameParts, OwnedFrame};
use super::{
    BASE_HEADER, KIND_CONTROL, KIND_RESULTS, KIND_TASKS, MAGIC, STATUS_FAILED, STATUS_OK,
    TASK_HEADER, VERSION, checksum,
};
use crate::error::{CodecError, What};
use crate::fingerprint::FnId;
use crate::out_of_band::{self, Segment};
use crate::value::encode;

/// A reusable buffer that builds one frame at a time without allocating per item.
///
/// ```
/// use multiproc_codec::{encode, parse, Frame, FrameBuf, FnId, TypeFingerprint, What};
///
/// let func = FnId { target: 16, trampoline: 32, types: TypeFingerprint::of::<u64, u64>(), tag: 0 };
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

    /// Keeps large [`Bytes`](crate::Bytes) payloads (64 KiB and up) by reference instead of copying them
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
        self.buf.extend_from_slice(&func.tag.to_le_bytes());
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

    /// Appends one value like [`push_with`](Self::push_with), refusing one that would take
    /// the frame past [`FRAME_LIMIT`]: it is rolled back and reported as
    /// [`RemoteFailure::TooLarge`] (the caller pushes that failure in its place).
    ///
    /// ```
    /// use multiproc_codec::{encode, FrameBuf, What};
    ///
    /// let mut fb = FrameBuf::new();
    /// fb.begin_results(1);
    /// fb.push_bounded(What::Result, |out| encode(&7u64, What::Result, out))?;
    /// assert_eq!(fb.len(), 1);
    /// # Ok::<(), multiproc_codec::RemoteFailure>(())
    /// ```
    pub fn push_bounded(
        &mut self,
        what: What,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(), RemoteFailure> {
        let before = (self.buf.len(), self.segments.len(), self.segment_bytes);
        let start = self.payload_len() as u64;
        self.push_with(write).map_err(RemoteFailure::Codec)?;
        let end = self.payload_len() as u64;
        if end <= FRAME_LIMIT {
            return Ok(());
        }
        self.ends.pop();
        self.buf.truncate(before.0);
        self.segments.truncate(before.1);
        self.segment_bytes = before.2;
        Err(RemoteFailure::TooLarge(TooLarge { what, size: end - start, limit: FRAME_LIMIT }))
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
