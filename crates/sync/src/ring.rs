//! [`Ring`]: messages one way through shared memory — a byte ring with a producers' side
//! and a consumers' side, each under its own robust lock and each committed by one store,
//! so a process killed at any instruction leaves it consistent.
//!
//! Header (at `hdr`, [`RING_HEADER`] bytes):
//!
//! ```text
//!   0  producers' robust mutex
//!  64  producers' side: seq: u64, then 2 blocks of {tail, lap, prev_end, jumped: u32; puts: u64}
//! 128  consumers' robust mutex
//! 192  consumers' side: seq: u64, then 2 blocks of {head, lap: u32; gets, done: u64}
//! 256  consumers_armed: u32 — how many consumers sleep (or are about to): ring their bell
//! 260  items_rung: u32 — a bell for items is unread
//! 320  producers_armed: u32 — how many producers wait for room
//! 324  room_rung: u32 — a bell for room is unread
//! 384  post_next: u64 — the next id of a message sent beside the ring (with descriptors)
//! 448  joined: u32 futex, bumped when the last unfinished item is done; joiners: u32
//! ```
//!
//! **Committing.** Each side writes its new state into the block that `seq` does not
//! point at, then bumps `seq`: one store. Whoever dies holding a side's lock leaves its
//! old state or its new one. A producer writes entries only into space no committed
//! state covers, so a killed producer never tears a message and never loses anyone
//! else's; the next locker gets `OwnerDied` and has nothing to repair. The other side
//! reads a state without the lock, as a seqlock: `seq`, the block, `seq` again.
//!
//! Producers and consumers never wait for each other's lock: a put reads the consumers'
//! position, a get the producers', and each caches nothing it could get wrong — a stale
//! position only ever makes the ring look fuller (to a producer) or emptier (to a
//! consumer) than it is.
//!
//! **Entries.** `len: u32 | tag << 32` (8 bytes); a `POSTED` entry then has the id of
//! the message that carries its descriptors (8 bytes); then the payload, padded to 8.
//! Two markers steer the consumer: `WRAP` (go on at 0, one lap later) and `JUMP` (go on
//! at the offset in `len`, same lap).
//!
//! **Space.** Positions are physical offsets; `lap` counts wraps. With both sides in one
//! lap the data is `[head, tail)`: a producer writes on at `tail`, and past the warm size
//! wraps as soon as the start of the ring is consumed, so a ring whose consumer keeps up
//! stays in its first pages. With the consumer one lap behind, a producer writes below
//! `head`; when that runs out it *jumps* above the end of the consumer's lap (into the
//! sparse, untouched address space beyond) and goes on there. So a queue whose consumer
//! stalls grows instead of blocking, up to the ring's capacity. The consumer gives the
//! pages of a lap beyond the warm size back when it leaves that lap.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use crate::sys::memory::Mapping;

/// Bytes of a ring's header.
pub(crate) const RING_HEADER: usize = 512;
/// A ring that stays below this many bytes (or half its capacity, if less) never wraps
/// early nor gives pages back.
pub(crate) const WARM: u64 = 1 << 20;
/// Positions are 32-bit: a ring's data is smaller than this.
pub(crate) const MAX_CAPACITY: usize = u32::MAX as usize;
/// Pages are given back in spans of at least this many bytes.
const RELEASE_MIN: u64 = 1 << 20;

const PRODUCERS: usize = 0;
const TAIL_SEQ: usize = 64;
const CONSUMERS: usize = 128;
const HEAD_SEQ: usize = 192;
const BLOCK: usize = 24;
const CONSUMERS_ARMED: usize = 256;
const ITEMS_RUNG: usize = 260;
const PRODUCERS_ARMED: usize = 320;
const ROOM_RUNG: usize = 324;
const POST_NEXT: usize = 384;
const JOINED: usize = 448;
const JOINERS: usize = 452;

