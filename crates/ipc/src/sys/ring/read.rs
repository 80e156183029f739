//! `ReadCursor` and `Window`: what the one reader may read, and how far it has freed.

use std::marker::PhantomData;
use std::slice;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{RING_HEADER, RingMemory};

/// The reader's position: how far it has freed the ring for the writer.
#[derive(Debug)]
pub(crate) struct ReadCursor {
    mem: RingMemory,
    freed: u64,
}

impl ReadCursor {
    /// Continues the ring where its shared `tail` says.
    pub(crate) fn new(mem: RingMemory) -> ReadCursor {
        let freed = mem.tail().load(Ordering::Acquire);
        ReadCursor { mem, freed }
    }

    /// The ring.
    pub(crate) fn memory(&self) -> &RingMemory {
        &self.mem
    }

    /// Bytes freed so far.
    pub(crate) fn freed(&self) -> u64 {
        self.freed
    }

    /// Whether the writer has published past what this reader freed (one acquire load).
    #[inline]
    pub(crate) fn has_published(&self) -> bool {
        self.mem.head().load(Ordering::Acquire) != self.freed
    }

    /// The bytes published and not yet freed, or `Err(head)` when the shared head is not
    /// within one capacity ahead of what this reader freed.
    pub(crate) fn published(&self) -> Result<Window<'_>, u64> {
        let head = self.mem.head().load(Ordering::Acquire);
        if head.wrapping_sub(self.freed) <= self.mem.capacity as u64 {
            // SAFETY: RING_HEADER is inside the mapping (`RingMemory::new`).
            let data = unsafe { self.mem.map.base().add(RING_HEADER) }.cast_const();
            let mask = self.mem.capacity as u64 - 1;
            Ok(Window { data, mask, start: self.freed, end: head, memory: PhantomData })
        } else {
            Err(head)
        }
    }

    /// Whether the writer named counter `at` as the start of its record written in pieces
    /// (see `RingMemory::open`).
    pub(crate) fn opened_at(&self, at: u64) -> bool {
        self.mem.open().load(Ordering::Acquire) == at
    }

    /// The bytes from counter `at` to the end of the data area, published or not: where a
    /// record left open by a writer that is gone is read (`RingWriter::open`). Their
    /// contents are whatever the writer left; the reader checks them as any others.
    pub(crate) fn beyond(&self, at: u64) -> Window<'_> {
        // SAFETY: RING_HEADER is inside the mapping (`RingMemory::new`).
        let data = unsafe { self.mem.map.base().add(RING_HEADER) }.cast_const();
        let mask = self.mem.capacity as u64 - 1;
        let end = at.wrapping_add(mask + 1 - (at & mask));
        Window { data, mask, start: at, end, memory: PhantomData }
    }

    /// Hands the bytes up to counter `to` back to the writer (one release store: the reads
    /// of them are done before the writer can see the room).
    pub(crate) fn free_to(&mut self, to: u64) {
        self.freed = to;
        self.mem.tail().store(to, Ordering::Release);
    }
}

/// Published bytes the reader may read: counters `[start, end)`.
///
/// Holds the data area's address and mask, looked up once, so that reading a record is one
/// load of its header and one bounds check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window<'a> {
    /// The first byte of the data area, inside a mapping borrowed for `'a`.
    data: *const u8,
    /// Capacity - 1.
    mask: u64,
    start: u64,
    end: u64,
    memory: PhantomData<&'a RingMemory>,
}

impl<'a> Window<'a> {
    /// The counter just past the published bytes.
    #[inline]
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Bytes from counter `at` to the end of the data area.
    #[inline]
    pub(crate) fn until_end(&self, at: u64) -> u64 {
        self.mask + 1 - (at & self.mask)
    }

    /// Whether counters `[at, at + len)` lie in the window without running past the end
    /// of the data area.
    #[inline]
    fn holds(&self, at: u64, len: u64) -> bool {
        let offset = at.wrapping_sub(self.start);
        let span = self.end.wrapping_sub(self.start);
        offset <= span && len <= span - offset && len <= self.until_end(at)
    }

    /// The record header at counter `at`, read once (atomically); `None` when it is not
    /// 4-byte aligned or not in the window.
    #[inline]
    pub(crate) fn header(&self, at: u64) -> Option<u32> {
        if !at.is_multiple_of(4) || !self.holds(at, 4) {
            return None;
        }
        // `at & mask` is below the capacity, a `usize`.
        let index = (at & self.mask) as usize;
        // SAFETY: `[index, index + 4)` lies in the data area (`holds`), inside the mapping
        // borrowed for `'a`; `data` is page-aligned plus RING_HEADER and `index` a multiple
        // of 4, so the pointer is aligned for `AtomicU32`; record headers are only ever
        // accessed atomically, by every process.
        let word = unsafe { AtomicU32::from_ptr(self.data.add(index).cast_mut().cast::<u32>()) };
        Some(word.load(Ordering::Relaxed))
    }

    /// The bytes at counters `[at, at + len)`; `None` when they are not in the window.
    #[inline]
    pub(crate) fn bytes(&self, at: u64, len: u64) -> Option<&'a [u8]> {
        if !self.holds(at, len) {
            return None;
        }
        // Both below the capacity (`holds`), a `usize`.
        let (index, len) = ((at & self.mask) as usize, len as usize);
        // SAFETY: `[index, index + len)` lies in the data area (`holds`: no further than
        // its end), inside the mapping borrowed for `'a`. The bytes are published (`end`
        // was acquire-loaded from `head`, so the writer's copies are visible) and not freed
        // (`start` is what this reader freed last, and freeing takes the `ReadCursor`
        // mutably, ending `'a`): by the protocol no writer touches them.
        Some(unsafe { slice::from_raw_parts(self.data.add(index), len) })
    }
}
