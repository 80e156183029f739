//! [`Condition`]: a robust lock plus waiting for a notification. Python:
//! `multiprocessing.Condition`.
//!
//! Memory: the robust mutex, then `waiting` (how many wait), `permits` (notifications
//! given and not yet taken) and `seq` (a futex bumped by every notify), all changed under
//! the mutex. A waiter sleeps on `seq`, then takes a permit under the mutex: `notify(n)`
//! lets `min(n, waiting)` of them go. A waiter that arrives just after a notify may take
//! a permit meant for an earlier one (which then waits on): check what you wait for, as
//! with any condition variable.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{LockError, SyncError};
use crate::handle;
use crate::lock::{Attempt, MUTEX_AT, acquire};
use crate::object::{Held, Kind, Object};
use crate::sys::futex;
use crate::sys::mutex::Kind as MutexKind;

const WAITING: usize = 128;
const PERMITS: usize = 132;
const SEQ: usize = 136;

/// A condition variable between processes, with its own robust lock. Python:
/// `multiprocessing.Condition`.
///
/// [`lock`](Self::lock) gives a [`ConditionGuard`]: holding it, wait for a notification
/// ([`wait`](ConditionGuard::wait), [`wait_for`](ConditionGuard::wait_for)) or give one
/// ([`notify`](ConditionGuard::notify), [`notify_all`](ConditionGuard::notify_all)).
/// Waiting without the lock does not compile (Python raises at run time).
///
/// If a holder of the lock dies, the next to lock it — or a waiter taking it back — gets
/// [`LockError::OwnerDied`], as with a [`Lock`](crate::Lock). Waits can end without a
/// notification then; check the condition you wait for (`wait_for` does).
///
/// ```
/// use multiproc::Process;
/// use multiproc::sync::{Condition, LockError, Value};
///
/// fn finish(args: (Condition, Value<u32>)) {
///     let (cond, done) = args;
///     let guard = cond.lock().unwrap();
///     done.set(1);
///     guard.notify_all();
/// }
///
/// let (cond, done) = (Condition::new()?, Value::new(0u32)?);
/// let mut p = Process::new(finish, (cond.clone(), done.clone()));
/// let mut guard = cond.lock().or_else(LockError::recover)?;
/// p.start()?;
/// assert!(guard.wait_for(|| done.get() == 1, None)?);
/// drop(guard);
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Condition {
    obj: Arc<Object>,
}

/// A held [`Condition`]'s lock; dropping it unlocks. Not `Send`.
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
    held: Option<Held<'a>>,
    _not_send: PhantomData<*const ()>,
}

impl Condition {
    /// A new condition with its lock free. Python: `Condition()`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Io`] when the system refuses the memory.
    pub fn new() -> Result<Condition, SyncError> {
        let obj = Object::create(Kind::Condition, 0, 0, 0, SEQ + 64)?;
        obj.init_mutex(MUTEX_AT, MutexKind::Plain)?;
        Ok(Condition { obj })
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        self.obj.map().u32_at(off)
    }

    fn guard(&self, how: Attempt) -> Result<ConditionGuard<'_>, LockError<ConditionGuard<'_>>> {
        let make = |held| ConditionGuard { cond: self, held: Some(held), _not_send: PhantomData };
        acquire(&self.obj, MUTEX_AT, how).map(make).map_err(|e| e.map(make))
    }

    /// Takes the lock. Python: `acquire()`.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (with the guard) when the previous holder died holding
    /// it; see [`LockError`].
    pub fn lock(&self) -> Result<ConditionGuard<'_>, LockError<ConditionGuard<'_>>> {
        self.guard(Attempt::Block)
    }

    /// Takes the lock, waiting at most `timeout`. Python: `acquire(timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`LockError::TimedOut`] after the timeout; as [`lock`](Self::lock).
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ConditionGuard<'_>, LockError<ConditionGuard<'_>>> {
        self.guard(Attempt::timeout(timeout))
    }

    /// Takes the lock if it is free. Python: `acquire(False)`.
    ///
    /// # Errors
    ///
    /// [`LockError::WouldBlock`] when it is held; as [`lock`](Self::lock).
    pub fn try_lock(&self) -> Result<ConditionGuard<'_>, LockError<ConditionGuard<'_>>> {
        self.guard(Attempt::Try)
    }
}

impl<'a> ConditionGuard<'a> {
    /// Releases the lock, waits for a notification, takes the lock back. Python:
    /// `wait()`.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] when a holder died while this one waited (the lock is
    /// held again all the same).
    pub fn wait(&mut self) -> Result<(), LockError<()>> {
        self.wait_until(None).map(drop)
    }

    /// As [`wait`](Self::wait), for at most `timeout`; whether a notification came.
    /// Python: `wait(timeout)`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<bool, LockError<()>> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Waits until `ready()` holds (checked with the lock held, before each wait), for
    /// at most `timeout` if given; the last value of `ready()`. Python:
    /// `wait_for(predicate, timeout)`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_for(
        &mut self,
        mut ready: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool, LockError<()>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if ready() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            self.wait_until(deadline)?;
        }
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> Result<bool, LockError<()>> {
        let cond = self.cond;
        let (waiting, permits, seq) = (cond.word(WAITING), cond.word(PERMITS), cond.word(SEQ));
        waiting.fetch_add(1, Ordering::Relaxed);
        let mut seen = seq.load(Ordering::SeqCst);
        drop(self.held.take()); // unlocks
        let mut died = false;
        loop {
            futex::wait_until(seq, seen, deadline);
            let held = match acquire(&cond.obj, MUTEX_AT, Attempt::Block) {
                Ok(held) => held,
                Err(LockError::OwnerDied(held)) => {
                    died = true;
                    held
                }
                Err(other) => return Err(other.map(drop)),
            };
            let notified = permits.load(Ordering::Relaxed) > 0;
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            if notified || timed_out || died {
                if notified {
                    permits.fetch_sub(1, Ordering::Relaxed);
                }
                waiting.fetch_sub(1, Ordering::Relaxed);
                self.held = Some(held);
                return if died { Err(LockError::OwnerDied(())) } else { Ok(notified) };
            }
            seen = seq.load(Ordering::SeqCst);
            drop(held);
        }
    }

    /// Wakes up to `n` waiters. Python: `notify(n)`.
    pub fn notify(&self, n: usize) {
        let cond = self.cond;
        let (waiting, permits, seq) = (cond.word(WAITING), cond.word(PERMITS), cond.word(SEQ));
        let free = waiting.load(Ordering::Relaxed).saturating_sub(permits.load(Ordering::Relaxed));
        let n = free.min(u32::try_from(n).unwrap_or(u32::MAX));
        if n > 0 {
            permits.fetch_add(n, Ordering::Relaxed);
            seq.fetch_add(1, Ordering::SeqCst);
            futex::wake_all(seq);
        }
    }

    /// Wakes every waiter. Python: `notify_all()`.
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiting", &self.word(WAITING).load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionGuard").finish_non_exhaustive()
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        handle::serialize(&self.obj, s)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        handle::deserialize(d, Kind::Condition, 0).map(|obj| Condition { obj })
    }
}
