//! `RingReader`: the one reader of a ring, its wait, and the handle that interrupts it.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, compiler_fence};
use std::time::{Duration, Instant};

use super::records::Records;
use super::{Ring, bell};
use crate::Receiver;
use crate::sys::{ReadCursor, RingMemory};

/// How a [`RingReader::wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Wait {
    /// Records are waiting to be read.
    Ready,
    /// The ring was closed ([`RingCloser::close`]); what was published can still be read.
    Closed,
    /// The deadline passed first.
    TimedOut,
}

/// The one reader of a [`Ring`]: reads the records a [`RingWriter`](crate::RingWriter)
/// published, in order, in place.
///
/// It holds the ring and the [`Receiver`] of the direction the records come from, which
/// resolves records staged in shared-memory regions (it stays usable for frames through
/// [`receiver`](Self::receiver)). The room of the records read goes back to the writer
/// when the reader next reads or waits: the borrow of their bytes has ended by then.
///
/// Dropping the reader tells the writer: a writer waiting for room gets
/// [`IpcError::Disconnected`](crate::IpcError::Disconnected).
///
/// A record read in place cannot be kept past the reader's next call, which may hand its
/// room to the writer (copy it, or keep a staged record's `Message`):
///
/// ```compile_fail,E0499
/// use std::time::Duration;
/// use multiproc_ipc::{Ring, RingReader, duplex};
///
/// let (parent, _child) = duplex()?;
/// let mut reader = RingReader::new(Ring::new(4096)?, parent.split().1);
/// let first = reader.records().next();
/// let _ = reader.wait(Duration::ZERO, None); // error: `reader` is still borrowed
/// drop(first);
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
///
/// ```
/// use std::time::{Duration, Instant};
/// use multiproc_ipc::{Ring, RingReader, RingWriter, Wait, duplex};
///
/// let ring = Ring::new(4096)?;
/// let (parent, child) = duplex()?;
/// let mut reader = RingReader::new(ring.clone(), parent.split().1);
/// let writer = std::thread::spawn(move || { // in real use, another process
///     let mut writer = RingWriter::new(ring, child.split().0);
///     (0..1000u32).try_for_each(|i| writer.push(0, std::iter::once(&i.to_le_bytes()[..])))
/// });
/// let mut next = 0u32;
/// while next < 1000 {
///     assert_eq!(reader.wait(Duration::from_micros(50), None), Wait::Ready);
///     for record in reader.records() {
///         assert_eq!(record?.bytes(), next.to_le_bytes());
///         next += 1;
///     }
/// }
/// writer.join().unwrap()?;
/// let soon = Instant::now() + Duration::from_millis(1);
/// assert_eq!(reader.wait(Duration::ZERO, Some(soon)), Wait::TimedOut);
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
#[derive(Debug)]
pub struct RingReader {
    cursor: ReadCursor,
    /// Where the next record starts: what `records` read up to, freed later.
    next: Cell<u64>,
    resolver: Receiver,
    closed: Arc<AtomicBool>,
}

impl RingReader {
    /// Reads from `ring`, resolving staged records with `resolver`: the receiving half of
    /// the channel whose sending half the writer stages them with.
    #[must_use]
    pub fn new(ring: Ring, resolver: Receiver) -> RingReader {
        let mem = ring.into_memory();
        mem.reader_gone().store(0, Ordering::SeqCst);
        let cursor = ReadCursor::new(mem);
        let next = Cell::new(cursor.freed());
        RingReader { cursor, next, resolver, closed: Arc::new(AtomicBool::new(false)) }
    }

    /// The records published and not read yet, in order, read in place (see
    /// [`Records`]): all of them once the ring is closed; while it is open, at most a
    /// quarter of the ring's capacity of them per call, so that the writer can write
    /// while they are read (call again, or [`wait`](Self::wait), which returns
    /// [`Wait::Ready`] at once while records are left).
    ///
    /// First hands the room of the records read before back to the writer (one store, and
    /// a wake if it waits for room).
    pub fn records(&mut self) -> Records<'_> {
        self.release();
        let closed = self.is_closed();
        let run = if closed { u64::MAX } else { self.cursor.memory().capacity() as u64 / 4 };
        Records::new(&self.cursor, &self.next, &self.resolver, run, closed)
    }

    /// Waits until a record is published, the ring is closed, or `deadline` passes.
    ///
    /// First hands the room of the records read back to the writer. Then polls for up to
    /// `spin` (see [`spin`](crate::spin())), then sleeps on a futex that the writer rings
    /// when it publishes. Once the ring is closed, returns [`Wait::Closed`] at once, even
    /// with records waiting (read them with [`records`](Self::records)).
    pub fn wait(&mut self, spin: Duration, deadline: Option<Instant>) -> Wait {
        self.release();
        let check = || {
            if self.is_closed() {
                Some(Wait::Closed)
            } else if self.cursor.has_published() {
                Some(Wait::Ready)
            } else {
                None
            }
        };
        if let Some(woke) = crate::spin(spin, deadline, check) {
            return woke;
        }
        bell::sleep(self.cursor.memory().reader_bell(), deadline, check).unwrap_or(Wait::TimedOut)
    }

    /// A handle that another thread of this process uses to end this reader's waits for
    /// good (e.g. when the writer's process has exited).
    #[must_use]
    pub fn closer(&self) -> RingCloser {
        RingCloser { mem: self.cursor.memory().clone(), closed: self.closed.clone() }
    }

    /// Whether [`RingCloser::close`] was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The receiver this reader resolves staged records with, to read frames from it too.
    #[must_use]
    pub fn receiver(&self) -> &Receiver {
        &self.resolver
    }

    /// Frees the records read for the writer.
    fn release(&mut self) {
        let next = self.next.get();
        if next != self.cursor.freed() {
            self.cursor.free_to(next);
            // Keeps the compiler from loading the flag before the store (module docs).
            compiler_fence(Ordering::SeqCst);
            bell::wake_if_sleeping(self.cursor.memory().writer_bell());
        }
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        let mem = self.cursor.memory();
        mem.reader_gone().store(1, Ordering::SeqCst);
        bell::wake(mem.writer_bell());
    }
}

/// Ends a [`RingReader`]'s waits for good, from another thread of the reader's process:
/// its [`wait`](RingReader::wait) returns [`Wait::Closed`] now and from then on.
///
/// The flag lives in the reading process, not in the ring: the writer can neither set nor
/// clear it. `Clone`, `Send` and `Sync`.
///
/// ```
/// use std::time::Duration;
/// use multiproc_ipc::{Ring, RingReader, Wait, duplex};
///
/// let (parent, _child) = duplex()?;
/// let mut reader = RingReader::new(Ring::new(4096)?, parent.split().1);
/// let closer = reader.closer();
/// std::thread::spawn(move || closer.close()); // e.g. when the writer's pidfd fires
/// assert_eq!(reader.wait(Duration::ZERO, None), Wait::Closed);
/// assert!(reader.is_closed());
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RingCloser {
    mem: RingMemory,
    closed: Arc<AtomicBool>,
}

impl RingCloser {
    /// Marks the ring closed and wakes its reader.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        bell::wake(self.mem.reader_bell());
    }
}
