//! `Records`: reading a ring's published records in order, checking each on the way.

use std::cell::Cell;
use std::fmt;

use super::header::{self, Tag};
use crate::regions::Notice;
use crate::sys::{ReadCursor, Window};
use crate::{IpcError, Message, Receiver};

/// One record read from a ring: the writer's kind and bytes.
///
/// ```
/// use multiproc_ipc::{Record, Ring, RingReader, RingWriter, duplex};
///
/// let ring = Ring::new(4096)?;
/// let (a, b) = duplex()?;
/// let mut writer = RingWriter::new(ring.clone(), b.split().0);
/// let mut reader = RingReader::new(ring, a.split().1);
/// writer.push(5, std::iter::once(&b"small"[..]))?;
/// match reader.records().next().expect("a record")? {
///     Record::Inline { kind, bytes } => assert_eq!((kind, bytes), (5, &b"small"[..])),
///     Record::Staged { .. } => unreachable!("small records are copied into the ring"),
/// }
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
pub enum Record<'a> {
    /// A record copied into the ring, read in place: the borrow ends before the reader
    /// next reads or waits, which is when its room goes back to the writer.
    Inline {
        /// The writer's kind (0..=15).
        kind: u8,
        /// The record's bytes, in the ring's memory.
        bytes: &'a [u8],
    },
    /// A record above the ring's threshold, staged in a shared-memory region of the
    /// writer's sender: the region goes back to the writer when the message is dropped.
    ///
    /// The message is boxed (one allocation per large record) to keep `Record` a plain
    /// tagged enum: with a `Message` inline, moving a record out of the iterator went
    /// through memory in pieces and cost more than reading it (20 → 13 ns per small
    /// record).
    Staged {
        /// The writer's kind (0..=15).
        kind: u8,
        /// The record's bytes, copied out of the region on receipt.
        message: Box<Message>,
    },
}

impl Record<'_> {
    /// The writer's kind (0..=15).
    #[must_use]
    pub fn kind(&self) -> u8 {
        match *self {
            Record::Inline { kind, .. } | Record::Staged { kind, .. } => kind,
        }
    }

    /// The record's bytes, wherever they are.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        match self {
            Record::Inline { bytes, .. } => bytes,
            Record::Staged { message, .. } => message,
        }
    }
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let staged = matches!(self, Record::Staged { .. });
        f.debug_struct("Record")
            .field("kind", &self.kind())
            .field("len", &self.bytes().len())
            .field("staged", &staged)
            .finish()
    }
}

/// The records a [`RingReader`](crate::RingReader) has not read yet, in order, from
/// [`RingReader::records`](crate::RingReader::records).
///
/// Ends when it has caught up with the writer (records published while it runs are
/// read too) or, while the ring is open, after a quarter of the ring's capacity (the
/// reader hands that room back at its next call, so a writer that is ahead keeps writing
/// meanwhile instead of waiting for the whole ring). Also ends after the first error,
/// which it yields once: an [`IpcError::Protocol`] for a record the writer got wrong (the
/// reader reads no further), or the error of resolving a staged record.
/// `records.by_ref().take(n)` hands a run of `n` records to a consumer and leaves the rest
/// for later.
pub struct Records<'a> {
    cursor: &'a ReadCursor,
    /// Where the next record starts; the reader frees up to here later.
    next: &'a Cell<u64>,
    resolver: &'a Receiver,
    window: Option<Window<'a>>,
    /// Where this run started, and how many bytes of records it may read.
    first: u64,
    run: u64,
    done: bool,
    /// The writer is gone: after the published records, the one it left open, if any.
    salvage: bool,
}

