//! [`Semaphore`] and [`BoundedSemaphore`]: counters of units between processes that
//! survive a holder's death. Python: `multiprocessing.Semaphore`, `BoundedSemaphore`.
//!
//! Memory: a robust mutex guarding the state (value, bound, which token slots are in use,
//! committed by one store), a futex bumped on every release, and a table of
//! [holder tokens](crate::holders). `acquire` takes a unit *and* a token, held by the
//! acquiring thread until its guard is dropped: a holder that dies leaves its token
//! marked by the kernel, the next acquirer takes the unit back (and hears of it:
//! [`LockError::OwnerDied`]), and sleepers, who also wait on the tokens, wake at once.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{LockError, ReleaseError, SyncError};
use crate::handle;
use crate::holders::{Committed, Holders};
use crate::lock::MUTEX_AT;
use crate::object::{Held, Kind, Object};
use crate::sys::futex;
use crate::sys::mutex::Kind as MutexKind;

const STATE: usize = 128;
const CHANGED: usize = 192;
const SLEEPERS: usize = 196;
const TOKENS: usize = 256;

/// The state: units free, the bound plus one (0: none), tokens in use.
struct State {
    value: u32,
    bound: u32,
    in_use: u64,
}

fn read(obj: &Object) -> State {
    let [a, in_use] = Committed::<2>::at(STATE).read(obj);
    State { value: a as u32, bound: (a >> 32) as u32, in_use }
}

fn commit(obj: &Object, st: &State) {
    let a = u64::from(st.value) | (u64::from(st.bound) << 32);
    Committed::<2>::at(STATE).write(obj, [a, st.in_use]);
}

/// Wakes whoever sleeps on the object's `changed` word.
fn announce(obj: &Object) {
    let map = obj.map();
    map.u32_at(CHANGED).fetch_add(1, Ordering::SeqCst);
    if map.u32_at(SLEEPERS).load(Ordering::SeqCst) != 0 {
        futex::wake_all(map.u32_at(CHANGED));
    }
}

/// How an acquire waits.
#[derive(Clone, Copy)]
enum Wait {
    Block,
    Until(Instant),
    Try,
}

fn create(value: u32, bound: u32) -> Result<Arc<Object>, SyncError> {
    let obj = Object::create(Kind::Semaphore, 0, u64::from(bound), 0, TOKENS + Holders::BYTES)?;
    obj.init_mutex(MUTEX_AT, MutexKind::Plain)?;
    Holders::at(TOKENS).init(&obj)?;
    commit(&obj, &State { value, bound, in_use: 0 });
    Ok(obj)
}

fn acquire(obj: &Object, how: Wait) -> Result<SemaphoreGuard<'_>, LockError<SemaphoreGuard<'_>>> {
    let holders = Holders::at(TOKENS);
    let deadline = match how {
        Wait::Until(d) => Some(d),
        _ => None,
    };
    loop {
        let guard = obj.lock_internal(MUTEX_AT).map_err(LockError::Io)?;
        let mut st = read(obj);
        // Units whose holders died come back.
        let gone = holders.gone(obj, st.in_use);
        let died = gone != 0;
        if died {
            st.value += gone.count_ones();
            st.in_use &= !gone;
        }
        if st.value > 0
            && let Some((slot, token)) = holders.take(obj, st.in_use)
        {
            st.value -= 1;
            st.in_use |= 1 << slot;
            commit(obj, &st);
            drop(guard);
            let g = SemaphoreGuard { obj, slot, token: Some(token), _not_send: PhantomData };
            return if died { Err(LockError::OwnerDied(g)) } else { Ok(g) };
        }
        if died {
            commit(obj, &st);
        }
        if matches!(how, Wait::Try) {
            return Err(LockError::WouldBlock);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(LockError::TimedOut);
        }
        // Sleep until a release, or the death of a holder (its token's word changes).
        let map = obj.map();
        let changed = map.u32_at(CHANGED);
        let mut words = vec![(changed, changed.load(Ordering::SeqCst))];
        words.extend(holders.words(obj, st.in_use));
        map.u32_at(SLEEPERS).fetch_add(1, Ordering::SeqCst);
        drop(guard);
        let slept = futex::wait_any(&words, deadline);
        map.u32_at(SLEEPERS).fetch_sub(1, Ordering::SeqCst);
        slept.map_err(LockError::Io)?;
    }
}

/// One unit of a [`Semaphore`] or [`BoundedSemaphore`], held by this thread; dropping it
/// releases the unit. Not `Send` (its token is this thread's).
pub struct SemaphoreGuard<'a> {
    obj: &'a Object,
    slot: usize,
    token: Option<Held<'a>>,
    _not_send: PhantomData<*const ()>,
}

impl SemaphoreGuard<'_> {
    /// Keeps the unit taken but stops tracking it, as Python's `acquire()` without a
    /// `release()` does: someone must [`release`](Semaphore::release) it, and this
    /// thread's death no longer gives it back.
    pub fn forget(mut self) {
        self.give_back(false);
    }

    fn give_back(&mut self, unit: bool) {
        let Some(token) = self.token.take() else { return };
        // Best effort in `Drop`: a lock that cannot be taken leaves the token to be
        // found by the next acquirer when this thread ends.
        if let Ok(guard) = self.obj.lock_internal(MUTEX_AT) {
            let mut st = read(self.obj);
            st.in_use &= !(1 << self.slot);
            if unit {
                st.value += 1;
            }
            commit(self.obj, &st);
            drop(token); // after the commit: a death between the two leaves a free token
            announce(self.obj);
            drop(guard);
        }
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.give_back(true);
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").field("slot", &self.slot).finish()
    }
}

