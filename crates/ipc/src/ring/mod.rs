//! A ring of records in shared memory, from one writer process to one reader process.
//!
//! A pool worker appends one record per finished item ([`RingWriter::push`]); the parent's
//! reader thread reads them ([`RingReader::records`]). A record is readable as soon as
//! `push` returns, and stays readable after the writer died, SIGKILL included: its bytes
//! are in memory the reader maps, not in the writer's. The reader's wait is a futex, which
//! another thread of the reading process can interrupt for good ([`RingCloser`]).
//!
//! # Layout
//!
//! A header of counters, each on its own cache lines — `head` (bytes published, stored by
//! the writer), `tail` (bytes freed, stored by the reader), and two bells (a `sleeping`
//! flag and a futex word: one for the reader waiting for records, one for the writer
//! waiting for room) — then the data area, a power of two of at least 4 KiB. The counters
//! are monotonic `u64` byte counts; counter `c` is at index `c & (capacity - 1)`.
//!
//! A record is a `u32` header (length, tag, kind) and its bytes, padded to 8 bytes. A record
//! never straddles the end of the data area: the writer puts a padding record there and
//! goes on at the start. Records above a threshold (an eighth of the capacity) are staged
//! in a shared-memory region of the writer's [`Sender`](crate::Sender) (copied once, as a
//! large channel frame is) and the ring gets a notice of 16 bytes instead; the reader
//! turns it into a [`Message`](crate::Message) with its [`Receiver`](crate::Receiver).
//!
//! # Publishing without a fence
//!
//! The writer publishes a record with one release store of `head`, then reads the reader's
//! `sleeping` flag with a relaxed load: no fence, no read-modify-write, no system call
//! while the reader is awake. A fence would cost as much as the rest of the push. Without
//! one, the load may be satisfied while the store still sits in the writer's store buffer,
//! so the two sides can miss each other: the writer reads the flag down, the reader
//! (having raised the flag) reads the old `head`, and sleeps with a record waiting.
//!
//! The reader closes that gap itself. To sleep, it reads the futex word, raises the flag
//! (sequentially consistent), checks `head`, sleeps **150 µs**, checks `head` again, and
//! only then sleeps on the futex until its deadline. A store that raced the flag was
//! already executed when the writer read the flag (the compiler may not move the load
//! above the store, and a core does not hold a store back for long: a store buffer drains
//! in nanoseconds, and an interrupt or context switch drains it at once), so after the
//! short sleep the second check sees it. Any publication after that reads the raised flag
//! and wakes the reader: it clears the flag, bumps the futex word and calls `FUTEX_WAKE`.
//! Every clear of the flag is followed by a bump of the word, so a reader that raised the
//! flag again in between does not sleep through the bump. The same scheme, mirrored,
//! wakes a writer that waits for room: the reader frees room with one release store of
//! `tail` and reads the writer's flag with a relaxed load.
//!
//! This leans on how hardware behaves (x86-64, aarch64), not only on the language's
//! memory model, which promises that a store becomes visible "in a finite time" and no
//! more. What it costs when it fails is a late wake-up (until the writer's next push, or
//! the reader's deadline), never a lost or torn record.
//!
//! # A writer the reader does not trust
//!
//! The writer can write anything anywhere in the ring's memory. The reader reads each
//! header once (atomically) and checks it on the copy: a known tag and kind, a length
//! within what was published and within the data area, a padding that runs to the end,
//! a notice that names a region its [`Receiver`](crate::Receiver) was told of. A violation
//! is an [`IpcError::Protocol`](crate::IpcError::Protocol), never a panic or a read out of
//! bounds. The reader never reads its own position back from shared memory, and its
//! `closed` flag lives in its own process. The bytes of an inline record are lent out in
//! place, though (a staged record's are copied out of its region, see
//! [`Message`](crate::Message)): a writer that breaks the protocol can change them while
//! the caller reads them, so callers decode them as untrusted input and copy what they
//! keep. A live writer racing the reader's futex word can also delay a
//! [`RingCloser::close`] until the wait's deadline; a dead one cannot.

mod bell;
mod header;
mod reader;
mod records;
#[cfg(test)]
mod tests;
mod writer;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ipc_channel::ipc::IpcSharedMemory;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::IpcError;
use crate::sys::{Mapping, RING_HEADER, RingMemory};