/// An entry's tag: its payload is all there is.
pub(crate) const ITEM: u8 = 1;
/// An entry's tag: descriptors for it travel beside the ring, in a message with its id.
pub(crate) const POSTED: u8 = 2;
const WRAP: u8 = 3;
const JUMP: u8 = 4;
/// Bytes of a marker; a producer always keeps room for one after its entries.
const MARK: u64 = 8;

/// The producers' committed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tail {
    tail: u64,
    lap: u32,
    /// Where the previous lap's data ended (its `WRAP` marker included).
    prev_end: u64,
    /// This lap jumped above the previous lap's data.
    jumped: bool,
    /// Items ever committed.
    pub puts: u64,
}

impl Tail {
    /// Where the next entry would go, in this lap.
    pub(crate) fn tail_offset(&self) -> u64 {
        self.tail
    }
}

/// The consumers' committed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Head {
    head: u64,
    lap: u32,
    /// Items ever taken.
    pub gets: u64,
    /// Items ever marked done (`JoinableQueue`).
    pub done: u64,
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
    /// Where the payload starts, in the data area.
    at: u64,
    /// Where the next entry starts, and in which lap.
    next: u64,
    lap: u32,
    /// A `WRAP` marker was crossed at this offset (the end of the lap left).
    wrapped_at: Option<u64>,
}