/// Adds a unit (`bounded`: refused above the initial value, counting the units held).
fn release(obj: &Object) -> Result<(), ReleaseError> {
    let guard = obj.lock_internal(MUTEX_AT).map_err(ReleaseError::Io)?;
    let mut st = read(obj);
    if st.bound != 0 && st.value + st.in_use.count_ones() + 1 >= st.bound {
        return Err(ReleaseError::TooManyReleases);
    }
    st.value += 1;
    commit(obj, &st);
    announce(obj);
    drop(guard);
    Ok(())
}

fn value(obj: &Object) -> u32 {
    match obj.lock_internal(MUTEX_AT) {
        Ok(_guard) => read(obj).value,
        Err(_) => 0,
    }
}

macro_rules! semaphore {
    ($(#[$doc:meta])* $name:ident, $bounded:literal, $python:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            obj: Arc<Object>,
        }

        impl $name {
            #[doc = concat!("A semaphore of `value` units. Python: `", $python, "(value)`.")]
            ///
            /// # Errors
            ///
            /// [`SyncError::Io`] when the system refuses the memory.
            pub fn new(value: u32) -> Result<$name, SyncError> {
                let bound = if $bounded { value.saturating_add(1) } else { 0 };
                Ok($name { obj: create(value, bound)? })
            }

            /// Takes a unit, waiting for one. Python: `acquire()`; the guard's drop is
            /// `release()`.
            ///
            /// At most 64 threads hold tracked units at once; more wait as if no unit
            /// were free.
            ///
            /// # Errors
            ///
            /// [`LockError::OwnerDied`] (with the guard: the unit is yours) when this
            /// unit comes back from a holder that died; see [`LockError`].
            pub fn acquire(&self) -> Result<SemaphoreGuard<'_>, LockError<SemaphoreGuard<'_>>> {
                acquire(&self.obj, Wait::Block)
            }

            /// Takes a unit, waiting at most `timeout`. Python: `acquire(timeout=t)`.
            ///
            /// # Errors
            ///
            /// [`LockError::TimedOut`] after the timeout; as [`acquire`](Self::acquire).
            pub fn acquire_timeout(
                &self,
                timeout: Duration,
            ) -> Result<SemaphoreGuard<'_>, LockError<SemaphoreGuard<'_>>> {
                let how = Instant::now().checked_add(timeout).map_or(Wait::Block, Wait::Until);
                acquire(&self.obj, how)
            }

            /// Takes a unit if one is free now. Python: `acquire(False)`.
            ///
            /// # Errors
            ///
            /// [`LockError::WouldBlock`] when none is; as [`acquire`](Self::acquire).
            pub fn try_acquire(&self) -> Result<SemaphoreGuard<'_>, LockError<SemaphoreGuard<'_>>> {
                acquire(&self.obj, Wait::Try)
            }

            /// Units free now. Python: `get_value()`.
            pub fn value(&self) -> u32 {
                value(&self.obj)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("value", &self.value()).finish()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                handle::serialize(&self.obj, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let obj = handle::deserialize(d, Kind::Semaphore, 0)?;
                if (obj.param() != 0) != $bounded {
                    return Err(serde::de::Error::custom("the semaphore sent is of the other kind"));
                }
                Ok($name { obj })
            }
        }
    };
}

semaphore!(
    /// A counter of units between processes. Python: `multiprocessing.Semaphore`.
    ///
    /// [`acquire`](Self::acquire) takes a unit and returns a guard that gives it back
    /// when dropped; [`release`](Self::release) adds a unit (above the initial value
    /// too, as in Python). A holder that dies without giving its unit back does not lose
    /// it: the next `acquire` gets it, with [`LockError::OwnerDied`]. CPython's
    /// semaphore stays one unit short for ever.
    ///
    /// ```
    /// use multiproc::sync::{LockError, Semaphore};
    ///
    /// let sem = Semaphore::new(2)?;
    /// let a = sem.acquire().or_else(LockError::recover)?;
    /// let b = sem.acquire().or_else(LockError::recover)?;
    /// assert!(matches!(sem.try_acquire(), Err(LockError::WouldBlock)));
    /// drop(a);
    /// assert_eq!(sem.value(), 1);
    /// sem.release()?; // 2, beyond what is held: a plain Semaphore allows it
    /// # drop(b);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Semaphore, false, "Semaphore"
);

semaphore!(
    /// A [`Semaphore`] that refuses to be released above its initial value. Python:
    /// `multiprocessing.BoundedSemaphore`.
    ///
    /// ```
    /// use multiproc::sync::{BoundedSemaphore, LockError, ReleaseError};
    ///
    /// let sem = BoundedSemaphore::new(1)?;
    /// sem.acquire().or_else(LockError::recover)?.forget(); // Python's bare acquire()
    /// sem.release()?;
    /// assert!(matches!(sem.release(), Err(ReleaseError::TooManyReleases)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    BoundedSemaphore, true, "BoundedSemaphore"
);

impl Semaphore {
    /// Adds a unit: wakes a waiter. Python: `release()` (without a matching acquire).
    ///
    /// # Errors
    ///
    /// [`ReleaseError::Io`] only when the system refuses.
    pub fn release(&self) -> Result<(), ReleaseError> {
        release(&self.obj)
    }
}

impl BoundedSemaphore {
    /// Adds a unit back. Python: `release()`.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::TooManyReleases`] above the initial value (Python's `ValueError`).
    pub fn release(&self) -> Result<(), ReleaseError> {
        release(&self.obj)
    }
}
