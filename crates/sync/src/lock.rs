//! [`Lock`] and [`RLock`]: robust locks between processes. Python:
//! `multiprocessing.Lock` and `multiprocessing.RLock`.
//!
//! Each is one robust, process-shared mutex in a sealed memfd. A holder that dies —
//! killed mid-update, or ending without unlocking — does not leave the others blocked:
//! the next one to lock gets [`LockError::OwnerDied`] with the guard, repairs what the
//! lock protects, and goes on.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{LockError, SyncError};
use crate::handle;
use crate::object::{Held, Kind, Object};
use crate::sys::mutex::{Kind as MutexKind, Locked};

/// Where an object's main mutex lives (after the common header).
pub(crate) const MUTEX_AT: usize = 64;

/// How a lock attempt waits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Attempt {
    Block,
    Until(Instant),
    Try,
}

impl Attempt {
    pub(crate) fn timeout(d: Duration) -> Attempt {
        Instant::now().checked_add(d).map_or(Attempt::Block, Attempt::Until)
    }
}

/// Locks the mutex at `off` of `obj`: the hold, or the typed failure (a dead owner's lock
/// is taken and marked consistent: the error carries the hold).
pub(crate) fn acquire(
    obj: &Object,
    off: usize,
    how: Attempt,
) -> Result<Held<'_>, LockError<Held<'_>>> {
    let got = match how {
        Attempt::Block => obj.lock(off, None),
        Attempt::Until(d) => obj.lock(off, Some(d)),
        Attempt::Try => obj.try_lock(off),
    };
    match got {
        Ok(Ok((held, false))) => Ok(held),
        Ok(Ok((held, true))) => {
            held.make_consistent();
            Err(LockError::OwnerDied(held))
        }
        Ok(Err(Locked::Busy)) => Err(LockError::WouldBlock),
        Ok(Err(Locked::TimedOut)) => Err(LockError::TimedOut),
        Ok(Err(Locked::Deadlock)) => Err(LockError::WouldDeadlock),
        Ok(Err(other)) => Err(LockError::Io(std::io::Error::other(format!("{other:?}")))),
        Err(e) => Err(LockError::Io(e)),
    }
}

/// Generates a lock type: a robust mutex of the given kind, its guard, serde, Debug.
macro_rules! robust_lock {
    ($(#[$doc:meta])* $name:ident, $guard:ident, $kind:expr, $objkind:expr, $python:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            obj: Arc<Object>,
        }

        impl $name {
            #[doc = concat!("A new, unlocked lock. Python: `", $python, "()`.")]
            ///
            /// # Errors
            ///
            /// [`SyncError::Io`] when the system refuses the memory.
            pub fn new() -> Result<$name, SyncError> {
                let obj = Object::create($objkind, 0, 0, 0, MUTEX_AT + 64)?;
                obj.init_mutex(MUTEX_AT, $kind)?;
                Ok($name { obj })
            }

            fn guard(&self, how: Attempt) -> Result<$guard<'_>, LockError<$guard<'_>>> {
                acquire(&self.obj, MUTEX_AT, how)
                    .map(|held| $guard { _held: held, _not_send: PhantomData })
                    .map_err(|e| e.map(|held| $guard { _held: held, _not_send: PhantomData }))
            }

            /// Locks, waiting as long as it takes. Python: `acquire()`.
            ///
            /// # Errors
            ///
            /// [`LockError::OwnerDied`] (with the guard: you hold the lock) when the
            /// previous holder died holding it; see [`LockError`].
            pub fn lock(&self) -> Result<$guard<'_>, LockError<$guard<'_>>> {
                self.guard(Attempt::Block)
            }

            /// Locks, waiting at most `timeout`. Python: `acquire(timeout=t)`.
            ///
            /// # Errors
            ///
            /// [`LockError::TimedOut`] after the timeout; as [`lock`](Self::lock).
            pub fn lock_timeout(&self, timeout: Duration) -> Result<$guard<'_>, LockError<$guard<'_>>> {
                self.guard(Attempt::timeout(timeout))
            }

            /// Locks if nobody holds it now. Python: `acquire(False)`.
            ///
            /// # Errors
            ///
            /// [`LockError::WouldBlock`] when it is held; as [`lock`](Self::lock).
            pub fn try_lock(&self) -> Result<$guard<'_>, LockError<$guard<'_>>> {
                self.guard(Attempt::Try)
            }
        }

        #[doc = concat!("A held [`", stringify!($name), "`]; dropping it unlocks. Python: `release()`.")]
        ///
        /// Not `Send`: the thread that locked unlocks (that is what lets the system tell
        /// when a holder died).
        pub struct $guard<'a> {
            _held: Held<'a>,
            _not_send: PhantomData<*const ()>,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl fmt::Debug for $guard<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($guard)).finish_non_exhaustive()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                handle::serialize(&self.obj, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                handle::deserialize(d, $objkind, 0).map(|obj| $name { obj })
            }
        }
    };
}

robust_lock!(
    /// A lock between processes that survives its holder's death. Python:
    /// `multiprocessing.Lock`.
    ///
    /// [`lock`](Self::lock) returns a guard that unlocks when dropped. If the process
    /// (or thread) holding the lock dies — killed, or ending without unlocking — the
    /// next `lock` gets [`LockError::OwnerDied`] carrying the guard: the lock is taken,
    /// and what it protects may be half-updated. CPython leaves every other process
    /// blocked for ever instead.
    ///
    /// Locking it again on the thread that holds it is [`LockError::WouldDeadlock`], not
    /// a hang (use an [`RLock`] to nest). A handle travels to other processes as a
    /// `Process` argument, a pool initializer's argument or inside a queue item; `Clone`
    /// shares it in this process.
    ///
    /// ```
    /// use multiproc::sync::{Lock, LockError};
    ///
    /// let lock = Lock::new()?;
    /// let guard = lock.lock().or_else(LockError::recover)?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(matches!(lock.try_lock(), Err(LockError::WouldBlock))));
    /// });
    /// assert!(matches!(lock.lock(), Err(LockError::WouldDeadlock))); // not a hang
    /// drop(guard);
    /// assert!(lock.try_lock().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A guard stays on the thread that locked (which is how the system tells that a
    /// holder died), so sending it to another thread does not compile:
    ///
    /// ```compile_fail
    /// let lock = multiproc::sync::Lock::new().unwrap();
    /// let guard = lock.lock().unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(move || drop(guard));
    /// });
    /// ```
    Lock, LockGuard, MutexKind::Plain, Kind::Lock, "Lock"
);

robust_lock!(
    /// A re-entrant lock between processes that survives its holder's death. Python:
    /// `multiprocessing.RLock`.
    ///
    /// The thread that holds it may lock it again; it is free once every guard is
    /// dropped. Otherwise as a [`Lock`], `OwnerDied` included.
    ///
    /// ```
    /// use multiproc::sync::{LockError, RLock};
    ///
    /// let lock = RLock::new()?;
    /// let outer = lock.lock().or_else(LockError::recover)?;
    /// let inner = lock.lock().or_else(LockError::recover)?; // the same thread: nested
    /// drop(inner);
    /// drop(outer);
    /// assert!(lock.try_lock().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    RLock, RLockGuard, MutexKind::Recursive, Kind::RLock, "RLock"
);