/// What a ring holds is not a well-formed entry: shared memory was overwritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrupt(pub String);

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
        assert!(
            map.contains(hdr, RING_HEADER) && map.contains(data, cap) && data.is_multiple_of(8)
        );
        assert!(cap < MAX_CAPACITY, "a ring holds less than 4 GiB");
        Ring { map, hdr, data, cap: cap as u64 }
    }

    /// Offset of the producers' mutex in the mapping.
    pub(crate) fn producers(&self) -> usize {
        self.hdr + PRODUCERS
    }

    /// Offset of the consumers' mutex in the mapping.
    pub(crate) fn consumers(&self) -> usize {
        self.hdr + CONSUMERS
    }

    /// The size below which the ring never wraps early nor gives pages back.
    pub(crate) fn warm(&self) -> u64 {
        WARM.min(self.cap / 2)
    }

    /// Where a producer whose consumers are `backlog` bytes behind wraps.
    fn wrap_at(&self, backlog: u64) -> u64 {
        self.warm().max(backlog.saturating_mul(2)).min(self.cap / 2)
    }

    fn u32_at(&self, off: usize) -> &'a AtomicU32 {
        self.map.u32_at(self.hdr + off)
    }

    fn u64_at(&self, off: usize) -> &'a AtomicU64 {
        self.map.u64_at(self.hdr + off)
    }

    /// Reads the four 32-bit and one 64-bit fields of a side's committed block, as a
    /// seqlock reader (any thread, any process, no lock).
    fn read_side(&self, seq_at: usize) -> ([u32; 4], u64, u64) {
        loop {
            let seq = self.u64_at(seq_at).load(Ordering::Acquire);
            let at = seq_at + 8 + (seq as usize & 1) * BLOCK;
            let a = [
                self.u32_at(at).load(Ordering::Relaxed),
                self.u32_at(at + 4).load(Ordering::Relaxed),
                self.u32_at(at + 8).load(Ordering::Relaxed),
                self.u32_at(at + 12).load(Ordering::Relaxed),
            ];
            let b = self.u64_at(at + 16).load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.u64_at(seq_at).load(Ordering::Relaxed) == seq {
                return (a, b, seq);
            }
            std::hint::spin_loop();
        }
    }

    /// Writes a side's next block and makes it the committed one (under the side's lock).
    fn write_side(&self, seq_at: usize, a: [u32; 4], b: u64) {
        let seq = self.u64_at(seq_at).load(Ordering::Relaxed).wrapping_add(1);
        let at = seq_at + 8 + (seq as usize & 1) * BLOCK;
        for (i, v) in a.into_iter().enumerate() {
            self.u32_at(at + 4 * i).store(v, Ordering::Relaxed);
        }
        self.u64_at(at + 16).store(b, Ordering::Relaxed);
        self.u64_at(seq_at).store(seq, Ordering::Release);
    }

    /// The producers' committed state.
    pub(crate) fn tail(&self) -> Tail {
        let ([tail, lap, prev_end, jumped], puts, _) = self.read_side(TAIL_SEQ);
        Tail {
            tail: u64::from(tail),
            lap,
            prev_end: u64::from(prev_end),
            jumped: jumped != 0,
            puts,
        }
    }

    /// Commits the producers' state (holding their lock).
    pub(crate) fn commit_tail(&self, t: &Tail) {
        let a = [t.tail as u32, t.lap, t.prev_end as u32, u32::from(t.jumped)];
        self.write_side(TAIL_SEQ, a, t.puts);
    }

    /// The consumers' committed state.
    pub(crate) fn head(&self) -> Head {
        let ([head, lap, done_lo, done_hi], gets, _) = self.read_side(HEAD_SEQ);
        let done = u64::from(done_lo) | (u64::from(done_hi) << 32);
        Head { head: u64::from(head), lap, gets, done }
    }

    /// `h` as two words, to keep a copy of it (see `unpack`).
    pub(crate) fn pack(h: &Head) -> (u64, u64) {
        (h.head | (u64::from(h.lap) << 32), h.gets)
    }

    /// A consumers' state kept with `pack` (without `done`).
    pub(crate) fn unpack(a: u64, gets: u64) -> Head {
        Head { head: a & 0xffff_ffff, lap: (a >> 32) as u32, gets, done: 0 }
    }

    /// Commits the consumers' state (holding their lock).
    pub(crate) fn commit_head(&self, h: &Head) {
        let a = [h.head as u32, h.lap, h.done as u32, (h.done >> 32) as u32];
        self.write_side(HEAD_SEQ, a, h.gets);
    }

    /// Items in the ring, read without a lock (exact as of some instant of the call).
    pub(crate) fn count_hint(&self) -> u64 {
        self.tail().puts.wrapping_sub(self.head().gets)
    }

    /// Items put and not yet marked done, read without a lock.
    pub(crate) fn unfinished_hint(&self) -> u64 {
        let done = self.head().done;
        self.tail().puts.wrapping_sub(done)
    }

    /// Bytes an entry with `len` payload bytes takes.
    pub(crate) fn entry_size(len: usize, tag: u8) -> u64 {
        8 + if tag == POSTED { 8 } else { 0 } + (len as u64).next_multiple_of(8)
    }

    /// Whether an entry of `size` bytes could ever fit.
    pub(crate) fn fits_at_all(&self, size: u64) -> bool {
        size + 2 * MARK <= self.cap
    }

    fn mark(&self, at: u64, tag: u8, arg: u64) {
        self.map
            .u64_at(self.data + at as usize)
            .store(arg | (u64::from(tag) << 32), Ordering::Relaxed);
    }

    /// Writes an entry (payload given in parts) into free space and adds it to `t`
    /// (holding the producers' lock; `h` is a consumers' state read since, `fresh` if
    /// just now). `false`: no room now — or, with an old `h`, none without growing past
    /// the warm size: look at the consumers again first.
    pub(crate) fn push(
        &self,
        t: &mut Tail,
        h: &Head,
        fresh: bool,
        tag: u8,
        post: u64,
        parts: &[&[u8]],
    ) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        assert!(len <= u32::MAX as usize, "entry too large");
        let size = Ring::entry_size(len, tag);
        let Some(at) = self.place(t, h, fresh, size) else {
            return false;
        };
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
        t.puts += 1;
        true
    }

    /// Where an entry of `size` bytes goes; writes the markers that lead there and moves
    /// `t` past it.
    fn place(&self, t: &mut Tail, h: &Head, fresh: bool, size: u64) -> Option<u64> {
        let cap = self.cap;
        if h.lap == t.lap {
            // Data is [head, tail); [tail, cap) is free, and [0, head) for the next lap.
            // Wrap once past twice the data waiting (at least the warm size): the ring
            // then cycles through pages it has already touched, however far behind the
            // consumer runs, instead of moving on to fresh ones.
            let wrap_at = self.wrap_at(t.tail - h.head.min(t.tail));
            let fits_here = t.tail + size + MARK <= cap;
            let room_at_start = size + MARK <= h.head;
            if fits_here && t.tail + size > wrap_at && !room_at_start && !fresh {
                return None; // grow only once a fresh look says the start is not free
            }
            if fits_here && (t.tail + size <= wrap_at || !room_at_start) {
                let at = t.tail;
                t.tail += size;
                return Some(at);
            }
            if !room_at_start {
                return None;
            }
            self.mark(t.tail, WRAP, 0);
            *t = Tail {
                tail: size,
                lap: t.lap.wrapping_add(1),
                prev_end: t.tail + MARK,
                jumped: false,
                ..*t
            };
            return Some(0);
        }
        if h.lap.wrapping_add(1) != t.lap {
            return None; // not a state this ring reaches; refuse rather than overwrite
        }
        // The consumer is one lap behind: below its head, or above its lap's end.
        if !t.jumped && t.tail + size + MARK <= h.head {
            let at = t.tail;
            t.tail += size;
            return Some(at);
        }
        if t.jumped {
            if t.tail + size + MARK <= cap {
                let at = t.tail;
                t.tail += size;
                return Some(at);
            }
            return None;
        }
        let above = t.prev_end.max(t.tail + MARK);
        if above + size + MARK > cap {
            return None;
        }
        self.mark(t.tail, JUMP, above);
        t.tail = above + size;
        t.jumped = true;
        Some(above)
    }

    /// The entry at the head, if any (holding the consumers' lock; `puts` the producers'
    /// count, read since).
    pub(crate) fn peek(&self, h: &Head, puts: u64) -> Result<Option<Found>, Corrupt> {
        // A `puts` read before other consumers took items may be behind `gets`.
        if puts.wrapping_sub(h.gets) as i64 <= 0 {
            return Ok(None);
        }
        let (mut pos, mut lap, mut wrapped_at) = (h.head, h.lap, None);
        for _ in 0..3 {
            let bad = |what: &str| Corrupt(format!("{what} at offset {pos} of lap {lap}"));
            if pos % 8 != 0 || pos + 8 > self.cap {
                return Err(bad("no entry"));
            }
            let word = self.map.u64_at(self.data + pos as usize).load(Ordering::Relaxed);
            let (arg, tag) = (word & 0xffff_ffff, (word >> 32) as u8);
            match tag {
                WRAP => {
                    wrapped_at = Some(pos);
                    (pos, lap) = (0, lap.wrapping_add(1));
                }
                JUMP if arg > pos && arg % 8 == 0 => pos = arg,
                ITEM | POSTED => {
                    let len = arg as usize;
                    let size = Ring::entry_size(len, tag);
                    if pos + size > self.cap {
                        return Err(bad("an entry past the end"));
                    }
                    let post = if tag == POSTED {
                        self.map.u64_at(self.data + pos as usize + 8).load(Ordering::Relaxed)
                    } else {
                        0
                    };
                    let at = pos + size - (len as u64).next_multiple_of(8);
                    return Ok(Some(Found {
                        tag,
                        post,
                        len,
                        at,
                        next: pos + size,
                        lap,
                        wrapped_at,
                    }));
                }
                _ => return Err(bad("an unknown tag")),
            }
        }
        Err(Corrupt(format!("markers lead nowhere from offset {} of lap {}", h.head, h.lap)))
    }

    /// Appends the payload of `found` to `out`.
    pub(crate) fn read(&self, found: &Found, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + found.len, 0);
        self.map.read(self.data + found.at as usize, &mut out[start..]);
    }

    /// Moves `h` past the entry `found` (just peeked); the end of a lap left behind, if
    /// any, for [`release`](Self::release) once `h` is committed.
    pub(crate) fn advance(&self, h: &mut Head, found: &Found) -> Option<u64> {
        h.head = found.next;
        h.lap = found.lap;
        h.gets += 1;
        found.wrapped_at
    }

    /// Gives back the pages of the lap that ended at `end`, beyond the warm size, once the
    /// consumers left it. Takes the producers' lock (the caller holds the consumers'
    /// one: always in this order), so no producer writes there meanwhile.
    pub(crate) fn release(&self, end: u64, t: &Tail, h: &Head) {
        // Keep what the producers will wrap within (see `place`): the data is `[0, tail)`.
        let from = t.tail.max(self.wrap_at(t.tail));
        // Only when the producers write in the consumers' lap below `end` (not above it,
        // after a jump), and the span is worth a system call.
        if t.lap != h.lap || t.jumped || end < from + RELEASE_MIN {
            return;
        }
        self.map.release(self.data + from as usize, (end - from) as usize);
    }

    /// How many consumers sleep (see [`arm`](Self::arm)).
    pub(crate) fn consumers_armed(&self) -> &'a AtomicU32 {
        self.u32_at(CONSUMERS_ARMED)
    }

    /// How many producers wait for room (see [`arm`](Self::arm)).
    pub(crate) fn producers_armed(&self) -> &'a AtomicU32 {
        self.u32_at(PRODUCERS_ARMED)
    }

    /// Raised when a bell for items is rung, lowered when the consumers' bell is drained.
    pub(crate) fn items_rung(&self) -> &'a AtomicU32 {
        self.u32_at(ITEMS_RUNG)
    }

    /// Raised when a bell for room is rung, lowered when the producers' bell is drained.
    pub(crate) fn room_rung(&self) -> &'a AtomicU32 {
        self.u32_at(ROOM_RUNG)
    }

    /// Takes an id for a message sent beside the ring. Taken before the message is sent,
    /// so an id a dead producer used is never used again.
    pub(crate) fn next_post(&self) -> u64 {
        self.u64_at(POST_NEXT).fetch_add(1, Ordering::AcqRel)
    }

    /// The futex bumped when the last unfinished item is done, and the count of joiners.
    pub(crate) fn joined(&self) -> (&'a AtomicU32, &'a AtomicU32) {
        (self.u32_at(JOINED), self.u32_at(JOINERS))
    }

    /// Counts a sleeper in `sleepers` (one side's) before its last look at the ring:
    /// either that look sees what the other side committed, or the other side sees the
    /// count and rings. Counted until the guard drops, after the sleep: a bell rung for
    /// several sleepers must not leave one of them unrung once another drained it (see
    /// [`should_ring`](Self::should_ring)). A process killed while it sleeps stays
    /// counted, which costs a ring now and then, never a wake-up.
    pub(crate) fn arm(sleepers: &AtomicU32) -> Armed<'_> {
        sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        Armed(sleepers)
    }

    /// Whether to ring the bell of the `sleepers` of the other side, after a commit and
    /// under the committing side's lock: someone sleeps and the bell is not rung already
    /// (`rung`, raised here). The bell then stays rung, for every sleeper, until a caller
    /// holding both locks finds it stale and drains it.
    pub(crate) fn should_ring(sleepers: &AtomicU32, rung: &AtomicU32) -> bool {
        fence(Ordering::SeqCst);
        sleepers.load(Ordering::Relaxed) != 0 && rung.swap(1, Ordering::AcqRel) == 0
    }
}

/// A sleeper counted by [`Ring::arm`]; uncounted when dropped.
#[derive(Debug)]
pub(crate) struct Armed<'a>(&'a AtomicU32);

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests;
