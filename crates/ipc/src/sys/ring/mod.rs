//! The memory of a ring of records, and the only two ways into it: a [`WriteCursor`] for
//! the one writer (`write.rs`) and a [`ReadCursor`] for the one reader (`read.rs`).
//!
//! Layout, in bytes from the start of the mapping:
//!
//! | offset | what                                                  | stored by     |
//! |--------|-------------------------------------------------------|---------------|
//! | 0      | `head`: u64, bytes published                          | writer        |
//! | 8      | `open`: u64, where the record written in pieces began | writer        |
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

mod read;
#[cfg(test)]
mod tests;
mod write;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64};

use super::Mapping;

pub(crate) use read::{ReadCursor, Window};
pub(crate) use write::WriteCursor;

const HEAD: usize = 0;
const OPEN: usize = 8;
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

    /// Closes this process's descriptor of the ring (see `Mapping::detach`); `None` when
    /// another value shares the mapping.
    pub(crate) fn detach(&mut self) -> Option<std::io::Result<()>> {
        Arc::get_mut(&mut self.map).map(Mapping::detach)
    }

    /// Bytes of data.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes published so far (stored by the writer only).
    pub(crate) fn head(&self) -> &AtomicU64 {
        self.header_u64(HEAD)
    }

    /// The counter at which the writer last began a record written in pieces (stored by
    /// the writer only, after that record's header): a record found at the published head
    /// after the writer died is the writer's only if this names it, not bytes left there
    /// a lap before.
    pub(crate) fn open(&self) -> &AtomicU64 {
        self.header_u64(OPEN)
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
