//! `RingWriter`: the one writer of a ring, e.g. a worker appending a record per item.

use std::iter;
use std::sync::atomic::{Ordering, compiler_fence};

use super::header::{self, MAX_KIND, MAX_LEN, Tag};
use super::{Ring, bell};
use crate::regions::Notice;
use crate::sys::WriteCursor;
use crate::{IpcError, SPIN, Sender};

/// [`RingWriter::push_with`] and [`RingWriter::open`] offer a record at least this many
/// bytes of room (or the largest record the ring takes whole, if less).
const SLOT: usize = 1 << 10;

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

    /// Appends one record of `kind` written in place by `write`, which gets the ring's
    /// room for it (at least 1 KiB, at most the largest record the ring takes
    /// whole) and returns how many bytes it wrote — or `None` when the record does not fit,
    /// and then nothing is appended (push it with [`push`](Self::push), which stages what
    /// the ring cannot hold). No byte is copied: the fast path of a writer that encodes
    /// straight into the ring.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push) while it waits for room.
    ///
    /// # Panics
    ///
    /// When `kind` is above 15, or `write` says it wrote more than it was given.
    ///
    /// ```
    /// use multiproc_ipc::{Ring, RingReader, RingWriter, duplex};
    ///
    /// let ring = Ring::new(4096)?;
    /// let (a, b) = duplex()?;
    /// let mut writer = RingWriter::new(ring.clone(), b.split().0);
    /// let mut reader = RingReader::new(ring, a.split().1);
    /// let wrote = writer.push_with(7, |slot| {
    ///     slot[..2].copy_from_slice(b"hi");
    ///     Some(2)
    /// })?;
    /// assert!(wrote);
    /// let record = reader.records().next().expect("a record")?;
    /// assert_eq!((record.kind(), record.bytes()), (7, &b"hi"[..]));
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    #[inline(always)]
    pub fn push_with(
        &mut self,
        kind: u8,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Result<bool, IpcError> {
        assert!(kind <= MAX_KIND, "record kind {kind} is above {MAX_KIND}");
        let min = SLOT.min(self.threshold);
        if self.cursor.in_place(min, self.threshold).is_none() {
            self.make_room(header::size(min as u64))?;
        }
        let slot = self.cursor.in_place(min, self.threshold).expect("room was made");
        let max = slot.len();
        let Some(len) = write(slot) else { return Ok(false) };
        assert!(len <= max, "a record written in place of {len} bytes in a slot of {max}");
        self.cursor.commit(header::encode(Tag::Inline, kind, len), len);
        self.publish();
        Ok(true)
    }

    /// Begins a record of `kind` that is written in pieces ([`OpenRecord::append_with`]):
    /// many small values in one record, each as cheap to add as to a buffer of this
    /// process, and each readable by the reader once added **if this process dies** before
    /// the record is closed. While it lives the reader sees none of it; it is published
    /// whole when it is closed (or dropped). It takes at most the largest record the ring
    /// takes whole; waits for room for at least 1 KiB.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push) while it waits for room.
    ///
    /// # Panics
    ///
    /// When `kind` is above 15.
    ///
    /// ```
    /// use multiproc_ipc::{Ring, RingReader, RingWriter, duplex};
    ///
    /// let ring = Ring::new(4096)?;
    /// let (a, b) = duplex()?;
    /// let mut writer = RingWriter::new(ring.clone(), b.split().0);
    /// let mut reader = RingReader::new(ring, a.split().1);
    /// let mut record = writer.open(4)?;
    /// for word in [&b"one "[..], b"two"] {
    ///     record.append_with(|room| {
    ///         room[..word.len()].copy_from_slice(word);
    ///         Some(word.len())
    ///     });
    /// }
    /// assert!(reader.records().next().is_none()); // not closed yet
    /// record.close();
    /// let record = reader.records().next().expect("a record")?;
    /// assert_eq!((record.kind(), record.bytes()), (4, &b"one two"[..]));
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    pub fn open(&mut self, kind: u8) -> Result<OpenRecord<'_>, IpcError> {
        assert!(kind <= MAX_KIND, "record kind {kind} is above {MAX_KIND}");
        let min = SLOT.min(self.threshold);
        if self.cursor.in_place(min, self.threshold).is_none() {
            self.make_room(header::size(min as u64))?;
        }
        let header = header::encode(Tag::Open, kind, 0);
        let room = self.cursor.open(min, self.threshold, header).expect("room was made");
        Ok(OpenRecord { writer: Some(self), kind, room, len: 0 })
    }

    /// Makes `size` bytes of room in one piece at the write position (padding to the start
    /// of the data area, waiting for the reader).
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, size: u64) -> Result<(), IpcError> {
        self.reserve(size)
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
        // Published at once: a record left open after it is found at the shared head.
        self.cursor.publish();
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

/// Pieces of an open record ask for the line this far ahead of them ...
const PREFETCH_AHEAD: usize = 512;
/// ... each time they cross into a new line of this many bytes (not at every piece).
const PREFETCH_LINE: usize = 64;

/// A record being written in pieces (see [`RingWriter::open`]); closed (published) when
/// dropped.
#[derive(Debug)]
pub struct OpenRecord<'a> {
    /// Taken back by `close`.
    writer: Option<&'a mut RingWriter>,
    kind: u8,
    /// Bytes it may hold.
    room: usize,
    /// Bytes added so far.
    len: usize,
}

