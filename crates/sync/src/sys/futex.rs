//! Futexes on words of shared memory: sleep until a word changes, wake the sleepers.
//!
//! Sleeping on one word and waking its sleepers are ipc's ([`multiproc_ipc::futex`], the
//! one wrapper of those system calls in the workspace); `wait_until` is its wait with a
//! deadline. `wait_any` (`futex_waitv`, Linux 5.16) sleeps on several words at once: a
//! change to any of them, or the death of the thread that holds a robust mutex among them,
//! wakes it. All are *shared* futexes (no `FUTEX_PRIVATE_FLAG`): the kernel keys them by
//! the page of the file, so processes that map the same memory at different addresses
//! wait on the same word.

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

pub(crate) use multiproc_ipc::futex::wake_all;

use super::clock::monotonic_after;

/// `futex_waitv`'s number: the same in the generic syscall table (arm64, riscv) and on x86.
const SYS_FUTEX_WAITV: libc::c_long = 449;
/// `FUTEX2_SIZE_U32`: the words are 32 bits.
const FUTEX2_SIZE_U32: u32 = 0x02;
/// The most words one `futex_waitv` takes.
pub(crate) const WAITV_MAX: usize = 128;

/// One entry of `futex_waitv`'s array (`struct futex_waitv`).
#[repr(C)]
struct WaitV {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// Sleeps while `word` holds `expected`, until woken or `deadline` (if any) passes.
/// Returns at once if the word differs or the deadline has passed; spurious returns are
/// possible: callers re-check.
pub(crate) fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) {
    let timeout = match deadline {
        None => None,
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Some(left),
            _ => return,
        },
    };
    multiproc_ipc::futex::wait(word, expected, timeout);
}

/// Sleeps until any `(word, expected)` pair differs, a sleeper on one of them is woken, or
/// `deadline` passes. Spurious returns are possible: callers re-check.
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], deadline: Option<Instant>) -> io::Result<()> {
    assert!(!words.is_empty() && words.len() <= WAITV_MAX, "futex_waitv takes 1 to 128 words");
    let entries: Vec<WaitV> = words
        .iter()
        .map(|(word, val)| WaitV {
            val: u64::from(*val),
            uaddr: word.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        })
        .collect();
    let abs = match deadline {
        None => None,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            Some(monotonic_after(left))
        }
    };
    let ts = abs.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `entries` is a valid array of `words.len()` futex_waitv structs naming words
    // that stay valid for the call (borrowed); `ts` is null or an absolute CLOCK_MONOTONIC
    // timespec; flags 0.
    let r = unsafe {
        libc::syscall(
            SYS_FUTEX_WAITV,
            entries.as_ptr(),
            entries.len() as libc::c_uint,
            0,
            ts,
            libc::CLOCK_MONOTONIC,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR | libc::ETIMEDOUT) => Ok(()),
            _ => Err(e),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    #[test]
    fn a_changed_word_returns_at_once_and_a_deadline_ends_the_wait() {
        let w = AtomicU32::new(1);
        wait_until(&w, 0, None); // differs: no sleep
        wait_until(&w, 1, Some(Instant::now() + Duration::from_millis(1)));
        wait_until(&w, 1, Some(Instant::now())); // passed by the time it looks: no sleep
        wait_any(&[(&w, 0)], None).unwrap();
        wait_any(&[(&w, 1)], Some(Instant::now() + Duration::from_millis(1))).unwrap();
    }

    #[test]
    fn wake_all_ends_a_wait_any() {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || {
            while w2.load(Ordering::Acquire) == 0 {
                wait_any(&[(&w2, 0)], None).unwrap();
            }
        });
        w.store(1, Ordering::Release);
        while !t.is_finished() {
            wake_all(&w);
            std::thread::yield_now();
        }
        t.join().unwrap();
    }
}
