//! `ReadCursor` and `Window`: what the one reader may read, and how far it has freed.
//!
//! The reader never reads records where the writer wrote them: the writer is another
//! process, which may break the protocol and rewrite published bytes while the reader (or
//! whoever it lent them to) reads them, and Rust promises nothing for a reference over
//! memory that changes under it. So the cursor keeps a shadow of the data area in memory
//! of its own: each time it looks at `head`, it copies what was published since (with
//! atomic loads, see `shm::copy_atomically`) to the same indices of the shadow, and every
//! header and every lent slice is read there. A writer that rewrites its records can
//! only change what the reader copies next, as it could have published other bytes
//! anyway. The copy is the published bytes once, which costs a fraction of decoding them.

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::slice;
use std::sync::atomic::Ordering;

use super::{RING_HEADER, RingMemory};
use crate::sys::shm::copy_atomically;

/// The reader's position: how far it has freed the ring for the writer, and its private
/// copy of what was published.
pub(crate) struct ReadCursor {
    mem: RingMemory,
    freed: u64,
    /// The data area's bytes as last copied, at the same indices.
    shadow: Box<[UnsafeCell<MaybeUninit<u8>>]>,
    /// Counters up to here are in the shadow (from `freed` on).
    copied: Cell<u64>,
}

impl ReadCursor {
    /// Continues the ring where its shared `tail` says.
    pub(crate) fn new(mem: RingMemory) -> ReadCursor {
        let freed = mem.tail().load(Ordering::Acquire);
        let shadow = (0..mem.capacity).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect();
        ReadCursor { mem, freed, shadow, copied: Cell::new(freed) }
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

    /// The bytes published and not yet freed, copied into the shadow, or `Err(head)` when
    /// the shared head is not within one capacity ahead of what this reader freed.
    pub(crate) fn published(&self) -> Result<Window<'_>, u64> {
        let head = self.mem.head().load(Ordering::Acquire);
        if head.wrapping_sub(self.freed) > self.mem.capacity as u64 {
            return Err(head);
        }
        // A head that went back (a writer breaking the protocol) copies nothing: the
        // window ends there, and reading on from further on fails.
        if head.wrapping_sub(self.freed) > self.copied.get().wrapping_sub(self.freed) {
            self.copy(self.copied.get(), head);
        }
        Ok(self.window(self.freed, head))
    }

    /// Copies counters `[from, to)` from the ring into the shadow (at most the data area's
    /// end, then from its start).
    fn copy(&self, from: u64, to: u64) {
        let mask = self.mem.capacity as u64 - 1;
        let mut at = from;
        while at != to {
            let index = (at & mask) as usize;
            let len = (to.wrapping_sub(at)).min(mask + 1 - (at & mask)) as usize;
            // SAFETY: RING_HEADER + `[index, index + len)` lies inside the mapping (the
            // data area is `capacity` bytes, `index + len <= capacity`), which only ever
            // is accessed atomically from this process. The destination is the shadow's
            // `[index, index + len)`: counters `[from, to)` lie beyond what this cursor
            // copied before, and less than one capacity after what it freed, so no slice
            // lent from the shadow (all within `[freed, copied)`) covers them.
            unsafe {
                let src = self.mem.map.base().add(RING_HEADER + index);
                let dst = slice::from_raw_parts_mut(
                    UnsafeCell::raw_get(self.shadow.as_ptr().add(index)),
                    len,
                );
                copy_atomically(src, dst, len);
            }
            at = at.wrapping_add(len as u64);
        }
        self.copied.set(to);
    }

    /// The shadow's counters `[start, end)`.
    fn window(&self, start: u64, end: u64) -> Window<'_> {
        let data = UnsafeCell::raw_get(self.shadow.as_ptr()).cast::<u8>().cast_const();
        let mask = self.mem.capacity as u64 - 1;
        Window { data, mask, start, end, memory: PhantomData }
    }

    /// Whether the writer named counter `at` as the start of its record written in pieces
    /// (see `RingMemory::open`).
    pub(crate) fn opened_at(&self, at: u64) -> bool {
        self.mem.open().load(Ordering::Acquire) == at
    }

    /// The bytes from counter `at` to the end of the data area, published or not, but
    /// not past one capacity after what was freed: where a record left open by a writer
    /// that is gone is read (`RingWriter::open`). Copied into the shadow like published
    /// bytes; their contents are whatever the writer left, and the reader checks them as
    /// any others. `at` is where the published bytes end.
    pub(crate) fn beyond(&self, at: u64) -> Window<'_> {
        let mask = self.mem.capacity as u64 - 1;
        let room = self.freed.wrapping_add(mask + 1).wrapping_sub(at);
        let end = at.wrapping_add((mask + 1 - (at & mask)).min(room));
        if at == self.copied.get() && room <= mask + 1 {
            self.copy(at, end);
            self.window(at, end)
        } else {
            self.window(at, at)
        }
    }

    /// Hands the bytes up to counter `to` back to the writer (one release store: the reads
    /// of them are done before the writer can see the room). Takes `&mut self`: no slice
    /// lent from the shadow is alive any more.
    pub(crate) fn free_to(&mut self, to: u64) {
        if to.wrapping_sub(self.freed) > self.copied.get().wrapping_sub(self.freed) {
            self.copied.set(to);
        }
        self.freed = to;
        self.mem.tail().store(to, Ordering::Release);
    }
}

impl std::fmt::Debug for ReadCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCursor")
            .field("freed", &self.freed)
            .field("copied", &self.copied.get())
            .finish_non_exhaustive()
    }
}

/// Published bytes the reader may read, in its shadow: counters `[start, end)`.
///
/// Holds the data area's address and mask, looked up once, so that reading a record is one
/// load of its header and one bounds check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window<'a> {
    /// The first byte of the shadow, borrowed for `'a`.
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

    /// The record header at counter `at`; `None` when it is not 4-byte aligned or not in
    /// the window.
    #[inline]
    pub(crate) fn header(&self, at: u64) -> Option<u32> {
        let bytes = self.bytes(at, 4).filter(|_| at.is_multiple_of(4))?;
        Some(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// The bytes at counters `[at, at + len)`; `None` when they are not in the window.
    #[inline]
    pub(crate) fn bytes(&self, at: u64, len: u64) -> Option<&'a [u8]> {
        if !self.holds(at, len) {
            return None;
        }
        // Both below the capacity (`holds`), a `usize`.
        let (index, len) = ((at & self.mask) as usize, len as usize);
        // SAFETY: `[index, index + len)` lies in the shadow (`holds`: no further than its
        // end), borrowed for `'a`. Its bytes were copied there (`[start, end)` is within
        // what the cursor copied) and are not written again while `'a` lasts: the cursor
        // copies only counters past what it copied before, less than one capacity after
        // what it freed, and freeing takes it mutably, ending `'a`.
        Some(unsafe { slice::from_raw_parts(self.data.add(index), len) })
    }
}
