//! `WriteCursor`: where the one writer puts the next record.

use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{RECORD_ALIGN, RING_HEADER, RingMemory};

/// The writer's position: where the next record goes, and how far the reader has freed.
#[derive(Debug)]
pub(crate) struct WriteCursor {
    mem: RingMemory,
    /// Bytes written (published or about to be).
    head: u64,
    /// The last value of the reader's `tail` this writer accepted.
    tail: u64,
    /// The data index of the record being written in pieces (see [`open`](Self::open)).
    open_at: usize,
    /// Its room after the header; 0 when no record is open.
    open_room: usize,
    /// Where its room begins in the mapping (the byte after its header at `open_at`):
    /// looked up once per record, for the pieces that follow.
    open_data: *mut u8,
}

// SAFETY: `open_data` points into the mapping that `mem` keeps alive (a `Mapping` is
// `Send` and `Sync`); it is only dereferenced through `&mut self`, so a shared reference
// reaches nothing through it.
unsafe impl Send for WriteCursor {}
// SAFETY: as above.
unsafe impl Sync for WriteCursor {}

impl WriteCursor {
    /// Continues the ring where its shared `head` says. A `tail` more than one capacity
    /// behind (or ahead of) the head is not believed: no room until the reader frees some.
    pub(crate) fn new(mem: RingMemory) -> WriteCursor {
        let head = mem.head().load(Ordering::Acquire);
        let tail = mem.tail().load(Ordering::Acquire);
        let cap = mem.capacity as u64;
        let tail = if head.wrapping_sub(tail) <= cap { tail } else { head.wrapping_sub(cap) };
        // No record is open: the data area's start stands for one (room 0).
        let open_data = mem.map.base().wrapping_add(RING_HEADER + 4);
        WriteCursor { mem, head, tail, open_at: 0, open_room: 0, open_data }
    }

    /// The ring.
    pub(crate) fn memory(&self) -> &RingMemory {
        &self.mem
    }

    /// Bytes free for writing, as of the last `tail` seen.
    #[inline]
    pub(crate) fn room(&self) -> u64 {
        self.mem.capacity as u64 - self.head.wrapping_sub(self.tail)
    }

    /// Bytes from the write position to the end of the data area.
    #[inline]
    pub(crate) fn to_end(&self) -> u64 {
        (self.mem.capacity - self.mem.index(self.head)) as u64
    }

    /// Loads the reader's `tail` again (acquire: what it read is done with) and returns the
    /// room. A `tail` that went backwards or past the head is ignored.
    pub(crate) fn refresh(&mut self) -> u64 {
        let seen = self.mem.tail().load(Ordering::Acquire);
        if seen.wrapping_sub(self.tail) <= self.head.wrapping_sub(self.tail) {
            self.tail = seen;
        }
        self.room()
    }

