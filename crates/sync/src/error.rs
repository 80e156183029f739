//! The errors of this crate: one type per operation where the failures differ.
//!
//! Every message is lowercase without a final period; `source()` gives the cause. Errors
//! of operations that take an item by value give it back ([`PutError::into_inner`]).

use std::error::Error;
use std::fmt;
use std::io;

use multiproc_codec::CodecError;

/// A shared object could not be created, attached or passed on.
#[derive(Debug)]
#[non_exhaustive]
pub enum SyncError {
    /// The operating system refused (out of memory or descriptors, a name in use...).
    Io(io::Error),
    /// An argument makes no sense (a zero size, a name with a `/`...): what and why.
    Invalid(String),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Io(e) => write!(f, "the system refused: {e}"),
            SyncError::Invalid(why) => write!(f, "invalid argument: {why}"),
        }
    }
}

impl Error for SyncError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            SyncError::Io(e) => Some(e),
            SyncError::Invalid(_) => None,
        }
    }
}

impl From<io::Error> for SyncError {
    fn from(e: io::Error) -> SyncError {
        SyncError::Io(e)
    }
}

/// Generates the put/send error types (the same failures under each API's names).
macro_rules! send_error {
    ($(#[$doc:meta])* $name:ident, $verb:literal, $peers:literal
     $(, $(#[$xdoc:meta])* $extra:ident => $xmsg:literal)?) => {
        $(#[$doc])*
        #[non_exhaustive]
        pub enum $name<T> {
            #[doc = concat!("`try_", $verb, "`: no room now (the item is given back).")]
            Full(T),
            #[doc = concat!("`", $verb, "_timeout`: still no room when the timeout passed.")]
            TimedOut(T),
            #[doc = concat!("Every ", $peers, " is gone, in every process (exited, killed or dropped): nobody can ever take the item.")]
            Disconnected(T),
            /// The item could not be encoded (nothing was sent).
            Encode(CodecError),
            /// The item is larger than the shared memory can ever hold.
            TooLarge(T),
            /// The operating system refused.
            Io(io::Error),
            $($(#[$xdoc])* $extra(T),)?
        }

        impl<T> $name<T> {
            /// The item, when the error gave it back.
            pub fn into_inner(self) -> Option<T> {
                match self {
                    $name::Full(t) | $name::TimedOut(t) | $name::Disconnected(t) | $name::TooLarge(t) => Some(t),
                    $($name::$extra(t) => Some(t),)?
                    _ => None,
                }
            }

            /// Whether every receiving end is gone.
            pub fn is_disconnected(&self) -> bool {
                matches!(self, $name::Disconnected(_))
            }

            /// The same error without the item.
            pub fn forget(self) -> $name<()> {
                match self {
                    $name::Full(_) => $name::Full(()),
                    $name::TimedOut(_) => $name::TimedOut(()),
                    $name::Disconnected(_) => $name::Disconnected(()),
                    $name::TooLarge(_) => $name::TooLarge(()),
                    $name::Encode(e) => $name::Encode(e),
                    $name::Io(e) => $name::Io(e),
                    $($name::$extra(_) => $name::$extra(()),)?
                }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::Full(_) => f.write_str(concat!(stringify!($name), "::Full(..)")),
                    $name::TimedOut(_) => f.write_str(concat!(stringify!($name), "::TimedOut(..)")),
                    $name::Disconnected(_) => f.write_str(concat!(stringify!($name), "::Disconnected(..)")),
                    $name::TooLarge(_) => f.write_str(concat!(stringify!($name), "::TooLarge(..)")),
                    $name::Encode(e) => f.debug_tuple(concat!(stringify!($name), "::Encode")).field(e).finish(),
                    $name::Io(e) => f.debug_tuple(concat!(stringify!($name), "::Io")).field(e).finish(),
                    $($name::$extra(_) => f.write_str(concat!(stringify!($name), "::", stringify!($extra), "(..)")),)?
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::Full(_) => f.write_str("no room for the item"),
                    $name::TimedOut(_) => f.write_str("timed out waiting for room"),
                    $name::Disconnected(_) => f.write_str(concat!("every ", $peers, " is gone")),
                    $name::Encode(e) => write!(f, "{e}"),
                    $name::TooLarge(_) => f.write_str("the item is larger than the shared memory can hold"),
                    $name::Io(e) => write!(f, "the system refused: {e}"),
                    $($name::$extra(_) => f.write_str($xmsg),)?
                }
            }
        }

        impl<T> Error for $name<T> {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                match self {
                    $name::Encode(e) => Some(e),
                    $name::Io(e) => Some(e),
                    _ => None,
                }
            }
        }
    };
}

/// Generates the get/recv error types.
macro_rules! recv_error {
    ($(#[$doc:meta])* $name:ident, $verb:literal, $peers:literal
     $(, $(#[$xdoc:meta])* $extra:ident => $xmsg:literal)?) => {
        $(#[$doc])*
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum $name {
            #[doc = concat!("`try_", $verb, "`: nothing there now.")]
            Empty,
            #[doc = concat!("`", $verb, "_timeout`: still nothing when the timeout passed.")]
            TimedOut,
            #[doc = concat!("Every ", $peers, " is gone, in every process (exited, killed or dropped), and everything it sent was taken.")]
            Disconnected,
            /// The item could not be decoded (it is consumed; the next call goes on).
            Decode(CodecError),
            /// The shared memory does not hold well-formed items: it was overwritten.
            Corrupt(String),
            /// The operating system refused.
            Io(io::Error),
            $($(#[$xdoc])* $extra,)?
        }

        impl $name {
            /// Whether every sending end is gone and nothing is left.
            pub fn is_disconnected(&self) -> bool {
                matches!(self, $name::Disconnected)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::Empty => f.write_str("nothing to take"),
                    $name::TimedOut => f.write_str("timed out waiting for an item"),
                    $name::Disconnected => f.write_str(concat!("every ", $peers, " is gone and nothing is left")),
                    $name::Decode(e) => write!(f, "{e}"),
                    $name::Corrupt(why) => write!(f, "the shared memory is corrupt: {why}"),
                    $name::Io(e) => write!(f, "the system refused: {e}"),
                    $($name::$extra => f.write_str($xmsg),)?
                }
            }
        }

        impl Error for $name {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                match self {
                    $name::Decode(e) => Some(e),
                    $name::Io(e) => Some(e),
                    _ => None,
                }
            }
        }
    };
}

send_error!(
    /// Why [`Queue::put`](crate::Queue::put) and its kin failed.
    PutError, "put", "receiving handle of the queue"
);
send_error!(
    /// Why [`Connection::send`](crate::Connection::send) and its kin failed.
    SendError, "send", "copy of the other end",
    /// The reading end of a one-way pipe cannot send (the message is given back).
    ReadOnly => "the connection is read-only"
);
recv_error!(
    /// Why [`Queue::get`](crate::Queue::get) and its kin failed.
    GetError, "get", "sending handle of the queue"
);
recv_error!(
    /// Why [`Connection::recv`](crate::Connection::recv) and its kin failed.
    RecvError, "recv", "copy of the other end",
    /// The writing end of a one-way pipe cannot receive.
    WriteOnly => "the connection is write-only"
);

/// Why [`Queue::put_many`](crate::Queue::put_many) stopped: the error, and how many items
/// were put before it.
#[derive(Debug)]
pub struct PutManyError {
    /// Items put before the error (in order, from the start of the iterator).
    pub put: usize,
    /// What stopped it.
    pub error: PutError<()>,
}

impl fmt::Display for PutManyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} after {} items were put", self.error, self.put)
    }
}

impl Error for PutManyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

/// Why a lock could not be taken: [`Lock`](crate::Lock), [`RLock`](crate::RLock),
/// [`Semaphore`](crate::Semaphore), [`Condition`](crate::Condition),
/// [`Value`](crate::Value), [`Array`](crate::Array).
///
/// `OwnerDied` carries the guard: the lock *is* taken, and the state it protects may be
/// half-updated by the holder that died. Repair it, then drop the guard; the lock works
/// as before. (CPython leaves every other process blocked for ever instead.)
///
/// As with std's `PoisonError<Guard>`, an error that holds a guard borrows the lock, so
/// `?` cannot send it up to a `Box<dyn Error>`: match on it, or go through
/// [`recover`](Self::recover), which keeps the guard and leaves a `LockError<()>`:
///
/// ```
/// use multiproc::sync::{Lock, LockError};
///
/// let lock = Lock::new()?;
/// let guard = lock.lock().or_else(LockError::recover)?; // the guard, even after a death
/// drop(guard);
/// match lock.lock() {
///     Ok(_guard) => {}
///     Err(LockError::OwnerDied(_guard)) => { /* repair what the lock protects */ }
///     Err(other) => return Err(other.forget().into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
pub enum LockError<G> {
    /// The previous holder died holding the lock (its process exited or was killed). You
    /// hold it now.
    OwnerDied(G),
    /// `try_*`: someone else holds it.
    WouldBlock,
    /// `*_timeout`: still held by someone else when the timeout passed.
    TimedOut,
    /// This thread already holds it, and it is not re-entrant (use an `RLock`).
    WouldDeadlock,
    /// The operating system refused.
    Io(io::Error),
}

impl<G> LockError<G> {
    /// The guard of a lock whose previous holder died.
    pub fn into_owner_died(self) -> Option<G> {
        match self {
            LockError::OwnerDied(g) => Some(g),
            _ => None,
        }
    }

    /// Whether the previous holder died holding the lock.
    pub fn is_owner_died(&self) -> bool {
        matches!(self, LockError::OwnerDied(_))
    }

    /// The guard after an `OwnerDied` (you hold the lock: repair what it protects), else
    /// the error without a guard, which `?` can return.
    pub fn recover(self) -> Result<G, LockError<()>> {
        match self {
            LockError::OwnerDied(g) => Ok(g),
            other => Err(other.forget()),
        }
    }

    /// The same error without the guard (dropping it, if any: that unlocks).
    pub fn forget(self) -> LockError<()> {
        self.map(drop)
    }

    /// The same error with the guard replaced.
    pub fn map<H>(self, f: impl FnOnce(G) -> H) -> LockError<H> {
        match self {
            LockError::OwnerDied(g) => LockError::OwnerDied(f(g)),
            LockError::WouldBlock => LockError::WouldBlock,
            LockError::TimedOut => LockError::TimedOut,
            LockError::WouldDeadlock => LockError::WouldDeadlock,
            LockError::Io(e) => LockError::Io(e),
        }
    }
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            LockError::WouldBlock => f.write_str("WouldBlock"),
            LockError::TimedOut => f.write_str("TimedOut"),
            LockError::WouldDeadlock => f.write_str("WouldDeadlock"),
            LockError::Io(e) => f.debug_tuple("Io").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("the previous holder died holding the lock"),
            LockError::WouldBlock => f.write_str("the lock is held"),
            LockError::TimedOut => f.write_str("timed out waiting for the lock"),
            LockError::WouldDeadlock => f.write_str("this thread already holds the lock"),
            LockError::Io(e) => write!(f, "the system refused: {e}"),
        }
    }
}

impl<G> Error for LockError<G> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            LockError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a [`Semaphore::release`](crate::Semaphore::release) or a
/// [`JoinableQueue::task_done`](crate::JoinableQueue::task_done) was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReleaseError {
    /// A `BoundedSemaphore` released above its initial value, or `task_done` called more
    /// times than items were put.
    TooManyReleases,
    /// The operating system refused.
    Io(io::Error),
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::TooManyReleases => f.write_str("released too many times"),
            ReleaseError::Io(e) => write!(f, "the system refused: {e}"),
        }
    }
}

