//! [`Lane`]: one direction of messages between processes — a [`Ring`] in shared memory,
//! plus the sockets that wake sleepers, carry descriptors and tell when the other side
//! is gone. Queues are one lane; a duplex pipe is two.
//!
//! Each lane has two *halves* ([`Half`]): the producers' and the consumers'. A half is
//! one end of two socket pairs:
//!
//! - the **bell**: a producer that committed items rings the consumers' bell (one byte)
//!   if a consumer sleeps, and a consumer that made room rings the producers' bell if a
//!   producer waits. A bell means one thing only ("items", or "room"), so whoever drains
//!   it is a waiter for that very thing. When every descriptor of one half's bell is
//!   closed — the processes holding it exited or were killed — the other half's bell
//!   reads end-of-file: that is `Disconnected`, without a count that a killed process
//!   could leave wrong;
//! - the **post**: descriptors that travel with an item (a handle inside it) go in a
//!   socket message whose id the ring entry names.
//!
//! Waiting: a consumer that finds the ring empty polls it for a few tens of
//! microseconds (an item due soon is picked up without sleeping: the pipe's round trip),
//! then counts itself in the ring's `consumers_armed`, looks once more, and sleeps in
//! `poll` on its bell (counted until it wakes). A producer that commits items while
//! someone sleeps rings, unless the bell is rung already (`items_rung`); it rings under
//! its lock. Nobody reads a bell when it wakes: a rung bell keeps every sleeper's `poll`
//! returning until the ring is empty, and only then is it drained — by a consumer that
//! holds both locks and sees it empty, so that no producer is between its commit and its
//! ring meanwhile (a bell is never eaten while items it announced remain, and several
//! sleepers woken by one byte all get their turn; the next item rings again for any
//! still asleep). Producers waiting for room do the same, mirrored: the room bell is
//! drained by a producer that finds the ring as full as it left it, under both locks.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::batch::{Batch, Received, Slot};
use crate::object::Object;
use crate::ring::{Armed, Head, ITEM, POSTED, Ring};
use crate::sys::fdset::Tracked;
use crate::sys::socket;

/// How long a consumer polls an empty ring before it sleeps.
const SPIN: Duration = multiproc_ipc::SPIN;

/// How long a blocking call may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Not at all (`try_*`).
    No,
    /// Until this instant (`*_timeout`).
    Until(Instant),
    /// For as long as it takes.
    Forever,
}

impl Wait {
    pub(crate) fn timeout(timeout: Duration) -> Wait {
        Instant::now().checked_add(timeout).map_or(Wait::Forever, Wait::Until)
    }

    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Wait::Until(d) => Some(d),
            Wait::No => Some(Instant::now()),
            Wait::Forever => None,
        }
    }
}

/// One end of a lane's bell and post socket pairs.
#[derive(Debug)]
pub(crate) struct Half {
    pub bell: Tracked,
    pub post: Tracked,
}

impl Half {
    /// The producers' half and the consumers' half of a new lane.
    pub(crate) fn pair() -> io::Result<(Half, Half)> {
        let (bell_tx, bell_rx) = socket::pair()?;
        let (post_tx, post_rx) = socket::pair()?;
        let half = |bell, post| Half { bell: Tracked::new(bell), post: Tracked::new(post) };
        Ok((half(bell_tx, post_tx), half(bell_rx, post_rx)))
    }

    /// Rebuilds a half from its two descriptors (bell, post), as sent.
    pub(crate) fn from_fds(fds: &mut impl Iterator<Item = OwnedFd>) -> Option<Half> {
        Some(Half { bell: Tracked::new(fds.next()?), post: Tracked::new(fds.next()?) })
    }
}

/// Why a put stopped.
#[derive(Debug)]
pub(crate) enum PutFail {
    Full,
    TimedOut,
    Disconnected,
    TooLarge,
    Io(io::Error),
}

/// Why a get stopped.
#[derive(Debug)]
pub(crate) enum GetFail {
    Empty,
    TimedOut,
    Disconnected,
    Io(io::Error),
    Corrupt(String),
}

/// How a sleep on a bell ended.
enum Woke {
    Bell,
    PeerGone,
    TimedOut,
}