    /// Writes one record at the write position — `header`, then the `len` bytes of `parts` —
    /// and moves the position on by `size` bytes, without publishing it.
    ///
    /// # Panics
    ///
    /// When `size` is not a multiple of [`RECORD_ALIGN`], is below `4 + len`, exceeds the
    /// room or the bytes to the end of the data area, or `parts` hold more than `len`
    /// bytes. (Fewer leave the rest of the record as it was.)
    #[inline]
    pub(crate) fn write<'a>(
        &mut self,
        header: u32,
        len: usize,
        size: u64,
        parts: impl Iterator<Item = &'a [u8]>,
    ) {
        let at = self.mem.index(self.head);
        assert!(
            (at as u64).is_multiple_of(RECORD_ALIGN)
                && size.is_multiple_of(RECORD_ALIGN)
                && (len as u64).checked_add(4).is_some_and(|n| n <= size)
                && size <= self.room()
                && size <= self.to_end(),
            "a record of {len} bytes ({size} in the ring) does not fit at {at}"
        );
        self.mem.record_header(at).store(header, Ordering::Relaxed);
        let mut dst = RING_HEADER + at + 4;
        let end = dst + len;
        for part in parts {
            assert!(part.len() <= end - dst, "record parts longer than announced");
            // SAFETY: `[dst, dst + part.len())` lies in `[RING_HEADER + at + 4, RING_HEADER +
            // at + 4 + len)`, inside this record's `size` bytes, which end before the end of
            // the data area (`size <= to_end`), itself inside the mapping (`RingMemory::new`).
            // The record lies in `[head, tail + capacity)` (`size <= room`), which no reader
            // in this process reads (module docs). A part is memory of this process that is
            // not that range: a reader's slice of this ring lies in `[tail, head)`.
            unsafe { copy(part, self.mem.map.base().add(dst)) }
            dst += part.len();
        }
        self.head = self.head.wrapping_add(size);
        self.open_room = 0;
    }

    /// Room for a record written in place at the write position, after its header: the
    /// bytes free in one piece, at most `max`; `None` when fewer than `min` are (make room,
    /// then ask again).
    #[inline(always)]
    pub(crate) fn in_place(&mut self, min: usize, max: usize) -> Option<&mut [u8]> {
        let at = self.mem.index(self.head);
        let free = self.room().min((self.mem.capacity - at) as u64);
        // The header's 4 bytes come first.
        let len = usize::try_from(free.checked_sub(4)?).unwrap_or(usize::MAX).min(max);
        if len < min {
            return None;
        }
        // SAFETY: `[at + 4, at + 4 + len)` of the data area lies within the room (`free`
        // is at most `room`) and before the end of the data area (at most `capacity -
        // at`), inside the mapping (`RingMemory::new`); it is in `[head, tail +
        // capacity)`, which no reader in this process reads (module docs), and the slice
        // borrows `self` mutably, so nothing else writes it meanwhile. The mapping's bytes
        // are initialized (zeroed at creation, then only ever written with bytes).
        unsafe {
            let start = self.mem.map.base().add(RING_HEADER + at + 4);
            Some(std::slice::from_raw_parts_mut(start, len))
        }
    }

    /// Ends the record whose `len` bytes were written in place (see
    /// [`in_place`](Self::in_place)): writes its header and moves the position past it,
    /// without publishing it.
    ///
    /// # Panics
    ///
    /// When the record does not fit where `in_place` offered it.
    #[inline(always)]
    pub(crate) fn commit(&mut self, header: u32, len: usize) {
        let at = self.mem.index(self.head);
        let size = (len as u64 + 4).next_multiple_of(RECORD_ALIGN);
        assert!(
            size <= self.room() && size <= (self.mem.capacity - at) as u64,
            "a record of {len} bytes does not fit at {at}"
        );
        self.mem.record_header(at).store(header, Ordering::Relaxed);
        self.head = self.head.wrapping_add(size);
        self.open_room = 0;
    }

    /// Begins a record written in pieces at the write position: stores its `header`, names
    /// it in the shared `open` word, and notes the room after it (in one piece, at most
    /// `max` bytes) as the open record's.
    /// Returns that room; `None` (and nothing stored) when fewer than `min` bytes are free
    /// in one piece (make room, then ask again).
    ///
    /// The position and room are checked once, here: [`piece`](Self::piece),
    /// [`set_open_header`](Self::set_open_header) and [`open_parts`](Self::open_parts)
    /// reuse them, so that a piece costs a bounds check and a store.
    #[inline(always)]
    pub(crate) fn open(&mut self, min: usize, max: usize, header: u32) -> Option<usize> {
        let room = self.in_place(min, max)?;
        let (data, room) = (room.as_mut_ptr(), room.len());
        self.open_at = self.mem.index(self.head);
        self.open_room = room;
        self.open_data = data;
        self.set_open_header(header);
        // After the header: a writer that dies between the two leaves an empty record
        // unnamed, which is as good as none.
        self.mem.open().store(self.head, Ordering::Release);
        Some(room)
    }

    /// The bytes of the open record from byte `from` (after its header) to the end of its
    /// room.
    ///
    /// # Panics
    ///
    /// When `from` is past the room (or no record is open: the room is then 0).
    #[inline(always)]
    pub(crate) fn piece(&mut self, from: usize) -> &mut [u8] {
        assert!(from <= self.open_room, "a piece at {from} of a record of {}", self.open_room);
        // SAFETY: `open` found `[open_data, open_data + open_room)` (the bytes after the
        // header at `open_at`) within the room before the end of the data area (as
        // `in_place` does), inside the mapping that `mem` keeps alive, and nothing has
        // moved the position since (every method that does closes the record first); that
        // range is in `[head, tail + capacity)`, which no reader in this process reads
        // (module docs), and the slice borrows `self` mutably. With no record open the
        // room is 0 and the slice empty.
        unsafe {
            std::slice::from_raw_parts_mut(self.open_data.wrapping_add(from), self.open_room - from)
        }
    }

    /// The open record's header word and its room, at once: for a writer that adds many
    /// pieces in one loop and keeps both at hand (see [`OpenParts`]).
    #[inline(always)]
    pub(crate) fn open_parts(&mut self) -> OpenParts<'_> {
        let reach = self.mem.capacity - (self.open_at + 4);
        // SAFETY: the word is the open record's header, as in `set_open_header`; it lies
        // before the room, so it is not part of the slice below.
        let header = unsafe { AtomicU32::from_ptr(self.open_data.sub(4).cast()) };
        let room = self.piece(0);
        OpenParts { header, room, reach }
    }

    /// Stores the header of the open record (release: the bytes written before it are
    /// there for whoever reads it), without moving on.
    #[inline(always)]
    pub(crate) fn set_open_header(&mut self, header: u32) {
        // SAFETY: the 4 bytes before `open_data` are the open record's header, at the data
        // index `open_at` that `open` found to be the write position: a multiple of
        // RECORD_ALIGN below `capacity`, so the word lies in the data area, inside the
        // mapping that `mem` keeps alive, aligned for `AtomicU32` (RING_HEADER is a
        // multiple of 4 on a page-aligned mapping); record headers are only ever accessed
        // atomically, by every process. `open` sets `open_data` before it calls this.
        let word = unsafe { AtomicU32::from_ptr(self.open_data.sub(4).cast()) };
        word.store(header, Ordering::Release);
    }

    /// Ends the open record, whose `len` bytes were written in pieces: writes its `header`
    /// and moves the position past it, without publishing it.
    ///
    /// # Panics
    ///
    /// When `len` exceeds the open record's room.
    #[inline(always)]
    pub(crate) fn close(&mut self, header: u32, len: usize) {
        assert!(len <= self.open_room, "a record of {len} bytes in a room of {}", self.open_room);
        self.set_open_header(header);
        let size = (len as u64 + 4).next_multiple_of(RECORD_ALIGN);
        self.head = self.head.wrapping_add(size);
        self.open_room = 0;
    }

    /// Makes every record written so far visible to the reader (one release store).
    #[inline]
    pub(crate) fn publish(&self) {
        self.mem.head().store(self.head, Ordering::Release);
    }
}

