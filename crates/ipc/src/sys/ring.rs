//! The memory of a ring of records, and the only two ways into it: a [`WriteCursor`] for
//! the one writer and a [`ReadCursor`] for the one reader.
//!
//! Layout, in bytes from the start of the mapping:
//!
//! | offset | what                                                  | stored by     |
//! |--------|-------------------------------------------------------|---------------|
//! | 0      | `head`: u64, bytes published                          | writer        |
//! | 128    | `tail`: u64, bytes freed                              | reader        |
//! | 256    | the reader's bell: `sleeping` u32, futex word u32     | both          |
//! | 384    | the writer's bell: `sleeping` u32, futex word u32     | both          |
//! | 392    | `reader_gone`: u32                                    | reader        |
//! | 512    | data: `capacity` bytes, a power of two                | writer        |
//!
//! Each counter has 128 bytes to itself (the adjacent-line prefetcher pairs 64-byte lines),
//! so the writer's stores of `head` and the reader's stores of `tail` do not contend. The
//! counters are monotonic (wrapping) byte counts; counter `c` is at data index
//! `c & (capacity - 1)`. Records start on 8-byte boundaries with a `u32` header, written
//! and read atomically; what a header means is the ring module's business.
//!
//! Why the slices are sound: the writer writes only counters in `[head, tail_seen +
//! capacity)`, where `tail_seen` is a value of `tail` it loaded, and publishes by storing
//! `head` (release). The reader reads only counters in `[freed, published)`, where
//! `published` is a value of `head` it loaded (acquire) and `freed` the last value it
//! stored to `tail`; it stores `tail` only through `&mut ReadCursor`, so no slice it lent
//! out is alive then. Modulo the capacity the two ranges never overlap: within a process,
//! the writer's copies never race the reader's slices. Another process that breaks the
//! protocol can change bytes under the reader (nothing in this process can stop it), which
//! is why headers are read once, atomically, and bounds are checked on the copied values.

use std::fmt;
use std::marker::PhantomData;
use std::ptr;
use std::slice;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::Mapping;

const HEAD: usize = 0;
const TAIL: usize = 128;
const READER_BELL: usize = 256;
const WRITER_BELL: usize = 384;
const READER_GONE: usize = 392;

/// Bytes in front of a ring's data.
pub(crate) const RING_HEADER: usize = 512;

/// Records start at multiples of this many bytes.
pub(crate) const RECORD_ALIGN: u64 = 8;

/// A sleeping flag and the futex word its sleeper waits on (see `ring::bell`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bell<'a> {
    pub(crate) sleeping: &'a AtomicU32,
    pub(crate) word: &'a AtomicU32,
}

/// A mapping seen as a ring: its header words and its data area.
#[derive(Clone)]
pub(crate) struct RingMemory {
    map: Arc<Mapping>,
    capacity: usize,
}

impl RingMemory {
    /// A ring of `capacity` data bytes on `map`; `None` unless `capacity` is a power of two
    /// of at least 8 and the mapping holds the header and the data.
    pub(crate) fn new(map: Arc<Mapping>, capacity: usize) -> Option<RingMemory> {
        let fits = map.len().checked_sub(RING_HEADER).is_some_and(|data| data >= capacity);
        let shaped = capacity.is_power_of_two() && capacity as u64 >= RECORD_ALIGN;
        (fits && shaped).then_some(RingMemory { map, capacity })
    }

    /// The mapping, to send its descriptor to another process.
    pub(crate) fn map(&self) -> &Arc<Mapping> {
        &self.map
    }

    /// Bytes of data.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes published so far (stored by the writer only).
    pub(crate) fn head(&self) -> &AtomicU64 {
        self.header_u64(HEAD)
    }

    /// Bytes freed so far (stored by the reader only).
    pub(crate) fn tail(&self) -> &AtomicU64 {
        self.header_u64(TAIL)
    }

