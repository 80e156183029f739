//! [`Barrier`]: parties that wait for each other, pass after pass. Python:
//! `multiprocessing.Barrier`.
//!
//! Memory: a robust mutex guarding the state (generation, arrivals, which parties are
//! registered and which have arrived, broken, reset epoch — committed by one store), a
//! futex bumped at every change, and a table of [party tokens](crate::holders).
//!
//! A thread becomes a registered party at its first `wait` and holds a token until it
//! ends or drops its last handle on the barrier. A waiter sleeps on the futex and on the
//! tokens of the registered parties that have not arrived yet: one that dies — its
//! process killed, or ended without dropping the barrier — wakes them, and the barrier
//! breaks with [`BarrierError::PartyDied`] instead of waiting for ever as CPython does.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{BarrierError, SyncError};
use crate::handle;
use crate::holders::{Committed, Holders};
use crate::lock::MUTEX_AT;
use crate::object::{Kind, Object};
use crate::sys::futex;
use crate::sys::mutex::Kind as MutexKind;

const STATE: usize = 128;
const CHANGED: usize = 256;
const SLEEPERS: usize = 260;
const TOKENS: usize = 320;

const BROKEN: u32 = 1;
const PARTY_DIED: u32 = 2;

const _: () = assert!(STATE + Committed::<4>::BYTES <= CHANGED);

/// The state of a barrier.
#[derive(Debug, Clone, Copy)]
struct State {
    generation: u32,
    count: u32,
    registered: u64,
    arrived: u64,
    broken: u32,
    epoch: u32,
}

fn read(obj: &Object) -> State {
    let [a, registered, arrived, b] = Committed::<4>::at(STATE).read(obj);
    State {
        generation: a as u32,
        count: (a >> 32) as u32,
        registered,
        arrived,
        broken: b as u32,
        epoch: (b >> 32) as u32,
    }
}

fn commit(obj: &Object, st: &State) {
    let a = u64::from(st.generation) | (u64::from(st.count) << 32);
    let b = u64::from(st.broken) | (u64::from(st.epoch) << 32);
    Committed::<4>::at(STATE).write(obj, [a, st.registered, st.arrived, b]);
}

fn announce(obj: &Object) {
    let map = obj.map();
    map.u32_at(CHANGED).fetch_add(1, Ordering::SeqCst);
    if map.u32_at(SLEEPERS).load(Ordering::SeqCst) != 0 {
        futex::wake_all(map.u32_at(CHANGED));
    }
}

/// A party registered by this thread: its barrier and token slot (the token is locked
/// by this thread, its hold kept).
struct Party {
    obj: Arc<Object>,
    slot: usize,
}

impl Party {
    /// Unregisters: clears the slot and unlocks the token (on the registering thread).
    fn leave(self) {
        if let Ok(guard) = self.obj.lock_internal(MUTEX_AT) {
            let mut st = read(&self.obj);
            st.registered &= !(1 << self.slot);
            st.arrived &= !(1 << self.slot);
            commit(&self.obj, &st);
            self.obj.unlock_kept(TOKENS + self.slot * 64);
            drop(guard);
        }
    }
}

/// The parties this thread registered; they leave when the thread ends.
struct Registry(Vec<Party>);

impl Drop for Registry {
    fn drop(&mut self) {
        for party in self.0.drain(..) {
            party.leave();
        }
    }
}

thread_local! {
    static PARTIES: RefCell<Registry> = const { RefCell::new(Registry(Vec::new())) };
}

