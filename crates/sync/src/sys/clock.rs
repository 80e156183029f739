//! Times as the kernel takes them: the time left until a deadline (for `ppoll`) and an
//! absolute `CLOCK_MONOTONIC` time (for `futex_waitv` and `pthread_mutex_clocklock`).

use std::time::{Duration, Instant};

/// The time left until `deadline` (zero once it has passed), as a relative timespec.
pub(crate) fn time_left(deadline: Instant) -> libc::timespec {
    let left = deadline.saturating_duration_since(Instant::now());
    libc::timespec {
        tv_sec: left.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: left.subsec_nanos() as libc::c_long,
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
