//! [`Ring`]: messages one way through shared memory — a byte ring whose whole state is
//! committed by one store, so a process killed at any instruction leaves it consistent.
//!
//! Header (at `hdr`, [`RING_HEADER`] bytes):
//!
//! ```text
//!   0  robust mutex: guards everything below but the armed flags
//!  64  current: u64 — which state block holds the committed state (0 or 1)
//! 128  state block 0: head, tail, count, unfinished, wrap (u64 each)
//! 192  state block 1
//! 256  consumers_armed: u32 — a consumer sleeps (or is about to): ring its bell
//! 260  items_rung: u32 — a bell for items may be unread
//! 320  producers_armed: u32 — a producer waits for space
//! 324  room_rung: u32 — a bell for room may be unread
//! 384  post_next: u64 — the next id of a message sent beside the ring (with descriptors)
//! 448  joined: u32 futex, bumped when `unfinished` drops to 0; joiners: u32
//! ```
//!
//! **Committing.** A writer (holding the lock) writes entries only into free space, then
//! writes the new state into the block that is *not* current and flips `current`: one
//! store. Whoever dies holding the lock leaves either the old state or the new one, each
//! pointing at complete entries only: a killed producer never tears a message, and never
//! loses anyone else's. The next locker gets `OwnerDied` and has nothing to repair.
//!
//! **Entries.** `len: u32 | tag << 32` (8 bytes), then for a `POSTED` entry the id of
//! the message that carries its descriptors (8 bytes), then the payload, padded to 8.
//!
//! **Space.** Data lives in `[head, tail)`, or in `[head, wrap)` then `[0, tail)` once the
//! producer has wrapped. An empty ring starts again at 0, so a ring whose consumer keeps
//! up stays in its first pages. Past the warm size the producer wraps as soon as the
//! start is free; while it is not, it keeps going into the (sparse, untouched) address
//! space beyond: a queue whose consumer stalls grows, it does not block, up to the
//! ring's capacity. A wrapped ring that runs out of room is compacted: its data moved,
//! in order, above the old end, where it can grow again. Pages beyond the warm size are
//! given back once no data lives there.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use crate::sys::memory::Mapping;

/// Bytes of a ring's header.
pub(crate) const RING_HEADER: usize = 512;
/// A ring that stays below this many bytes never wraps early nor gives pages back (or
/// half its capacity, if less).
pub(crate) const WARM: u64 = 1 << 20;
/// Pages are given back in spans of at least this many bytes.
const RELEASE_MIN: u64 = 1 << 20;

const CURRENT: usize = 64;
const BLOCKS: usize = 128;
const CONSUMERS_ARMED: usize = 256;
const ITEMS_RUNG: usize = 260;
const PRODUCERS_ARMED: usize = 320;
const ROOM_RUNG: usize = 324;
const POST_NEXT: usize = 384;
const JOINED: usize = 448;
const JOINERS: usize = 452;

/// `wrap` when the ring has not wrapped.
const NOT_WRAPPED: u64 = u64::MAX;

/// An entry's tag: its payload is all there is.
pub(crate) const ITEM: u8 = 1;
/// An entry's tag: descriptors for it travel beside the ring, in a message with its id.
pub(crate) const POSTED: u8 = 2;

/// The committed state of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    head: u64,
    tail: u64,
    /// Entries in the ring.
    pub count: u64,
    /// Items put and not yet marked done (`JoinableQueue`).
    pub unfinished: u64,
    wrap: u64,
    /// Not stored: this transaction compacted the ring, so the space the data left still
    /// holds the committed state's data, and must not be written before a commit.
    compacted: bool,
}

/// One entry found at the head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    /// `ITEM` or `POSTED`.
    pub tag: u8,
    /// The id of the descriptors' message (`POSTED`).
    pub post: u64,
    /// Payload bytes.
    pub len: usize,
    /// Where the entry starts and where its payload starts, in the data area.
    start: u64,
    at: u64,
    /// The entry's size, padding included.
    size: u64,
}

/// What a ring holds is not a well-formed entry: shared memory was overwritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrupt(pub String);

/// A span of the data area that may be given back (once the state that freed it is
/// committed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Freed(u64, u64);

/// A ring inside an object's mapping: its header at `hdr`, `cap` bytes of data at `data`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ring<'a> {
    map: &'a Mapping,
    hdr: usize,
    data: usize,
    cap: u64,
}