/// The open record's header word and room (see [`WriteCursor::open_parts`]): pieces are
/// written into the room and counted by storing the header, as
/// [`WriteCursor::piece`] and [`WriteCursor::set_open_header`] do, without going back to
/// the cursor for each.
pub(crate) struct OpenParts<'a> {
    header: &'a AtomicU32,
    /// The room after the header.
    pub(crate) room: &'a mut [u8],
    /// Bytes from the room's start to the end of the data area.
    reach: usize,
}

impl OpenParts<'_> {
    /// Stores the header (release: the bytes written before it are there for whoever
    /// reads it).
    #[inline(always)]
    pub(crate) fn set_header(&self, header: u32) {
        self.header.store(header, Ordering::Release);
    }

    /// Asks the core to fetch, for writing, the cache line at byte `at` of the room, if
    /// that is still in the data area. The reader read those lines last time round;
    /// fetching them early takes the wait for them off the writer's path. A hint: it
    /// neither faults nor changes memory.
    #[inline(always)]
    pub(crate) fn prefetch(&self, at: usize) {
        if at < self.reach {
            prefetch_for_write(self.room.as_ptr().wrapping_add(at));
        }
    }
}

/// Asks the core to fetch the cache line at `addr` for writing: a hint, with no effect on
/// memory.
#[inline(always)]
fn prefetch_for_write(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint with no effect on memory and cannot fault, whatever the
    // address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(addr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Copies `part` to `dst`; a part of up to 16 bytes as two overlapping unaligned loads and
/// stores rather than a call to `memcpy` (small records are the common case, and a caller
/// that does not inline `push` would otherwise pay a call per record).
///
/// # Safety
///
/// `dst` is valid for writes of `part.len()` bytes that do not overlap `part`.
#[inline]
unsafe fn copy(part: &[u8], dst: *mut u8) {
    let (src, n) = (part.as_ptr(), part.len());
    match n {
        // Two words that overlap when `n < 16`; neither reaches past `n`.
        8..=16 => {
            // SAFETY: reads `[src, src + 8)` and `[src + n - 8, src + n)`, inside `part`;
            // writes the same offsets from `dst`, inside what the caller vouches for;
            // unaligned accesses are what `read/write_unaligned` are for.
            unsafe {
                let (a, b) = (
                    src.cast::<u64>().read_unaligned(),
                    src.add(n - 8).cast::<u64>().read_unaligned(),
                );
                dst.cast::<u64>().write_unaligned(a);
                dst.add(n - 8).cast::<u64>().write_unaligned(b);
            }
        }
        4..=7 => {
            // SAFETY: as above, with 4-byte words.
            unsafe {
                let (a, b) = (
                    src.cast::<u32>().read_unaligned(),
                    src.add(n - 4).cast::<u32>().read_unaligned(),
                );
                dst.cast::<u32>().write_unaligned(a);
                dst.add(n - 4).cast::<u32>().write_unaligned(b);
            }
        }
        1..=3 => {
            // SAFETY: bytes 0, `n / 2` and `n - 1` of `part` and of the destination, all
            // below `n`.
            unsafe {
                let (a, b, c) = (src.read(), src.add(n / 2).read(), src.add(n - 1).read());
                dst.write(a);
                dst.add(n / 2).write(b);
                dst.add(n - 1).write(c);
            }
        }
        0 => {}
        // SAFETY: `part` is valid for `n` bytes of reads, `dst` for `n` bytes of writes
        // that do not overlap them (the caller's word).
        _ => unsafe { ptr::copy_nonoverlapping(src, dst, n) },
    }
}
