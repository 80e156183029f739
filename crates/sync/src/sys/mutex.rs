//! Robust, process-shared pthread mutexes living in shared memory.
//!
//! "Robust" is the kernel's robust-futex protocol: a thread that locks one puts it on its
//! robust list, and when the thread ends holding it — the process killed by SIGKILL
//! included — the kernel marks the mutex's word `OWNER_DIED` and wakes one waiter. The
//! next locker gets `EOWNERDEAD` and the lock: it can repair what the lock guards, then
//! mark it consistent. That is the one event-driven way Linux offers to learn that a
//! holder died, so every lock of this crate is one of these (glibc keeps the list).
//!
//! A robust mutex belongs to the *thread* that locked it: it must be unlocked on that
//! thread, so guards are `!Send`. And a mapping must never be unmapped while this
//! process holds a lock in it (the thread's robust list would point into freed memory):
//! the owners of mappings count the locks they hold and leak the mapping rather than
//! unmap it under a held lock.

use std::io;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

use super::clock::monotonic_after;
use super::memory::Mapping;

/// Bytes one mutex takes in shared memory.
pub(crate) const MUTEX_SIZE: usize = std::mem::size_of::<libc::pthread_mutex_t>();

/// The owner's thread id in a robust futex word.
const TID: u32 = 0x3fff_ffff;
/// Someone sleeps on the word: its unlocker (or the kernel, at the owner's death) wakes.
const WAITERS: u32 = 0x8000_0000;

/// Busy-wait rounds before a contended lock sleeps: critical sections here last tens of
/// nanoseconds, far less than a sleep and a wake-up.
const SPIN_ROUNDS: u32 = 10;

unsafe extern "C" {
    /// glibc 2.30+: `pthread_mutex_timedlock` against a chosen clock.
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

/// What a mutex is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Locking it twice on one thread is an error (`EDEADLK`), not a hang.
    Plain,
    /// The holding thread may lock it again; it is released after as many unlocks.
    Recursive,
}

/// How an attempt to lock ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Locked {
    /// This thread holds the lock.
    Yes,
    /// This thread holds the lock, whose previous holder died holding it; the state it
    /// guards may be half-updated. Mark it consistent before unlocking.
    OwnerDied,
    /// `try`: another thread holds it.
    Busy,
    /// The deadline passed.
    TimedOut,
    /// This thread already holds it (a plain mutex).
    Deadlock,
}

/// A robust, process-shared mutex at offset `off` of `map`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawMutex<'a> {
    map: &'a Mapping,
    off: usize,
}

impl<'a> RawMutex<'a> {
    /// The mutex at `off`; `init` it once, in the process that creates the memory.
    pub(crate) fn at(map: &'a Mapping, off: usize) -> RawMutex<'a> {
        assert!(off.is_multiple_of(8), "misaligned mutex");
        let _ = map.raw(off, MUTEX_SIZE); // bounds
        RawMutex { map, off }
    }

    fn ptr(&self) -> *mut libc::pthread_mutex_t {
        self.map.raw(self.off, MUTEX_SIZE).cast()
    }

    /// Initialises the mutex (robust, process-shared, of `kind`). Only for fresh memory
    /// that no other process uses yet.
    pub(crate) fn init(&self, kind: Kind) -> io::Result<()> {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        let kind = match kind {
            Kind::Plain => libc::PTHREAD_MUTEX_ERRORCHECK,
            Kind::Recursive => libc::PTHREAD_MUTEX_RECURSIVE,
        };
        // SAFETY: the attribute object is initialised by pthread_mutexattr_init before any
        // other use, and destroyed at the end; the mutex pointer lies in the mapping
        // (bounds checked in `at`), 8-aligned, and nobody else uses the memory yet.
        unsafe {
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let a = attr.as_mut_ptr();
            let set = check(libc::pthread_mutexattr_setpshared(a, libc::PTHREAD_PROCESS_SHARED))
                .and_then(|()| {
                    check(libc::pthread_mutexattr_setrobust(a, libc::PTHREAD_MUTEX_ROBUST))
                })
                .and_then(|()| check(libc::pthread_mutexattr_settype(a, kind)))
                .and_then(|()| check(libc::pthread_mutex_init(self.ptr(), a)));
            libc::pthread_mutexattr_destroy(a);
            set
        }
    }

    /// Locks, spinning briefly before it sleeps; `deadline` bounds the sleep.
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> io::Result<Locked> {
        let word = self.word();
        for round in 0..SPIN_ROUNDS {
            match self.try_lock()? {
                Locked::Busy => {
                    // Wait by reading, not by trying: a failed try still takes the cache
                    // line from the holder.
                    for _ in 0..(1u32 << round.min(6)) {
                        std::hint::spin_loop();
                        if word.is_some_and(|w| {
                            w.load(std::sync::atomic::Ordering::Relaxed) & TID == 0
                        }) {
                            break;
                        }
                    }
                }
                other => return Ok(other),
            }
        }
        let r = match deadline {
            // SAFETY: a mutex initialised by `init` (the object's creator did so before
            // publishing it), in a mapping that outlives `self`.
            None => unsafe { libc::pthread_mutex_lock(self.ptr()) },
            Some(d) => {
                let abs = monotonic_after(d.saturating_duration_since(Instant::now()));
                // SAFETY: as above; `abs` is a valid absolute CLOCK_MONOTONIC time.
                unsafe { pthread_mutex_clocklock(self.ptr(), libc::CLOCK_MONOTONIC, &abs) }
            }
        };
        outcome(r)
    }

    /// Locks if nobody holds the mutex.
    pub(crate) fn try_lock(&self) -> io::Result<Locked> {
        // SAFETY: as in `lock`.
        outcome(unsafe { libc::pthread_mutex_trylock(self.ptr()) })
    }

    /// Marks the state guarded by a mutex whose owner died as repaired (call while
    /// holding it, after `Locked::OwnerDied`); without it, unlocking makes the mutex
    /// unusable for good.
    pub(crate) fn make_consistent(&self) {
        // SAFETY: as in `lock`; only called by the holder after EOWNERDEAD, where it
        // cannot fail.
        unsafe { libc::pthread_mutex_consistent(self.ptr()) };
    }

    /// Unlocks (on the thread that locked it).
    pub(crate) fn unlock(&self) {
        // SAFETY: as in `lock`. Callers unlock only a mutex their thread holds (guards
        // are `!Send`); an error (EPERM) would only mean "not ours", and changes nothing.
        unsafe { libc::pthread_mutex_unlock(self.ptr()) };
    }

    /// Prepares to sleep until this held mutex is unlocked or its owner dies: marks the
    /// word as having waiters (as a blocked locker does, so the unlocker, or the kernel
    /// at the owner's death, wakes its sleepers) and returns the word and the value to
    /// sleep on. `None` when it is free, or this libc keeps the word elsewhere.
    pub(crate) fn sleep_on(&self) -> Option<(&'a AtomicU32, u32)> {
        use std::sync::atomic::Ordering;
        let word = self.word()?;
        let mut v = word.load(Ordering::Acquire);
        loop {
            if v & TID == 0 {
                return None;
            }
            if v & WAITERS != 0 {
                return Some((word, v));
            }
            match word.compare_exchange(v, v | WAITERS, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some((word, v | WAITERS)),
                Err(now) => v = now,
            }
        }
    }

    /// The mutex's futex word, for sleeping until it changes or its owner dies (see
    /// [`futex::wait_any`](super::futex::wait_any)); `None` if this libc keeps it
    /// elsewhere than this crate found at start-up.
    pub(crate) fn word(&self) -> Option<&'a AtomicU32> {
        word_offset().map(|at| self.map.u32_at(self.off + at))
    }
}

