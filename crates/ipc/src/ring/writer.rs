//! `RingWriter`: the one writer of a ring, e.g. a worker appending a record per item.

use std::iter;
use std::sync::atomic::{Ordering, compiler_fence};

use super::header::{self, MAX_KIND, MAX_LEN, Tag};
use super::{Ring, bell};
use crate::regions::Notice;
use crate::sys::WriteCursor;
use crate::{IpcError, SPIN, Sender};

/// The one writer of a [`Ring`]: appends records that the [`RingReader`](crate::RingReader)
/// at the other end reads in order.
///
/// It holds the ring and the [`Sender`] of the direction the records go (to the reader's
/// process), which it uses only to stage large records in shared-memory regions; the
/// sender stays usable for frames (keep a clone).
///
/// ```
/// use std::time::Duration;
/// use multiproc_ipc::{Record, Ring, RingReader, RingWriter, Wait, duplex};
///
/// let ring = Ring::new(4096)?;
/// let (parent, child) = duplex()?; // in real use, the writer is in another process
/// let (tx, _) = child.split();
/// let (_, rx) = parent.split();
/// let mut writer = RingWriter::new(ring.clone(), tx);
/// let mut reader = RingReader::new(ring, rx);
///
/// writer.push(1, [&b"item "[..], b"one"].into_iter())?;
/// writer.push(2, std::iter::once(&vec![7u8; 1 << 20][..]))?; // staged in a region
/// assert_eq!(reader.wait(Duration::ZERO, None), Wait::Ready);
/// let records: Vec<Record<'_>> = reader.records().collect::<Result<_, _>>()?;
/// assert_eq!((records[0].kind(), records[0].bytes()), (1, &b"item one"[..]));
/// assert_eq!((records[1].kind(), records[1].bytes().len()), (2, 1 << 20));
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
#[derive(Debug)]
pub struct RingWriter {
    cursor: WriteCursor,
    stager: Sender,
    /// Records longer than this are staged.
    threshold: usize,
}

impl RingWriter {
    /// Writes into `ring`, staging large records through `stager`: the sending half of the
    /// channel whose receiving half the reader resolves them with.
    #[must_use]
    pub fn new(ring: Ring, stager: Sender) -> RingWriter {
        let threshold = (ring.capacity() / 8).min(MAX_LEN);
        RingWriter { cursor: WriteCursor::new(ring.into_memory()), stager, threshold }
    }

    /// Appends one record: `kind` (0..=15, the caller's meaning) and the bytes of `parts`,
    /// one after the other (as [`Sender::send_parts`] sends them).
    ///
    /// A record of up to an eighth of the ring's capacity is copied into the ring and
    /// published at once: one release store, no fence, no system call and no allocation,
    /// unless the reader sleeps (then one wake). A larger one is copied once into a
    /// shared-memory region of the stager (made for it if every region is in use, never
    /// sent through the socket) and the ring gets a 16-byte notice. Either way the record
    /// is readable by the reader when `push` returns, even if this process dies right
    /// after.
    ///
    /// # Blocking
    ///
    /// While the ring is full: until the reader frees room (it frees what it has read when
    /// it next [`wait`](crate::RingReader::wait)s or reads).
    ///
    /// # Errors
    ///
    /// [`IpcError::Disconnected`] when the ring is full and its reader is gone;
    /// [`IpcError::Io`] when a region for a large record cannot be made, or
    /// `Disconnected` when the stager's peer is gone.
    ///
    /// # Panics
    ///
    /// When `kind` is above 15.
    #[inline(always)] // a few dozen instructions: out of line, the call cost as much again
    pub fn push<'a>(
        &mut self,
        kind: u8,
        parts: impl Iterator<Item = &'a [u8]> + Clone,
    ) -> Result<(), IpcError> {
        assert!(kind <= MAX_KIND, "record kind {kind} is above {MAX_KIND}");
        let len = parts.clone().fold(0usize, |sum, part| sum.saturating_add(part.len()));
        if len > self.threshold {
            return self.push_staged(kind, parts, len);
        }
        let size = header::size(len as u64);
        self.reserve(size)?;
        self.cursor.write(header::encode(Tag::Inline, kind, len), len, size, parts);
        self.publish();
        Ok(())
    }

    /// Stages the bytes in a region, then publishes a notice of them.
    #[inline(never)]
    fn push_staged<'a>(
        &mut self,
        kind: u8,
        parts: impl Iterator<Item = &'a [u8]> + Clone,
        len: usize,
    ) -> Result<(), IpcError> {
        let size = header::size(Notice::BYTES as u64);
        self.reserve(size)?;
        let notice = self.stager.stage(parts, len)?.to_bytes();
        let header = header::encode(Tag::Staged, kind, Notice::BYTES);
        self.cursor.write(header, Notice::BYTES, size, iter::once(&notice[..]));
        self.publish();
        Ok(())
    }

    /// Makes `size` bytes of room, in one piece, at the write position.
    #[inline]
    fn reserve(&mut self, size: u64) -> Result<(), IpcError> {
        if size > self.cursor.to_end() {
            self.pad()?;
        }
        if size > self.cursor.room() && size > self.cursor.refresh() {
            self.wait_for_room(size)?;
        }
        Ok(())
    }

    /// Fills the rest of the data area with a padding record: the next goes at the start.
    #[cold]
    fn pad(&mut self) -> Result<(), IpcError> {
        let size = self.cursor.to_end();
        if size > self.cursor.room() && size > self.cursor.refresh() {
            self.wait_for_room(size)?;
        }
        self.cursor.write(header::encode(Tag::Padding, 0, 0), 0, size, iter::empty());
        Ok(())
    }

    /// Waits until the reader has freed `size` bytes of room: polls a little, then sleeps
    /// on the writer's bell.
    #[cold]
    #[inline(never)]
    fn wait_for_room(&mut self, size: u64) -> Result<(), IpcError> {
        // What is written is published first (a padding record, at most).
        self.publish();
        let mem = self.cursor.memory().clone();
        let cursor = &mut self.cursor;
        let mut ready = || {
            let gone = mem.reader_gone().load(Ordering::SeqCst) != 0;
            (cursor.refresh() >= size || gone).then_some(())
        };
        if crate::spin(SPIN, None, &mut ready).is_none() {
            bell::sleep(mem.writer_bell(), None, ready);
        }
        if self.cursor.room() >= size { Ok(()) } else { Err(IpcError::Disconnected) }
    }

    /// Publishes what was written and wakes the reader if it sleeps.
    #[inline]
    fn publish(&self) {
        self.cursor.publish();
        // Keeps the compiler from loading the flag before the store (see the module docs;
        // no instruction is emitted).
        compiler_fence(Ordering::SeqCst);
        bell::wake_if_sleeping(self.cursor.memory().reader_bell());
    }
}