/// This thread's slot in `obj`, registering it if needed.
fn slot_of(obj: &Arc<Object>) -> Result<usize, BarrierError> {
    let known =
        PARTIES.with_borrow(|r| r.0.iter().find(|p| Arc::ptr_eq(&p.obj, obj)).map(|p| p.slot));
    if let Some(slot) = known {
        return Ok(slot);
    }
    let guard = obj.lock_internal(MUTEX_AT).map_err(BarrierError::Io)?;
    let mut st = read(obj);
    let holders = Holders::at(TOKENS);
    // Slots of parties that left without a trace (a thread that died before it
    // committed its registration) are free again.
    st.registered &= !holders.gone(obj, st.registered);
    let Some((slot, token)) = holders.take(obj, st.registered) else {
        return Err(BarrierError::Io(std::io::Error::other("more than 64 parties")));
    };
    st.registered |= 1 << slot;
    commit(obj, &st);
    token.keep();
    drop(guard);
    PARTIES.with_borrow_mut(|r| r.0.push(Party { obj: Arc::clone(obj), slot }));
    Ok(slot)
}

/// The barrier's memory, shared by this process's handles; when the last one goes,
/// this thread's registration (if any) ends with it.
struct Shared {
    obj: Arc<Object>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let mine = PARTIES.try_with(|r| {
            let mut r = r.borrow_mut();
            let at = r.0.iter().position(|p| Arc::ptr_eq(&p.obj, &self.obj));
            at.map(|i| r.0.swap_remove(i))
        });
        if let Ok(Some(party)) = mine {
            party.leave();
        }
    }
}

/// A barrier for a fixed number of parties, across processes. Python:
/// `multiprocessing.Barrier(parties)`.
///
/// Each pass, [`wait`](Self::wait) returns once `parties` threads wait, each with its
/// arrival index (0 to `parties - 1`: give the pass's one-off work to index 0, Python's
/// `action`). A timeout, [`abort`](Self::abort) or [`reset`](Self::reset) breaks it for
/// the waiters ([`BarrierError::Broken`]), as in Python.
///
/// Beyond CPython: a party that dies — a registered one, that is, a thread that has
/// waited on it and has not dropped it — breaks the barrier for the others with
/// [`BarrierError::PartyDied`] instead of leaving them waiting for ever.
///
/// ```
/// use multiproc::Process;
/// use multiproc::sync::Barrier;
///
/// fn step(b: Barrier) -> u32 {
///     (0..3).map(|_| b.wait().unwrap()).sum()
/// }
///
/// let b = Barrier::new(2)?;
/// let mut p = Process::new(step, b.clone());
/// p.start()?;
/// let mine = step(b);
/// assert_eq!(mine + p.join()?, 3); // one 0 and one 1 per pass
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Barrier {
    shared: Arc<Shared>,
}

impl Barrier {
    /// A barrier for `parties` (at least 1). Python: `Barrier(parties)`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Invalid`] for 0 parties; [`SyncError::Io`] when the system refuses
    /// the memory.
    pub fn new(parties: u32) -> Result<Barrier, SyncError> {
        if parties == 0 {
            return Err(SyncError::Invalid("a barrier needs at least one party".into()));
        }
        let obj = Object::create(Kind::Barrier, 0, u64::from(parties), 0, TOKENS + Holders::BYTES)?;
        obj.init_mutex(MUTEX_AT, MutexKind::Plain)?;
        Holders::at(TOKENS).init(&obj)?;
        Ok(Barrier { shared: Arc::new(Shared { obj }) })
    }

    fn obj(&self) -> &Arc<Object> {
        &self.shared.obj
    }

    /// The number of parties. Python: `parties`.
    pub fn parties(&self) -> u32 {
        self.obj().param() as u32
    }

    /// How many wait now. Python: `n_waiting`.
    pub fn n_waiting(&self) -> u32 {
        match self.obj().lock_internal(MUTEX_AT) {
            Ok(_guard) => read(self.obj()).count,
            Err(_) => 0,
        }
    }

    /// Whether it is broken. Python: `broken`.
    pub fn is_broken(&self) -> bool {
        match self.obj().lock_internal(MUTEX_AT) {
            Ok(_guard) => read(self.obj()).broken != 0,
            Err(_) => true,
        }
    }

    /// Waits for the other parties; this one's arrival index. Python: `wait()`.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] when the barrier is or becomes broken (a timeout,
    /// `abort`, `reset`); [`BarrierError::PartyDied`] when a registered party dies
    /// before it arrives.
    pub fn wait(&self) -> Result<u32, BarrierError> {
        self.wait_until(None)
    }