/// Where the kernel-visible futex word sits in a `pthread_mutex_t` (glibc: offset 0),
/// found once by locking a mutex in this process's memory and looking for our thread id.
fn word_offset() -> Option<usize> {
    static OFFSET: OnceLock<Option<usize>> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        let map = Mapping::anonymous(c"multiproc-probe", 4096).ok()?;
        let m = RawMutex::at(&map, 0);
        m.init(Kind::Plain).ok()?;
        // `try_lock`: `lock` itself asks for this offset.
        if m.try_lock().ok()? != Locked::Yes {
            return None;
        }
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let found = (0..MUTEX_SIZE / 4)
            .map(|i| i * 4)
            .find(|&at| map.u32_at(at).load(std::sync::atomic::Ordering::Relaxed) & TID == tid);
        m.unlock();
        let free =
            found.filter(|&at| map.u32_at(at).load(std::sync::atomic::Ordering::Relaxed) == 0);
        // Keep the probe's memory: this thread's robust list saw the mutex (it is off the
        // list again, but the rule is never to unmap a mapping whose locks were in use).
        std::mem::forget(map);
        free
    })
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(r)) }
}

fn outcome(r: libc::c_int) -> io::Result<Locked> {
    match r {
        0 => Ok(Locked::Yes),
        libc::EOWNERDEAD => Ok(Locked::OwnerDied),
        libc::EBUSY => Ok(Locked::Busy),
        libc::ETIMEDOUT => Ok(Locked::TimedOut),
        libc::EDEADLK => Ok(Locked::Deadlock),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_relock_and_unlock() {
        let map = Mapping::anonymous(c"t", 4096).unwrap();
        let m = RawMutex::at(&map, 64);
        m.init(Kind::Plain).unwrap();
        assert_eq!(m.lock(None).unwrap(), Locked::Yes);
        assert_eq!(m.lock(None).unwrap(), Locked::Deadlock);
        let other = std::thread::scope(|s| s.spawn(|| m.try_lock().unwrap()).join().unwrap());
        assert_eq!(other, Locked::Busy);
        m.unlock();
        assert!(m.word().is_some());
        std::mem::forget(map);
    }

    #[test]
    fn a_thread_that_ends_holding_the_lock_hands_it_on_as_owner_died() {
        let map = Mapping::anonymous(c"t", 4096).unwrap();
        let m = RawMutex::at(&map, 0);
        m.init(Kind::Recursive).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(m.lock(None).unwrap(), Locked::Yes));
        });
        assert_eq!(m.lock(None).unwrap(), Locked::OwnerDied);
        m.make_consistent();
        assert_eq!(m.lock(None).unwrap(), Locked::Yes); // recursive
        m.unlock();
        m.unlock();
        let deadline = Some(Instant::now() + std::time::Duration::from_millis(5));
        assert_eq!(m.lock(deadline).unwrap(), Locked::Yes);
        m.unlock();
        std::mem::forget(map);
    }
}