impl<'a> Ring<'a> {
    /// The ring at `hdr` whose data is `[data, data + cap)`.
    pub(crate) fn at(map: &'a Mapping, hdr: usize, data: usize, cap: usize) -> Ring<'a> {
        assert!(map.contains(hdr, RING_HEADER) && map.contains(data, cap) && data % 8 == 0);
        Ring { map, hdr, data, cap: cap as u64 }
    }

    /// Offset of the ring's mutex in the mapping.
    pub(crate) fn mutex_offset(&self) -> usize {
        self.hdr
    }

    /// Sets up the state of a fresh ring (the mutex is initialised by the caller).
    pub(crate) fn init(&self) {
        let empty = State {
            head: 0,
            tail: 0,
            count: 0,
            unfinished: 0,
            wrap: NOT_WRAPPED,
            compacted: false,
        };
        self.write_block(0, &empty);
        self.map.u64_at(self.hdr + CURRENT).store(0, Ordering::Release);
    }

    fn warm(&self) -> u64 {
        WARM.min(self.cap / 2)
    }

    fn word(&self, off: usize) -> &'a AtomicU64 {
        self.map.u64_at(self.hdr + off)
    }

    fn block(&self, index: u64) -> usize {
        BLOCKS + (index as usize & 1) * 64
    }

    fn write_block(&self, index: u64, st: &State) {
        let at = self.block(index);
        for (i, v) in [st.head, st.tail, st.count, st.unfinished, st.wrap].into_iter().enumerate() {
            self.word(at + 8 * i).store(v, Ordering::Relaxed);
        }
    }

    /// The committed state (read under the lock).
    pub(crate) fn state(&self) -> State {
        let at = self.block(self.word(CURRENT).load(Ordering::Acquire));
        let w = |i: usize| self.word(at + 8 * i).load(Ordering::Relaxed);
        State {
            head: w(0),
            tail: w(1),
            count: w(2),
            unfinished: w(3),
            wrap: w(4),
            compacted: false,
        }
    }

    /// Makes `st` the committed state: the block not current, then one flip.
    pub(crate) fn commit(&self, st: &State) {
        let next = self.word(CURRENT).load(Ordering::Relaxed) ^ 1;
        self.write_block(next, st);
        self.word(CURRENT).store(next, Ordering::Release);
    }

    /// Entries in the ring, read without the lock (a hint: it may be about to change).
    pub(crate) fn count_hint(&self) -> u64 {
        let at = self.block(self.word(CURRENT).load(Ordering::Acquire));
        self.word(at + 16).load(Ordering::Relaxed)
    }

    /// Unfinished items, read without the lock (a hint).
    pub(crate) fn unfinished_hint(&self) -> u64 {
        let at = self.block(self.word(CURRENT).load(Ordering::Acquire));
        self.word(at + 24).load(Ordering::Relaxed)
    }

    /// Bytes an entry with `len` payload bytes takes.
    pub(crate) fn entry_size(len: usize, tag: u8) -> u64 {
        8 + if tag == POSTED { 8 } else { 0 } + (len as u64).next_multiple_of(8)
    }

    /// Whether an entry of `size` bytes could ever fit.
    pub(crate) fn fits_at_all(&self, size: u64) -> bool {
        size <= self.cap
    }

