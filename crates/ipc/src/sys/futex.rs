//! Futex waits and wakes on a `u32` word, which may live in memory shared between
//! processes: the sleeping and waking under ipc's rings, and under `multiproc::sync`'s
//! locks, events and queues.
//!
//! Internal to multiproc (hidden from the docs): a building block for its own crates, not
//! part of the user API.
//!
//! The operations are the non-private ones (no `FUTEX_PRIVATE_FLAG`): the kernel keys the
//! word by its page, so a sleeper in one process is woken by a waker in another that maps
//! the same memory.

use std::ptr;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps while `word` holds `expected`, for at most `timeout` (`None`: no limit).
///
/// Returns on a wake, at the timeout, on a signal, or at once when the word no longer
/// holds `expected`: which one is not reported, callers re-check what they wait for.
///
/// ```
/// use multiproc_ipc::futex;
/// use std::sync::atomic::AtomicU32;
/// use std::time::Duration;
///
/// let word = AtomicU32::new(1);
/// futex::wait(&word, 0, None); // the word is not 0: returns at once
/// futex::wait(&word, 1, Some(Duration::from_micros(100))); // returns at the timeout
/// ```
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let timeout = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below 10^9: fits every platform's `c_long`.
        tv_nsec: t.subsec_nanos().into(),
    });
    let timeout_ptr = timeout.as_ref().map_or(ptr::null(), ptr::from_ref);
    // SAFETY: `word` is a live, 4-byte aligned `u32` (an `AtomicU32`) for the whole call;
    // `timeout_ptr` is null or points to a `timespec` that outlives the call; FUTEX_WAIT
    // reads both and writes nothing. Its result is ignored on purpose (see above).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            timeout_ptr,
            ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes every thread, in any process, that sleeps in [`wait`] on `word` (or in any other
/// futex wait on it, such as a `futex_waitv` that names it).
///
/// ```
/// use multiproc_ipc::futex;
/// use std::sync::atomic::AtomicU32;
///
/// futex::wake_all(&AtomicU32::new(0)); // nobody sleeps: a no-op
/// ```
pub fn wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a live, 4-byte aligned `u32`; FUTEX_WAKE only uses its address as
    // a key and dereferences nothing else.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            ptr::null::<libc::timespec>(),
            ptr::null::<u32>(),
            0u32,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn a_changed_word_returns_at_once_and_a_timeout_ends_the_wait() {
        let word = AtomicU32::new(1);
        wait(&word, 0, None); // the word is not 0: returns at once
        wait(&word, 1, Some(Duration::from_micros(100)));
        wait(&word, 1, Some(Duration::ZERO));
    }

    #[test]
    fn wake_ends_a_wait_in_another_thread() {
        let word = Arc::new(AtomicU32::new(0));
        let sleeper = {
            let word = word.clone();
            std::thread::spawn(move || {
                while word.load(Ordering::Acquire) == 0 {
                    wait(&word, 0, None);
                }
            })
        };
        word.store(1, Ordering::Release);
        wake_all(&word);
        sleeper.join().unwrap();
    }
}
