//! [`spin`]: poll for a little while before going to sleep.
//!
//! On a machine whose idle cores wake slowly, a thread that sleeps on a reply due in
//! 10 µs gets it 30–60 µs late: polling for a while first makes a round trip several
//! times faster. A poll that does not end in a reply, though, only takes the CPU from the
//! threads that would produce it, so every caller decides how long polling pays: a few
//! tens of microseconds when the reply is due soon (a lone quick task), none when it is
//! not (a worker busy with a long batch).

use std::time::{Duration, Instant};

/// How long a thread that expects a reply soon polls before it sleeps.
pub const SPIN: Duration = Duration::from_micros(50);

/// Polls `poll` until it returns a value, yielding the CPU between polls, for at most
/// `budget` and never past `deadline`: then `None`, and the caller blocks on whatever
/// `poll` looks at. Polls at least once.
///
/// ```
/// use multiproc_ipc::{SPIN, spin};
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let flag = AtomicBool::new(true);
/// assert_eq!(spin(SPIN, None, || flag.load(Ordering::Acquire).then_some(7)), Some(7));
/// flag.store(false, Ordering::Release);
/// assert_eq!(spin(SPIN, None, || flag.load(Ordering::Acquire).then_some(7)), None);
/// ```
pub fn spin<T>(
    budget: Duration,
    deadline: Option<Instant>,
    mut poll: impl FnMut() -> Option<T>,
) -> Option<T> {
    let until = Instant::now() + budget;
    let until = deadline.map_or(until, |d| d.min(until));
    loop {
        if let Some(value) = poll() {
            return Some(value);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::yield_now();
    }
}