impl<'a> Records<'a> {
    /// Reads from `next` on, at most `run` bytes of records; with `salvage` (the writer
    /// is gone), then the record it left open.
    pub(super) fn new(
        cursor: &'a ReadCursor,
        next: &'a Cell<u64>,
        resolver: &'a Receiver,
        run: u64,
        salvage: bool,
    ) -> Records<'a> {
        let first = next.get();
        Records { cursor, next, resolver, window: None, first, run, done: false, salvage }
    }

    /// The record the writer left open at `at`, what of it was committed, as an inline
    /// record (or all of it, when the writer died after closing it but before publishing
    /// it); `None` if it left none. Read once, after every published record.
    ///
    /// Only a record the writer named in the shared `open` word counts: past the published
    /// head lie bytes of earlier laps, which may look like any header.
    #[cold]
    #[inline(never)]
    fn left_open(&mut self, at: u64) -> Option<Result<Record<'a>, IpcError>> {
        self.done = true;
        if !self.cursor.opened_at(at) {
            return None;
        }
        let window = self.cursor.beyond(at);
        let header = window.header(at)?;
        let (Tag::Open | Tag::Inline, kind, len) = header::decode(header)? else { return None };
        let Some(bytes) = window.bytes(at.wrapping_add(4), len) else {
            return self.fail(Broken::Length { at, len, end: window.end() });
        };
        self.next.set(at.wrapping_add(header::size(len)));
        Some(Ok(Record::Inline { kind, bytes }))
    }

    /// Ends the iteration with `error`.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, error: impl Into<IpcError>) -> Option<Result<Record<'a>, IpcError>> {
        self.done = true;
        Some(Err(error.into()))
    }

    /// The staged record at `at`, whose notice is `bytes`, resolved; the next record is
    /// `size` bytes on.
    #[inline(never)]
    fn staged(
        &mut self,
        at: u64,
        size: u64,
        kind: u8,
        bytes: &[u8],
    ) -> Option<Result<Record<'a>, IpcError>> {
        let Ok(notice) = <[u8; Notice::BYTES]>::try_from(bytes) else {
            return self.fail(Broken::Notice { at, len: bytes.len() });
        };
        match self.resolver.resolve(Notice::from_bytes(notice)) {
            Ok(message) => {
                self.next.set(at.wrapping_add(size));
                Some(Ok(Record::Staged { kind, message: Box::new(message) }))
            }
            Err(e) => self.fail(e),
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, IpcError>;

    /// Built in one piece, in the return slot: a `Record` re-wrapped on its way out was
    /// copied in pieces and read back whole, a store-forwarding stall that tripled the
    /// cost of a small record. Always inlined: the loop around it keeps its state in
    /// registers.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut at = self.next.get();
        loop {
            if at.wrapping_sub(self.first) >= self.run {
                return None;
            }
            let window = match self.window {
                Some(window) if window.end() != at => window,
                _ => match self.cursor.published() {
                    Ok(window) if window.end() == at && self.salvage => return self.left_open(at),
                    Ok(window) if window.end() == at => return None,
                    Ok(window) => *self.window.insert(window),
                    Err(head) => {
                        let freed = self.cursor.freed();
                        return self.fail(Broken::Head { head, freed });
                    }
                },
            };
            let end = window.end();
            let Some(header) = window.header(at) else {
                return self.fail(Broken::NoHeader { at, end });
            };
            let Some((tag, kind, len)) = header::decode(header) else {
                return self.fail(Broken::Header { at, header });
            };
            let size = if tag == Tag::Padding { window.until_end(at) } else { header::size(len) };
            // The whole record is published and does not run past the end of the data
            // (its bytes come after the header, within its size: `size >= 4 + len`).
            let Some(bytes) = window.bytes(at, size).and_then(|r| r.get(4..4 + len as usize))
            else {
                return self.fail(Broken::Length { at, len, end });
            };
            // Tests rather than a `match`, which compiled to an indirect jump.
            if tag == Tag::Inline {
                self.next.set(at.wrapping_add(size));
                return Some(Ok(Record::Inline { kind, bytes }));
            }
            if tag == Tag::Staged {
                return self.staged(at, size, kind, bytes);
            }
            if tag == Tag::Open {
                // Published open: the writer broke the protocol.
                return self.fail(Broken::Header { at, header });
            }
            at = at.wrapping_add(size); // a padding record
            self.next.set(at);
        }
    }
}

impl fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("next", &self.next.get())
            .field("published", &self.window.map(|w| w.end()))
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// What a writer got wrong, kept as numbers until it becomes an error: the message is
/// formatted out of line, away from the reading loop.
#[derive(Clone, Copy, Debug)]
enum Broken {
    Head { head: u64, freed: u64 },
    NoHeader { at: u64, end: u64 },
    Header { at: u64, header: u32 },
    Length { at: u64, len: u64, end: u64 },
    Notice { at: u64, len: usize },
}

impl From<Broken> for IpcError {
    #[cold]
    fn from(broken: Broken) -> IpcError {
        IpcError::Protocol(match broken {
            Broken::Head { head, freed } => {
                format!(
                    "ring: the head ({head}) is not within one capacity of what was read ({freed})"
                )
            }
            Broken::NoHeader { at, end } => {
                format!("ring: no record header at byte {at} (published up to {end})")
            }
            Broken::Header { at, header } => {
                format!("ring: bad record header {header:#010x} at byte {at}")
            }
            Broken::Length { at, len, end } => format!(
                "ring: a record of {len} bytes at byte {at} runs past the published bytes ({end}) \
                 or the end of the ring"
            ),
            Broken::Notice { at, len } => {
                format!("ring: a staged record's notice of {len} bytes at byte {at}")
            }
        })
    }
}