    /// The bell the reader sleeps on while it waits for records.
    pub(crate) fn reader_bell(&self) -> Bell<'_> {
        Bell { sleeping: self.header_u32(READER_BELL), word: self.header_u32(READER_BELL + 4) }
    }

    /// The bell the writer sleeps on while it waits for room.
    pub(crate) fn writer_bell(&self) -> Bell<'_> {
        Bell { sleeping: self.header_u32(WRITER_BELL), word: self.header_u32(WRITER_BELL + 4) }
    }

    /// Non-zero once the reader has gone away.
    pub(crate) fn reader_gone(&self) -> &AtomicU32 {
        self.header_u32(READER_GONE)
    }

    /// Data index of a counter.
    #[inline]
    fn index(&self, counter: u64) -> usize {
        // The mask is below `capacity`, a `usize`: the cast is lossless.
        (counter & (self.capacity as u64 - 1)) as usize
    }

    #[inline]
    fn header_u64(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset.is_multiple_of(8) && offset + 8 <= RING_HEADER);
        // SAFETY: `offset` is one of this file's constants, a multiple of 8 below
        // RING_HEADER, and `new` checked that the mapping is longer than RING_HEADER; the
        // mapping is page-aligned, so the pointer is aligned for `AtomicU64`; the memory
        // lives as long as `self.map`; every process only accesses header words atomically.
        unsafe { AtomicU64::from_ptr(self.map.base().add(offset).cast::<u64>()) }
    }

    #[inline]
    fn header_u32(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset.is_multiple_of(4) && offset + 4 <= RING_HEADER);
        // SAFETY: as in `header_u64`, with a multiple of 4 for `AtomicU32`.
        unsafe { AtomicU32::from_ptr(self.map.base().add(offset).cast::<u32>()) }
    }

    /// The record header at data index `at`.
    #[inline]
    fn record_header(&self, at: usize) -> &AtomicU32 {
        assert!(at.is_multiple_of(4) && at < self.capacity, "record header at {at} out of place");
        // SAFETY: `at + 4 <= capacity` (a multiple of 4 below it), so the word lies in the
        // data area, which `new` checked is inside the mapping; RING_HEADER and `at` are
        // multiples of 4 on a page-aligned mapping; the memory lives as long as `self.map`;
        // record headers are only ever accessed atomically, by every process.
        unsafe { AtomicU32::from_ptr(self.map.base().add(RING_HEADER + at).cast::<u32>()) }
    }
}

impl fmt::Debug for RingMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingMemory").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

/// The writer's position: where the next record goes, and how far the reader has freed.
#[derive(Debug)]
pub(crate) struct WriteCursor {
    mem: RingMemory,
    /// Bytes written (published or about to be).
    head: u64,
    /// The last value of the reader's `tail` this writer accepted.
    tail: u64,
}