impl<'a> OpenRecord<'a> {
    /// Adds a piece written by `write` into the room left (at least 1 KiB when the record
    /// is new, unless the ring is small), which returns how many bytes it wrote, or `None`
    /// (nothing added) when the piece does not fit. Once added, a piece is readable by the
    /// reader if the writer's process dies before the record is closed. Returns what
    /// `write` returned.
    ///
    /// # Panics
    ///
    /// When `write` says it wrote more than it was given.
    #[inline(always)]
    pub fn append_with(&mut self, write: impl FnOnce(&mut [u8]) -> Option<usize>) -> Option<usize> {
        let n = write(self.spare())?;
        self.add(n);
        Some(n)
    }

    /// The room left, to write the next piece into before [`add`](Self::add)ing it (what
    /// [`append_with`](Self::append_with) does in one call).
    ///
    /// ```
    /// use multiproc_ipc::{Ring, RingReader, RingWriter, duplex};
    ///
    /// let ring = Ring::new(4096)?;
    /// let (a, b) = duplex()?;
    /// let mut writer = RingWriter::new(ring.clone(), b.split().0);
    /// let mut reader = RingReader::new(ring, a.split().1);
    /// let mut record = writer.open(1)?;
    /// record.spare()[..2].copy_from_slice(b"ok");
    /// record.add(2);
    /// record.close();
    /// assert_eq!(reader.records().next().expect("a record")?.bytes(), b"ok");
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    #[inline(always)]
    pub fn spare(&mut self) -> &mut [u8] {
        let writer = self.writer.as_deref_mut().expect("an open record has its writer");
        writer.cursor.piece(self.len)
    }

    /// Adds the first `n` bytes of [`spare`](Self::spare) to the record: from now on they
    /// are readable by the reader if the writer's process dies before the record is
    /// closed.
    ///
    /// # Panics
    ///
    /// When `n` exceeds the room left.
    #[inline(always)]
    pub fn add(&mut self, n: usize) {
        let mut piece = Some(n);
        self.append_each(|_| piece.take());
    }

    /// Adds pieces one after another, each written by `write` into the room left, for as
    /// long as it writes one: it returns how many bytes it wrote, or `None` (nothing added
    /// for that call) to stop. Each piece is added as by [`add`](Self::add), readable by
    /// the reader if the writer's process dies before the record is closed; the loop keeps
    /// the record's room and header at hand, so that a piece costs what writing it costs
    /// and one store.
    ///
    /// # Panics
    ///
    /// When `write` says it wrote more than it was given.
    ///
    /// ```
    /// use multiproc_ipc::{Ring, RingReader, RingWriter, duplex};
    ///
    /// let ring = Ring::new(4096)?;
    /// let (a, b) = duplex()?;
    /// let mut writer = RingWriter::new(ring.clone(), b.split().0);
    /// let mut reader = RingReader::new(ring, a.split().1);
    /// let mut record = writer.open(1)?;
    /// let mut words = ["one ", "two ", "three"].into_iter();
    /// record.append_each(|room| {
    ///     let word = words.next()?;
    ///     room[..word.len()].copy_from_slice(word.as_bytes());
    ///     Some(word.len())
    /// });
    /// record.close();
    /// assert_eq!(reader.records().next().expect("a record")?.bytes(), b"one two three");
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    #[inline(always)]
    pub fn append_each(&mut self, mut write: impl FnMut(&mut [u8]) -> Option<usize>) {
        let (kind, mut len) = (self.kind, self.len);
        let writer = self.writer.as_deref_mut().expect("an open record has its writer");
        let parts = writer.cursor.open_parts();
        // The room is the record's: `len` never passes it (checked below).
        while let Some(n) = write(&mut parts.room[len..]) {
            assert!(
                n <= parts.room.len() - len,
                "a piece of {n} bytes in {} left",
                parts.room.len() - len
            );
            let before = len;
            len += n;
            // The piece before the length that counts it (release).
            parts.set_header(header::encode(Tag::Open, kind, len));
            self.len = len;
            if (before ^ len) >= PREFETCH_LINE {
                // Into a new cache line: ask for one further on.
                parts.prefetch(len + PREFETCH_AHEAD);
            }
        }
    }

    /// The bytes added so far, to rewrite (a count of what follows, say, written when
    /// the record is complete). The reader sees them as they are when the record is
    /// closed, or when the writer's process died: an aligned word rewritten in one store
    /// then holds either its old value or its new one.
    ///
    /// ```
    /// use multiproc_ipc::{Ring, RingReader, RingWriter, duplex};
    ///
    /// let ring = Ring::new(4096)?;
    /// let (a, b) = duplex()?;
    /// let mut writer = RingWriter::new(ring.clone(), b.split().0);
    /// let mut reader = RingReader::new(ring, a.split().1);
    /// let mut record = writer.open(1)?;
    /// record.append_with(|room| {
    ///     room[..3].copy_from_slice(b"?ok");
    ///     Some(3)
    /// });
    /// record.added_mut()[0] = b'2';
    /// record.close();
    /// assert_eq!(reader.records().next().expect("a record")?.bytes(), b"2ok");
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    #[inline]
    pub fn added_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        let writer = self.writer.as_deref_mut().expect("an open record has its writer");
        &mut writer.cursor.piece(0)[..len]
    }

    /// Bytes added so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was added yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes that can still be added.
    #[must_use]
    pub fn room(&self) -> usize {
        self.room - self.len
    }

    /// Publishes the record (as dropping it does) and gives the writer back.
    pub fn close(mut self) -> &'a mut RingWriter {
        self.publish();
        self.writer.take().expect("an open record has its writer")
    }

    fn publish(&mut self) {
        if let Some(w) = self.writer.as_deref_mut() {
            w.cursor.close(header::encode(Tag::Inline, self.kind, self.len), self.len);
            w.publish();
        }
    }
}

impl Drop for OpenRecord<'_> {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.publish();
        }
    }
}