/// Why a locked round of puts stopped early.
enum Stop {
    Done,
    Full,
    PostFull,
    TooLarge,
}

/// One ring of an object, with its place in the mapping.
pub(crate) struct Lane {
    obj: Arc<Object>,
    hdr: usize,
    data: usize,
    cap: usize,
    /// This process's last look at the other side, read and written under this side's
    /// lock, never ahead of it: the consumers' position (for puts) and the producers'
    /// count (for gets). A look at the other side's memory is a cache miss per item;
    /// a stale copy only makes the ring look fuller or emptier, and is read again then.
    seen_head: (AtomicU64, AtomicU64),
    seen_puts: AtomicU64,
}

impl fmt::Debug for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lane").field("count", &self.ring().count_hint()).finish_non_exhaustive()
    }
}

impl Lane {
    /// The lane whose header is at `hdr` and data at `[data, data + cap)` of `obj`.
    pub(crate) fn new(obj: Arc<Object>, hdr: usize, data: usize, cap: usize) -> Lane {
        let seen_head = (AtomicU64::new(0), AtomicU64::new(0));
        let lane = Lane { obj, hdr, data, cap, seen_head, seen_puts: AtomicU64::new(0) };
        let _ = lane.ring(); // bounds
        lane
    }

    /// Sets up a fresh lane (creator only).
    pub(crate) fn init(&self) -> io::Result<()> {
        let ring = self.ring();
        self.obj.init_mutex(ring.producers(), crate::sys::mutex::Kind::Plain)?;
        self.obj.init_mutex(ring.consumers(), crate::sys::mutex::Kind::Plain)
    }