    /// Writes an entry (payload given in parts) into free space and adds it to `st`.
    /// `None`: no room now. Returns the span a compaction freed, if any.
    pub(crate) fn push(
        &self,
        st: &mut State,
        tag: u8,
        post: u64,
        parts: &[&[u8]],
    ) -> Option<Freed> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        assert!(len <= u32::MAX as usize, "entry too large");
        let size = Ring::entry_size(len, tag);
        let (at, freed) = self.place(st, size)?;
        let base = self.data + at as usize;
        self.map.u64_at(base).store(len as u64 | (u64::from(tag) << 32), Ordering::Relaxed);
        let mut off = base + 8;
        if tag == POSTED {
            self.map.u64_at(off).store(post, Ordering::Relaxed);
            off += 8;
        }
        for part in parts {
            self.map.write(off, part);
            off += part.len();
        }
        st.count += 1;
        Some(freed)
    }

    /// Where an entry of `size` bytes goes; updates `st`'s positions.
    fn place(&self, st: &mut State, size: u64) -> Option<(u64, Freed)> {
        if st.count == 0 && !st.compacted {
            (st.head, st.tail, st.wrap) = (0, 0, NOT_WRAPPED);
        }
        let warm = self.warm();
        let mut freed = Freed::default();
        if st.wrap != NOT_WRAPPED {
            if st.tail + size <= st.head {
                let at = st.tail;
                st.tail += size;
                return Some((at, freed));
            }
            // Out of room behind the head: move everything above the old end, in order.
            let (first, second) = (st.wrap - st.head, st.tail);
            let base = st.wrap;
            if base + first + second + size > self.cap {
                return None;
            }
            let data = self.data;
            self.map.copy_within(data + st.head as usize, data + base as usize, first as usize);
            self.map.copy_within(data, data + (base + first) as usize, second as usize);
            freed = self.span(warm, base);
            (st.head, st.tail, st.wrap) = (base, base + first + second, NOT_WRAPPED);
            st.compacted = true;
        }
        let fits_here = st.tail + size <= self.cap;
        let room_at_start = size <= st.head && !st.compacted;
        if fits_here && (st.tail + size <= warm || !room_at_start) {
            let at = st.tail;
            st.tail += size;
            return Some((at, freed));
        }
        if room_at_start {
            st.wrap = st.tail;
            st.tail = size;
            return Some((0, freed));
        }
        None
    }

    /// The entry at the head, if any.
    pub(crate) fn peek(&self, st: &State) -> Result<Option<Found>, Corrupt> {
        if st.count == 0 {
            return Ok(None);
        }
        let head = if st.head == st.wrap { 0 } else { st.head };
        let end = if st.wrap != NOT_WRAPPED && head >= st.head { st.wrap } else { st.tail };
        let bad =
            |what: &str| Corrupt(format!("{what} at {head} (end {end}, {} entries)", st.count));
        if head % 8 != 0 || head + 8 > end || end > self.cap {
            return Err(bad("no entry"));
        }
        let word = self.map.u64_at(self.data + head as usize).load(Ordering::Relaxed);
        let (len, tag) = ((word & 0xffff_ffff) as usize, (word >> 32) as u8);
        if tag != ITEM && tag != POSTED {
            return Err(bad("unknown tag"));
        }
        let size = Ring::entry_size(len, tag);
        if head + size > end {
            return Err(bad("entry past the end"));
        }
        let post = if tag == POSTED {
            self.map.u64_at(self.data + head as usize + 8).load(Ordering::Relaxed)
        } else {
            0
        };
        let at = head + size - (len as u64).next_multiple_of(8);
        Ok(Some(Found { tag, post, len, start: head, at, size }))
    }

    /// Appends the payload of `found` to `out`.
    pub(crate) fn read(&self, found: &Found, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + found.len, 0);
        self.map.read(self.data + found.at as usize, &mut out[start..]);
    }

    /// Removes the entry `found` (just peeked) from `st`; returns a span that no data
    /// uses any more, to give back once `st` is committed.
    pub(crate) fn advance(&self, st: &mut State, found: &Found) -> Freed {
        let warm = self.warm();
        let mut high = 0;
        let mut freed = Freed::default();
        if st.head == st.wrap {
            // The consumer leaves the old lap: what lies above the tail is free.
            high = st.wrap;
            freed = self.span(st.tail.max(warm), st.wrap);
            (st.head, st.wrap) = (0, NOT_WRAPPED);
        }
        st.head = found.start + found.size;
        st.count -= 1;
        if st.count == 0 {
            freed = self.span(warm, st.tail.max(high));
            (st.head, st.tail, st.wrap) = (0, 0, NOT_WRAPPED);
        }
        freed
    }

    /// `[from, to)` if it is worth giving back.
    fn span(&self, from: u64, to: u64) -> Freed {
        if to > from && to - from >= RELEASE_MIN { Freed(from, to) } else { Freed::default() }
    }

    /// Gives a freed span's pages back (after the state that freed it is committed).
    pub(crate) fn release(&self, freed: Freed) {
        if freed.1 > freed.0 {
            self.map.release(self.data + freed.0 as usize, (freed.1 - freed.0) as usize);
        }
    }

    /// The flag a consumer raises before it sleeps.
    pub(crate) fn consumers_armed(&self) -> &'a AtomicU32 {
        self.map.u32_at(self.hdr + CONSUMERS_ARMED)
    }

    /// The flag a producer raises before it waits for space.
    pub(crate) fn producers_armed(&self) -> &'a AtomicU32 {
        self.map.u32_at(self.hdr + PRODUCERS_ARMED)
    }

    /// Raised when a bell for items is rung, lowered when the consumers' bell is drained.
    pub(crate) fn items_rung(&self) -> &'a AtomicU32 {
        self.map.u32_at(self.hdr + ITEMS_RUNG)
    }

    /// Raised when a bell for room is rung, lowered when the producers' bell is drained.
    pub(crate) fn room_rung(&self) -> &'a AtomicU32 {
        self.map.u32_at(self.hdr + ROOM_RUNG)
    }

    /// Takes an id for a message sent beside the ring. Taken before the message is sent,
    /// so an id a dead producer used is never used again.
    pub(crate) fn next_post(&self) -> u64 {
        self.word(POST_NEXT).fetch_add(1, Ordering::AcqRel)
    }

    /// The futex bumped when the last unfinished item is done, and the count of joiners.
    pub(crate) fn joined(&self) -> (&'a AtomicU32, &'a AtomicU32) {
        (self.map.u32_at(self.hdr + JOINED), self.map.u32_at(self.hdr + JOINERS))
    }

    /// Raises `flag` before a sleeper's last look at the ring: either that look sees what
    /// a producer (or consumer) committed, or that one sees the flag and rings.
    pub(crate) fn arm(flag: &AtomicU32) {
        flag.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Whether `flag` was raised, lowering it (the caller then rings the bell once).
    pub(crate) fn disarm(flag: &AtomicU32) -> bool {
        fence(Ordering::SeqCst);
        flag.load(Ordering::Relaxed) != 0 && flag.swap(0, Ordering::AcqRel) != 0
    }
}

#[cfg(test)]
mod tests;
