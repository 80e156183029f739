//! Sleeping on a ring, and waking a sleeper without a fence on the waker's path.
//!
//! A [`Bell`] is a `sleeping` flag and a futex word. The waker, after it published (a
//! release store), loads the flag with a plain relaxed load and, only when it is up,
//! clears it, bumps the word and wakes ([`wake_if_sleeping`]). The sleeper closes the race
//! that this leaves open by itself ([`sleep`]); the argument is in the `ring` module docs.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::sys::{Bell, futex};

/// How long a sleeper first sleeps before it checks again: far longer than a store takes
/// to leave a core's store buffer, short enough not to be noticed when it decides.
const SHORT: Duration = Duration::from_micros(150);

/// Wakes the sleeper, if the flag says there is one. On the waker's hot path: one relaxed
/// load when nobody sleeps.
#[inline]
pub(super) fn wake_if_sleeping(bell: Bell<'_>) {
    if bell.sleeping.load(Ordering::Relaxed) != 0 {
        wake_sleeper(bell);
    }
}

#[cold]
#[inline(never)]
fn wake_sleeper(bell: Bell<'_>) {
    bell.sleeping.store(0, Ordering::Relaxed);
    wake(bell);
}

/// Bumps the word and wakes whoever sleeps on it, flag or not.
pub(super) fn wake(bell: Bell<'_>) {
    bell.word.fetch_add(1, Ordering::SeqCst);
    futex::wake_all(bell.word);
}

/// Sleeps until `check` returns a value, or `deadline` passes (then `None`).
///
/// Each round: read the word, raise the flag (sequentially consistent), check; sleep
/// [`SHORT`], check again; then sleep until the word changes or the deadline. Every waker
/// that clears the flag bumps the word afterwards, so a round that started before a bump
/// does not sleep through it.
pub(super) fn sleep<T>(
    bell: Bell<'_>,
    deadline: Option<Instant>,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let found = loop {
        let seq = bell.word.load(Ordering::SeqCst);
        bell.sleeping.store(1, Ordering::SeqCst);
        if let Some(found) = check() {
            break Some(found);
        }
        let Ok(left) = time_left(deadline) else { break None };
        futex::wait(bell.word, seq, Some(left.map_or(SHORT, |left| left.min(SHORT))));
        // A publication that raced the flag (the waker's store still in its store buffer
        // when it loaded the flag) is visible by now.
        if let Some(found) = check() {
            break Some(found);
        }
        let Ok(left) = time_left(deadline) else { break None };
        futex::wait(bell.word, seq, left);
    };
    bell.sleeping.store(0, Ordering::Relaxed);
    found
}

/// Time until `deadline` (`Ok(None)`: no deadline), or `Err(())` once it has passed.
fn time_left(deadline: Option<Instant>) -> Result<Option<Duration>, ()> {
    match deadline {
        None => Ok(None),
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() { Err(()) } else { Ok(Some(left)) }
        }
    }
}