    /// As [`wait`](Self::wait), for at most `timeout`; a timeout breaks the barrier.
    /// Python: `wait(timeout)`.
    ///
    /// # Errors
    ///
    /// [`BarrierError::TimedOut`] for this party (the others get `Broken`); as
    /// [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BarrierError> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<u32, BarrierError> {
        let obj = self.obj();
        let me = 1u64 << slot_of(obj)?;
        let holders = Holders::at(TOKENS);
        let mut guard = obj.lock_internal(MUTEX_AT).map_err(BarrierError::Io)?;
        let mut st = read(obj);
        if let Some(e) = broken(&st) {
            return Err(e);
        }
        let index = st.count;
        st.count += 1;
        st.arrived |= me;
        if st.count >= self.parties() {
            st.generation = st.generation.wrapping_add(1);
            (st.count, st.arrived) = (0, 0);
            commit(obj, &st);
            announce(obj);
            return Ok(index);
        }
        commit(obj, &st);
        let (generation, epoch) = (st.generation, st.epoch);
        let map = obj.map();
        loop {
            // A registered party that has not arrived and is gone: it never will.
            let missing = st.registered & !st.arrived & !me;
            let gone = holders.gone(obj, missing);
            if gone != 0 {
                st.registered &= !gone;
                st.broken = PARTY_DIED;
                commit(obj, &st);
                announce(obj);
                return Err(BarrierError::PartyDied);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                st.broken = BROKEN;
                commit(obj, &st);
                announce(obj);
                return Err(BarrierError::TimedOut);
            }
            let changed = map.u32_at(CHANGED);
            let mut words = vec![(changed, changed.load(Ordering::SeqCst))];
            words.extend(holders.words(obj, missing));
            map.u32_at(SLEEPERS).fetch_add(1, Ordering::SeqCst);
            drop(guard);
            let slept = futex::wait_any(&words, deadline);
            map.u32_at(SLEEPERS).fetch_sub(1, Ordering::SeqCst);
            slept.map_err(BarrierError::Io)?;
            guard = obj.lock_internal(MUTEX_AT).map_err(BarrierError::Io)?;
            st = read(obj);
            if st.generation != generation {
                return Ok(index);
            }
            if st.epoch != epoch {
                return Err(BarrierError::Broken);
            }
            if let Some(e) = broken(&st) {
                return Err(e);
            }
        }
    }

    /// Breaks the barrier: every waiter, now and later, gets `Broken` until
    /// [`reset`](Self::reset). Python: `abort()`.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Io`] only when the system refuses.
    pub fn abort(&self) -> Result<(), BarrierError> {
        self.change(|st| st.broken = BROKEN)
    }

    /// Empties and mends the barrier: current waiters get `Broken`, later ones wait
    /// afresh. Python: `reset()`.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Io`] only when the system refuses.
    pub fn reset(&self) -> Result<(), BarrierError> {
        self.change(|st| {
            (st.count, st.arrived, st.broken) = (0, 0, 0);
            st.epoch = st.epoch.wrapping_add(1);
        })
    }

    fn change(&self, f: impl FnOnce(&mut State)) -> Result<(), BarrierError> {
        let obj = self.obj();
        let guard = obj.lock_internal(MUTEX_AT).map_err(BarrierError::Io)?;
        let mut st = read(obj);
        f(&mut st);
        commit(obj, &st);
        announce(obj);
        drop(guard);
        Ok(())
    }
}

fn broken(st: &State) -> Option<BarrierError> {
    match st.broken {
        0 => None,
        PARTY_DIED => Some(BarrierError::PartyDied),
        _ => Some(BarrierError::Broken),
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}

impl Serialize for Barrier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        handle::serialize(self.obj(), s)
    }
}

impl<'de> Deserialize<'de> for Barrier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let obj = handle::deserialize(d, Kind::Barrier, 0)?;
        Ok(Barrier { shared: Arc::new(Shared { obj }) })
    }
}