impl WriteCursor {
    /// Continues the ring where its shared `head` says. A `tail` more than one capacity
    /// behind (or ahead of) the head is not believed: no room until the reader frees some.
    pub(crate) fn new(mem: RingMemory) -> WriteCursor {
        let head = mem.head().load(Ordering::Acquire);
        let tail = mem.tail().load(Ordering::Acquire);
        let cap = mem.capacity as u64;
        let tail = if head.wrapping_sub(tail) <= cap { tail } else { head.wrapping_sub(cap) };
        WriteCursor { mem, head, tail }
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
            unsafe {
                ptr::copy_nonoverlapping(part.as_ptr(), self.mem.map.base().add(dst), part.len())
            }
            dst += part.len();
        }
        self.head = self.head.wrapping_add(size);
    }

    /// Makes every record written so far visible to the reader (one release store).
    #[inline]
    pub(crate) fn publish(&self) {
        self.mem.head().store(self.head, Ordering::Release);
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(capacity: usize) -> RingMemory {
        let map = Arc::new(Mapping::zeroed(RING_HEADER + capacity).unwrap());
        RingMemory::new(map, capacity).unwrap()
    }

    #[test]
    fn shapes_are_checked() {
        let map = Arc::new(Mapping::zeroed(RING_HEADER + 64).unwrap());
        assert!(RingMemory::new(map.clone(), 128).is_none(), "too small a mapping");
        assert!(RingMemory::new(map.clone(), 48).is_none(), "not a power of two");
        assert!(RingMemory::new(map.clone(), 4).is_none(), "below one record");
        assert!(RingMemory::new(map, 64).is_some());
    }

    #[test]
    fn written_records_are_read_after_publishing() {
        let mem = memory(64);
        let mut w = WriteCursor::new(mem.clone());
        let mut r = ReadCursor::new(mem);
        w.write(7, 5, 16, [&b"ab"[..], b"cde"].into_iter());
        assert_eq!(r.published().unwrap().end(), 0, "not published yet");
        assert!(!r.has_published());
        w.publish();
        let window = r.published().unwrap();
        assert_eq!((window.end(), window.header(0)), (16, Some(7)));
        assert_eq!(window.bytes(4, 5), Some(&b"abcde"[..]));
        assert_eq!(window.bytes(4, 13), None, "past the published end");
        assert_eq!(window.header(2), None, "misaligned");
        assert_eq!(w.room(), 48);
        r.free_to(16);
        assert_eq!(w.refresh(), 64);
    }

    #[test]
    fn a_window_never_runs_past_the_end_of_the_data() {
        let mem = memory(64);
        let mut w = WriteCursor::new(mem.clone());
        let mut r = ReadCursor::new(mem);
        w.write(1, 52, 56, std::iter::empty());
        w.write(2, 0, 8, std::iter::empty());
        w.publish();
        r.free_to(56);
        w.refresh();
        w.write(3, 4, 8, [&b"wrap"[..]].into_iter());
        w.publish();
        let window = r.published().unwrap();
        assert_eq!(window.header(64), Some(3));
        assert_eq!(window.until_end(56), 8);
        assert!(window.bytes(56, 8).is_some() && window.bytes(56, 16).is_none(), "no crossing");
        assert_eq!(window.bytes(68, 4), Some(&b"wrap"[..]));
    }

    #[test]
    fn a_head_beyond_one_capacity_is_refused() {
        let mem = memory(64);
        mem.head().store(72, Ordering::Release);
        assert_eq!(ReadCursor::new(mem.clone()).published().unwrap_err(), 72);
        mem.tail().store(200, Ordering::Release);
        assert_eq!(WriteCursor::new(mem).room(), 0, "an unbelievable tail leaves no room");
    }

    /// A child process stores arbitrary words all over the ring (head, bells, data) while
    /// this process reads it: the reader yields records or protocol errors, nothing else.
    /// (Here because it forks: the scribbling is outside this process, so the reader's
    /// in-place reads race it only as they would race a hostile writer.)
    #[test]
    fn a_writer_scribbling_during_reads_only_causes_protocol_errors() {
        let (a, b) = crate::duplex().unwrap();
        let ring = crate::Ring::new(4096).unwrap();
        let mut writer = crate::RingWriter::new(ring.clone(), b.split().0);
        for i in 0..20u8 {
            // 2 KiB in the ring at most, and every fifth record staged.
            let len = if i % 5 == 4 { 600 } else { usize::from(i) * 13 };
            writer.push(i % 16, std::iter::repeat_n(&[i][..], len)).unwrap();
        }
        let map = ring.memory().map().clone();
        #[expect(clippy::disallowed_methods, reason = "the hostile writer is a forked child")]
        // SAFETY: the child only does atomic stores and arithmetic, then `_exit`s: no
        // allocation, no lock, nothing the parent's other threads could hold.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let words = map.len() / 8;
            let mut x = 0x9e37_79b9_7f4a_7c15_u64;
            for _ in 0..2_000_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let word = if x.is_multiple_of(4) { 0 } else { (x >> 8) as usize % words };
                let value = if x.is_multiple_of(3) { x % 8192 } else { x.rotate_left(17) };
                map.word(word).store(value, Ordering::Relaxed);
            }
            // SAFETY: ends the child without running the test harness's destructors.
            unsafe { libc::_exit(0) };
        }
        let mut reader = crate::RingReader::new(ring, a.split().1);
        let (mut records, mut errors) = (0u64, 0u64);
        let status = loop {
            let soon = std::time::Instant::now() + std::time::Duration::from_micros(200);
            let _ = reader.wait(std::time::Duration::ZERO, Some(soon));
            for record in reader.records() {
                match record {
                    Ok(record) => {
                        records += record.bytes().iter().map(|&b| u64::from(b)).sum::<u64>().min(1)
                    }
                    Err(crate::IpcError::Protocol(_)) => errors += 1,
                    Err(other) => panic!("not a protocol error: {other:?}"),
                }
            }
            let mut status = 0;
            // SAFETY: `pid` is this test's child; `status` is a valid place for its status.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                break status;
            }
        };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
        assert!(records + errors > 0);
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn writing_past_the_room_panics() {
        let mut w = WriteCursor::new(memory(64));
        w.write(0, 60, 64, std::iter::empty());
        w.write(0, 0, 8, std::iter::empty());
    }
}