pub use reader::{RingCloser, RingReader, Wait};
pub use records::{Record, Records};
pub use writer::{OpenRecord, RingWriter};

/// The smallest data area of a ring.
const MIN_CAPACITY: usize = 4 << 10;

/// The shared memory of one ring of records: give one clone to a [`RingWriter`] in one
/// process and one to a [`RingReader`] in another.
///
/// `Clone` shares the same memory. Like [`SharedWords`](crate::SharedWords), a `Ring`
/// travels inside an ipc-channel message (its descriptor is sent), and a `fork`ed child
/// shares it.
///
/// ```
/// use multiproc_ipc::Ring;
///
/// let ring = Ring::new(5000)?;
/// assert_eq!(ring.capacity(), 8192); // rounded up to a power of two
/// let (tx, rx) = ipc_channel::ipc::channel::<Ring>().unwrap();
/// tx.send(ring.clone()).unwrap();
/// assert_eq!(rx.recv().unwrap().capacity(), 8192); // the same memory, elsewhere
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
#[derive(Clone)]
pub struct Ring {
    mem: RingMemory,
}

impl Ring {
    /// Creates a ring of at least `capacity` bytes of records: rounded up to a power of
    /// two, and to at least 4 KiB.
    ///
    /// # Errors
    ///
    /// [`IpcError::Io`] when the operating system refuses the memory (or, with
    /// [`io::ErrorKind::InvalidInput`], when no power of two holds `capacity`).
    pub fn new(capacity: usize) -> Result<Ring, IpcError> {
        let invalid = || {
            IpcError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a ring of {capacity} bytes cannot be laid out"),
            ))
        };
        let capacity =
            capacity.max(MIN_CAPACITY).checked_next_power_of_two().ok_or_else(invalid)?;
        let bytes = capacity.checked_add(RING_HEADER).ok_or_else(invalid)?;
        let map = Mapping::zeroed(bytes).map_err(IpcError::Io)?;
        let mem = RingMemory::new(Arc::new(map), capacity).ok_or_else(invalid)?;
        // No record begun yet: a counter no record starts at (the zeroed 0 is the first
        // record's, and a zeroed header would read as an empty record of a dead writer).
        mem.open().store(u64::MAX, Ordering::Release);
        Ok(Ring { mem })
    }

    /// Bytes of records the ring holds (headers and padding included).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.mem.capacity()
    }

    fn into_memory(self) -> RingMemory {
        self.mem
    }

    /// The ring's memory, for tests that play a writer breaking the protocol.
    #[cfg(test)]
    pub(crate) fn memory(&self) -> &RingMemory {
        &self.mem
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring").field("capacity", &self.capacity()).finish_non_exhaustive()
    }
}

impl Ring {
    /// Closes this process's descriptor of the ring, keeping its memory: for a ring this
    /// process will never send on (a parent reading a worker's answers). It cannot be
    /// sent afterwards.
    ///
    /// ```
    /// let mut ring = multiproc_ipc::Ring::new(4096)?;
    /// ring.detach()?;
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`IpcError::Protocol`] when a clone, reader or writer shares it; [`IpcError::Io`]
    /// when the OS refuses the new mapping.
    pub fn detach(&mut self) -> Result<(), IpcError> {
        self.mem
            .detach()
            .ok_or_else(|| IpcError::Protocol("a ring detached while shared".into()))?
            .map_err(IpcError::Io)
    }
}

impl Serialize for Ring {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let shm = self.mem.map().shm().ok_or_else(|| {
            serde::ser::Error::custom("a ring whose descriptor was closed cannot be sent")
        })?;
        (self.capacity() as u64, shm).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Ring {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Ring, D::Error> {
        let (capacity, shm) = <(u64, IpcSharedMemory)>::deserialize(deserializer)?;
        let capacity = usize::try_from(capacity).map_err(D::Error::custom)?;
        let map = Arc::new(Mapping::from_shm(shm));
        let len = map.len();
        let mem = RingMemory::new(map, capacity).ok_or_else(|| {
            D::Error::custom(format!("ring: {capacity} bytes announced, {len} bytes mapped"))
        })?;
        Ok(Ring { mem })
    }
}