impl Error for ReleaseError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ReleaseError::Io(e) => Some(e),
            ReleaseError::TooManyReleases => None,
        }
    }
}

/// Why a [`Barrier::wait`](crate::Barrier::wait) did not pass.
#[derive(Debug)]
#[non_exhaustive]
pub enum BarrierError {
    /// The barrier is broken: a party timed out, called `abort`, or `reset` released the
    /// waiters. Python: `BrokenBarrierError`.
    Broken,
    /// This party's timeout passed; the barrier is now broken for the others too.
    TimedOut,
    /// A party died (its process exited or was killed) while the others waited for it;
    /// the barrier is broken. CPython waits for ever here.
    PartyDied,
    /// The operating system refused.
    Io(io::Error),
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierError::Broken => f.write_str("the barrier is broken"),
            BarrierError::TimedOut => f.write_str("timed out at the barrier, which is now broken"),
            BarrierError::PartyDied => {
                f.write_str("a party died while the others waited: the barrier is broken")
            }
            BarrierError::Io(e) => write!(f, "the system refused: {e}"),
        }
    }
}

impl Error for BarrierError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            BarrierError::Io(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_without_a_period() {
        let messages = [
            SyncError::Invalid("x".into()).to_string(),
            PutError::Full(()).to_string(),
            PutError::Disconnected(()).to_string(),
            SendError::TimedOut(()).to_string(),
            GetError::Disconnected.to_string(),
            RecvError::Empty.to_string(),
            LockError::<()>::OwnerDied(()).to_string(),
            ReleaseError::TooManyReleases.to_string(),
            BarrierError::PartyDied.to_string(),
            PutManyError { put: 3, error: PutError::Disconnected(()) }.to_string(),
        ];
        for m in messages {
            assert!(m.starts_with(|c: char| c.is_lowercase()), "{m}");
            assert!(!m.ends_with('.'), "{m}");
        }
    }

    #[test]
    fn errors_give_the_item_back() {
        assert_eq!(PutError::Full(7).into_inner(), Some(7));
        assert!(PutError::Disconnected(1).is_disconnected());
        assert_eq!(LockError::OwnerDied(5).into_owner_died(), Some(5));
    }
}
