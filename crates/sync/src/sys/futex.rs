//! Futexes on words of shared memory: sleep until a word changes, wake the sleepers.
//!
//! These are *shared* futexes (no `FUTEX_PRIVATE_FLAG`): the kernel keys them by the
//! page of the file, so processes that map the same memory at different addresses wait
//! on the same word. `wait_any` (`futex_waitv`, Linux 5.16) sleeps on several words at
//! once: a change to any of them, or the death of the thread that holds a robust mutex
//! among them, wakes it.

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

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
/// Returns at once if the word differs; spurious returns are possible: callers re-check.
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) {
    let timeout = match deadline {
        None => None,
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Some(timespec(left)),
            _ => return,
        },
    };
    let ts = timeout.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT reads the 4-byte word at `word` (valid for the call: borrowed),
    // compares it with `expected` and sleeps on it; `ts` is null or a valid relative
    // timespec. The result is ignored: EAGAIN (changed), EINTR, ETIMEDOUT and a wake all
    // mean "look again".
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, ts, 0, 0);
    }
}

/// Wakes up to `n` sleepers on `word`; how many were woken.
pub(crate) fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: FUTEX_WAKE only uses the address as a key; the word is valid (borrowed).
    let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n, 0, 0, 0) };
    usize::try_from(r).unwrap_or(0)
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

/// `d` as a relative timespec.
fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// `CLOCK_MONOTONIC` now plus `d`, as an absolute timespec.
pub(crate) fn monotonic_after(d: Duration) -> libc::timespec {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills `now`; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let mut sec = now.tv_sec.saturating_add(d.as_secs().min(i64::MAX as u64 / 2) as libc::time_t);
    let mut nsec = now.tv_nsec + d.subsec_nanos() as libc::c_long;
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        sec = sec.saturating_add(1);
    }
    libc::timespec { tv_sec: sec, tv_nsec: nsec }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    #[test]
    fn a_changed_word_returns_at_once_and_a_deadline_ends_the_wait() {
        let w = AtomicU32::new(1);
        wait(&w, 0, None); // differs: no sleep
        wait(&w, 1, Some(Instant::now() + Duration::from_millis(1)));
        wait_any(&[(&w, 0)], None).unwrap();
        wait_any(&[(&w, 1)], Some(Instant::now() + Duration::from_millis(1))).unwrap();
    }

    #[test]
    fn wake_ends_a_wait() {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || {
            while w2.load(Ordering::Acquire) == 0 {
                wait_any(&[(&w2, 0)], None).unwrap();
            }
        });
        w.store(1, Ordering::Release);
        while !t.is_finished() {
            wake(&w, u32::MAX);
            std::thread::yield_now();
        }
        t.join().unwrap();
    }
}