    pub(crate) fn ring(&self) -> Ring<'_> {
        Ring::at(self.obj.map(), self.hdr, self.data, self.cap)
    }

    /// Where the lane's ring header is in the object's memory.
    pub(crate) fn header_offset(&self) -> usize {
        self.hdr
    }

    /// The object the lane lives in.
    pub(crate) fn object(&self) -> &Arc<Object> {
        &self.obj
    }

    /// Entries waiting (a hint).
    pub(crate) fn len_hint(&self) -> usize {
        self.ring().count_hint() as usize
    }

    /// Puts every item of `batch`, waiting for room as `wait` allows; on failure, how
    /// many were put. `maxsize` bounds the entries (0: unbounded).
    pub(crate) fn put(
        &self,
        tx: &Half,
        batch: &Batch,
        maxsize: u64,
        wait: Wait,
    ) -> Result<(), (usize, PutFail)> {
        let ring = self.ring();
        let mut done = 0;
        let mut woken = false;
        // One locked round (which rings the consumers' bell if it put anything and one
        // sleeps).
        let round = |done: usize, waiting: bool| self.put_round(tx, batch, done, maxsize, waiting);
        loop {
            let (n, stop) = round(done, woken).map_err(|e| (done, e))?;
            done += n;
            match stop {
                Stop::Done => return Ok(()),
                Stop::TooLarge => return Err((done, PutFail::TooLarge)),
                Stop::Full | Stop::PostFull if wait == Wait::No => {
                    return Err((done, PutFail::Full));
                }
                Stop::PostFull => {
                    // The socket of descriptors is full: wait until consumers take some.
                    socket::wait_writable(tx.post.as_fd(), wait.deadline())
                        .map_err(|e| (done, PutFail::Io(e)))?;
                    if wait.deadline().is_some_and(|d| Instant::now() >= d) {
                        return Err((done, PutFail::TimedOut));
                    }
                    continue;
                }
                Stop::Full if n > 0 => continue,
                Stop::Full => {}
            }
            // Count in as a sleeper, then look once more: a consumer that made room since
            // either shows in that look, or sees the count and rings.
            let armed = Ring::arm(ring.producers_armed());
            woken = true;
            let (n, stop) = round(done, false).map_err(|e| (done, e))?;
            done += n;
            if n > 0 || !matches!(stop, Stop::Full) {
                continue;
            }
            let woke = sleep(tx, wait);
            drop(armed);
            match woke.map_err(|e| (done, PutFail::Io(e)))? {
                Woke::Bell => {}
                Woke::PeerGone => return Err((done, PutFail::Disconnected)),
                Woke::TimedOut => return Err((done, PutFail::TimedOut)),
            }
        }
    }

    /// One locked round of puts, from item `from` on.
    /// `waiting`: the caller waits for room (or is about to): if the ring is full, a
    /// room bell, which can only be stale now, is drained.
    fn put_round(
        &self,
        tx: &Half,
        batch: &Batch,
        from: usize,
        maxsize: u64,
        waiting: bool,
    ) -> Result<(usize, Stop), PutFail> {
        let ring = self.ring();
        let held = self.obj.lock_internal(ring.producers()).map_err(PutFail::Io)?;
        let mut t = ring.tail();
        let mut h = Ring::unpack(self.seen_head.0.load(Relaxed), self.seen_head.1.load(Relaxed));
        let mut fresh = false; // `h` was read again after it looked short
        let look = |h: &mut Head, fresh: &mut bool| {
            *h = ring.head();
            *fresh = true;
            let (a, b) = Ring::pack(h);
            self.seen_head.0.store(a, Relaxed);
            self.seen_head.1.store(b, Relaxed);
        };
        let (mut n, mut stop) = (0, Stop::Done);
        for piece in &batch.items[from..] {
            if maxsize != 0 && t.puts - h.gets >= maxsize {
                if fresh {
                    stop = Stop::Full;
                    break;
                }
                look(&mut h, &mut fresh);
                if t.puts - h.gets >= maxsize {
                    stop = Stop::Full;
                    break;
                }
            }
            let bytes = &batch.bytes[piece.start..piece.end];
            let fds = &batch.carried.fds[piece.fds.0..piece.fds.1];
            let tag = if fds.is_empty() { ITEM } else { POSTED };
            if !ring.fits_at_all(Ring::entry_size(bytes.len(), tag)) {
                stop = Stop::TooLarge;
                break;
            }
            let mut post = 0;
            if tag == POSTED {
                post = ring.next_post();
                match socket::send_fds(tx.post.as_fd(), &post.to_le_bytes(), fds, false) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        stop = Stop::PostFull;
                        break;
                    }
                    Err(e) => return Err(PutFail::Io(e)),
                }
            }
            // Where the ring wraps depends on how far behind the consumers are: look at
            // them again every 64 KiB written.
            if !fresh
                && (t.tail_offset() >> 16) != ((t.tail_offset() + bytes.len() as u64 + 24) >> 16)
            {
                look(&mut h, &mut fresh);
            }
            // A posted message whose entry finds no room stays unclaimed: consumers
            // skip it by its id.
            if ring.push(&mut t, &h, fresh, tag, post, &[bytes]) {
                n += 1;
                continue;
            }
            if !fresh {
                look(&mut h, &mut fresh);
                if ring.push(&mut t, &h, fresh, tag, post, &[bytes]) {
                    n += 1;
                    continue;
                }
            }
            stop = Stop::Full;
            break;
        }
        if n > 0 {
            ring.commit_tail(&t);
            // Under the lock: a consumer that drains the bell holds it too (see
            // `drain_items`), so it never drains a ring for items it cannot see.
            if Ring::should_ring(ring.consumers_armed(), ring.items_rung()) {
                socket::ring(tx.bell.as_fd());
            }
        }
        drop(held);
        if matches!(stop, Stop::Full) && (waiting || rung(ring.room_rung())) {
            self.drain_room(tx, h.gets)?;
        }
        Ok((n, stop))
    }

    /// Drains the room bell if the ring is still as full as a producer saw it when the
    /// consumers had taken `gets` items: any bell there is stale. Under both locks, in
    /// the consumers' order (consumers, then producers): a consumer rings for room under
    /// its lock, so no ring for room made after that look can be under way.
    fn drain_room(&self, tx: &Half, gets: u64) -> Result<(), PutFail> {
        let ring = self.ring();
        let consumers = self.obj.lock_internal(ring.consumers()).map_err(PutFail::Io)?;
        let producers = self.obj.lock_internal(ring.producers()).map_err(PutFail::Io)?;
        if ring.head().gets == gets {
            drain(&tx.bell, ring.room_rung());
        }
        drop((producers, consumers));
        Ok(())
    }

    /// Takes up to `max` items into `out`, waiting for one as `wait` allows.
    pub(crate) fn get(
        &self,
        rx: &Half,
        max: usize,
        out: &mut Received,
        wait: Wait,
    ) -> Result<(), GetFail> {
        let ring = self.ring();
        let mut woken = false;
        loop {
            if self.get_round(rx, max, out, woken)? > 0 {
                return Ok(());
            }
            if wait == Wait::No {
                return Err(GetFail::Empty);
            }
            if !woken && spin(wait.deadline(), || ring.count_hint() > 0) {
                continue;
            }
            // Count in as a sleeper, then look once more: a producer that committed since
            // either shows in that look, or sees the count and rings.
            let armed = Ring::arm(ring.consumers_armed());
            woken = true;
            if ring.count_hint() > 0 {
                continue;
            }
            let woke = sleep(rx, wait);
            drop(armed);
            match woke.map_err(GetFail::Io)? {
                Woke::Bell => {}
                Woke::TimedOut => return Err(GetFail::TimedOut),
                Woke::PeerGone => {
                    return match self.get_round(rx, max, out, false)? {
                        0 => Err(GetFail::Disconnected),
                        _ => Ok(()),
                    };
                }
            }
        }
    }

    /// One locked round of gets. `waiting`: the caller sleeps on the bell (or is about
    /// to): if the ring is left empty, a bell for items, which can only be stale now, is
    /// drained.
    fn get_round(
        &self,
        rx: &Half,
        max: usize,
        out: &mut Received,
        waiting: bool,
    ) -> Result<usize, GetFail> {
        let ring = self.ring();
        let held = self.obj.lock_internal(ring.consumers()).map_err(GetFail::Io)?;
        let mut h = ring.head();
        let mut puts = self.seen_puts.load(Relaxed);
        let (mut n, mut fresh, mut left) = (0, false, None);
        while n < max {
            let found = match ring.peek(&h, puts).map_err(|c| GetFail::Corrupt(c.0))? {
                Some(found) => found,
                None if !fresh => {
                    (puts, fresh) = (ring.tail().puts, true);
                    self.seen_puts.store(puts, Relaxed);
                    continue;
                }
                None => break,
            };
            let fds = if found.tag == POSTED { take_post(rx, found.post) } else { Vec::new() };
            let start = out.bytes.len();
            ring.read(&found, &mut out.bytes);
            out.items.push_back(Slot::Span(start, out.bytes.len(), fds));
            if let Some(end) = ring.advance(&mut h, &found) {
                left = Some(end);
            }
            n += 1;
        }
        if n > 0 {
            ring.commit_head(&h);
            if let Some(end) = left {
                // Pages of the lap left behind: under the producers' lock too.
                let producers = self.obj.lock_internal(ring.producers()).map_err(GetFail::Io)?;
                ring.release(end, &ring.tail(), &h);
                drop(producers);
            }
            // Under the lock: a producer that drains the room bell holds it too (see
            // `drain_room`), so it never drains a ring for room it cannot see.
            if Ring::should_ring(ring.producers_armed(), ring.room_rung()) {
                socket::ring(rx.bell.as_fd());
            }
        }
        if puts.wrapping_sub(h.gets) as i64 <= 0 && (waiting || rung(ring.items_rung())) {
            self.drain_items(rx, h.gets).map_err(GetFail::Io)?;
        }
        drop(held);
        Ok(n)
    }

    /// Drains the items bell if the ring holds nothing past the consumers' `gets` (the
    /// caller holds the consumers' lock): any bell there is stale. The producers' lock is
    /// taken to read the tail, as a producer rings for items under it: a ring for items
    /// the tail does not show yet cannot be under way, and a bell drained while items
    /// remain would leave the other sleepers asleep beside them.
    fn drain_items(&self, rx: &Half, gets: u64) -> io::Result<()> {
        let ring = self.ring();
        let _producers = self.obj.lock_internal(ring.producers())?;
        if ring.tail().puts == gets {
            drain(&rx.bell, ring.items_rung());
        }
        Ok(())
    }

    /// Marks one item done (`JoinableQueue::task_done`); `false` if none is unfinished.
    pub(crate) fn task_done(&self) -> io::Result<bool> {
        use std::sync::atomic::Ordering;
        let ring = self.ring();
        let _held = self.obj.lock_internal(ring.consumers())?;
        let mut h = ring.head();
        let puts = ring.tail().puts;
        if h.done >= puts {
            return Ok(false);
        }
        h.done += 1;
        ring.commit_head(&h);
        std::sync::atomic::fence(Ordering::SeqCst);
        if h.done == puts {
            let (joined, joiners) = ring.joined();
            joined.fetch_add(1, Ordering::SeqCst);
            if joiners.load(Ordering::SeqCst) != 0 {
                crate::sys::futex::wake_all(joined);
            }
        }
        Ok(true)
    }

    /// Waits until every item put has been marked done; `false` if `deadline` passed.
    pub(crate) fn join(&self, deadline: Option<Instant>) -> bool {
        use std::sync::atomic::Ordering;
        let ring = self.ring();
        let (joined, joiners) = ring.joined();
        loop {
            let seen = joined.load(Ordering::SeqCst);
            if ring.unfinished_hint() == 0 {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            joiners.fetch_add(1, Ordering::SeqCst);
            std::sync::atomic::fence(Ordering::SeqCst);
            if ring.unfinished_hint() != 0 {
                crate::sys::futex::wait_until(joined, seen, deadline);
            }
            joiners.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Whether a get would return at once (items are waiting), for [`wait`](crate::wait);
    /// if not, the caller is counted as a sleeper (until the guard drops), so that a
    /// producer rings.
    pub(crate) fn ready(&self) -> (bool, Option<Armed<'_>>) {
        let ring = self.ring();
        if ring.count_hint() > 0 {
            return (true, None);
        }
        let armed = Ring::arm(ring.consumers_armed());
        (ring.count_hint() > 0, Some(armed))
    }

    /// After `wait` saw `rx`'s bell readable and no items: drains the (stale) bell under
    /// the lock, as a woken consumer would; whether items arrived meanwhile.
    pub(crate) fn settle(&self, rx: &Half) -> io::Result<bool> {
        let ring = self.ring();
        let _held = self.obj.lock_internal(ring.consumers())?;
        let gets = ring.head().gets;
        self.drain_items(rx, gets)?;
        Ok(ring.count_hint() > 0)
    }
}

/// Whether a bell may have been rung since it was last drained.
fn rung(flag: &std::sync::atomic::AtomicU32) -> bool {
    flag.load(std::sync::atomic::Ordering::Relaxed) != 0
}

/// Drains `bell`, which the caller found stale (under both locks, the ring empty or
/// full).
fn drain(bell: &Tracked, rung: &std::sync::atomic::AtomicU32) {
    rung.store(0, std::sync::atomic::Ordering::Relaxed);
    socket::drain(bell.as_fd());
}

/// Polls `ready` for up to [`SPIN`] (never past `deadline`): busily at first, then
/// yielding the CPU between looks. Whether it became true.
fn spin(deadline: Option<Instant>, ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    let until = deadline.map_or(start + SPIN, |d| d.min(start + SPIN));
    let mut round = 0u32;
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        round += 1;
        if now - start > SPIN / 4 || round > 64 {
            std::thread::yield_now();
        }
    }
}

/// Sleeps on `half`'s bell until it rings, the other half is gone, or `wait` ends. The
/// bell is left unread (see the module docs).
fn sleep(half: &Half, wait: Wait) -> io::Result<Woke> {
    let r = socket::poll(&[half.bell.as_fd()], wait.deadline())?[0];
    Ok(if r.hangup {
        Woke::PeerGone
    } else if r.readable {
        Woke::Bell
    } else {
        Woke::TimedOut
    })
}

/// The descriptors posted for entry `id`: older messages (of producers that died before
/// committing) are dropped; a message that is missing leaves the item without them (its
/// decode then fails, the queue goes on).
fn take_post(rx: &Half, id: u64) -> Vec<OwnedFd> {
    let mut buf = [0u8; 8];
    while let Some(next) = socket::peek_u64(rx.post.as_fd()) {
        if next > id {
            break;
        }
        match socket::recv_fds(rx.post.as_fd(), &mut buf, false) {
            Ok(Some((8, fds))) if next == id => return fds,
            Ok(Some(_)) => continue,
            _ => break,
        }
    }
    Vec::new()
}
