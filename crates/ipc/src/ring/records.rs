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
    Staged {
        /// The writer's kind (0..=15).
        kind: u8,
        /// The record's bytes, read in place in the region.
        message: Message,
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
/// read too), or after the first error, which it yields once: an [`IpcError::Protocol`]
/// for a record the writer got wrong (the reader reads no further), or the error of
/// resolving a staged record. `records.by_ref().take(n)` hands a run of `n` records to a
/// consumer and leaves the rest for later.
pub struct Records<'a> {
    cursor: &'a ReadCursor,
    /// Where the next record starts; the reader frees up to here later.
    next: &'a Cell<u64>,
    resolver: &'a Receiver,
    window: Option<Window<'a>>,
    done: bool,
}

impl<'a> Records<'a> {
    pub(super) fn new(
        cursor: &'a ReadCursor,
        next: &'a Cell<u64>,
        resolver: &'a Receiver,
    ) -> Records<'a> {
        Records { cursor, next, resolver, window: None, done: false }
    }

    /// The record at counter `at`, checked; `Ok(None)` for a padding record.
    #[inline]
    fn read(&self, window: Window<'a>, at: u64) -> Result<Option<Record<'a>>, IpcError> {
        let end = window.end();
        let header = window.header(at).ok_or_else(|| {
            protocol(format!("no record header at byte {at} (published up to {end})"))
        })?;
        let (tag, kind, len) = header::decode(header)
            .ok_or_else(|| protocol(format!("bad record header {header:#010x} at byte {at}")))?;
        let bytes = window.bytes(at.wrapping_add(4), len).ok_or_else(|| {
            protocol(format!(
                "a record of {len} bytes at byte {at} runs past the published bytes ({end}) \
                 or the end of the ring"
            ))
        })?;
        let size = match tag {
            Tag::Padding => {
                let capacity = self.cursor.memory().capacity() as u64;
                capacity - (at & (capacity - 1))
            }
            Tag::Inline | Tag::Staged => header::size(len),
        };
        if !window.holds(at, size) {
            return Err(protocol(format!(
                "a record of {size} bytes at byte {at} runs past the published bytes ({end})"
            )));
        }
        let record = match tag {
            Tag::Padding => None,
            Tag::Inline => Some(Record::Inline { kind, bytes }),
            Tag::Staged => {
                let notice = <[u8; Notice::BYTES]>::try_from(bytes).map_err(|_| {
                    protocol(format!("a staged record's notice of {len} bytes at byte {at}"))
                })?;
                let message = self.resolver.resolve(Notice::from_bytes(notice))?;
                Some(Record::Staged { kind, message })
            }
        };
        self.next.set(at.wrapping_add(size));
        Ok(record)
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, IpcError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let at = self.next.get();
            let window = match self.window {
                Some(window) if window.end() != at => window,
                _ => match self.cursor.published() {
                    Ok(window) if window.end() == at => return None,
                    Ok(window) => *self.window.insert(window),
                    Err(head) => {
                        self.done = true;
                        let freed = self.cursor.freed();
                        return Some(Err(protocol(format!(
                            "the ring's head ({head}) is not within one capacity of what was \
                             read ({freed})"
                        ))));
                    }
                },
            };
            match self.read(window, at) {
                Ok(Some(record)) => return Some(Ok(record)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
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

fn protocol(what: String) -> IpcError {
    IpcError::Protocol(format!("ring: {what}"))
}
