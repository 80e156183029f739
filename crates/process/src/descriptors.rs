//! The parent's descriptor budget: how many descriptors a pool of workers needs, raising
//! the soft `RLIMIT_NOFILE` toward the hard limit when that is short (as Go's runtime
//! does at start-up), and how many workers may be starting at once.
//!
//! A pool worker costs its parent [`PER_WORKER`] descriptors for its life (see
//! [`Worker`](crate::Worker)), and a worker being started about [`PER_START`] more for a
//! moment (its handoff, the ends it hands back before they are trimmed). Starts wait for
//! a turn when the budget holds fewer at once than the pool starts.

use std::sync::{Condvar, Mutex};

use crate::error::StartError;
use crate::sys::PerProcess;
use crate::sys::limits::{Resource, get_rlimit, set_rlimit};

/// Descriptors the parent holds per running pool worker.
pub(crate) const PER_WORKER: u64 = 3;

/// Descriptors a worker being started holds in the parent, at most, until it is ready.
const PER_START: u64 = 10;

/// Starts at once, at most, whatever the budget.
const MAX_STARTS: u64 = 32;

/// How many workers may be starting at once, and how many are.
static STARTS: PerProcess<(Mutex<(u64, u64)>, Condvar)> = PerProcess::new();

fn starts() -> &'static (Mutex<(u64, u64)>, Condvar) {
    STARTS.get(|| (Mutex::new((MAX_STARTS, 0)), Condvar::new()))
}

/// Makes room for `workers` more pool workers: raises the soft descriptor limit if it is
/// short (to what they need and a quarter more, up to the hard limit), and sizes the
/// number of starts at once to what is left. The soft limit stays raised, and children
/// started later inherit it.
///
/// ```
/// multiproc::process::reserve_workers(4)?;
/// # Ok::<(), multiproc::StartError>(())
/// ```
///
/// # Errors
///
/// [`StartError::Exhausted`] when even the hard limit is too low: it names the resource,
/// how many are needed and the hard limit.
pub fn reserve_workers(workers: usize) -> Result<(), StartError> {
    let open = std::fs::read_dir("/proc/self/fd").map(Iterator::count).unwrap_or(0) as u64;
    let lasting = open + workers as u64 * PER_WORKER;
    let needed = lasting + PER_START;
    let (mut soft, hard) = get_rlimit(Resource::OpenFiles)?;
    if needed > hard {
        return Err(StartError::Exhausted {
            resource: "open file descriptors",
            needed: Some(needed),
            limit: Some(hard),
        });
    }
    if needed > soft {
        let wanted = (needed + needed / 4).max(lasting + PER_START * MAX_STARTS).min(hard);
        set_rlimit(Resource::OpenFiles, wanted, hard)?;
        soft = wanted;
    }
    let at_once = ((soft - lasting) / PER_START).clamp(1, MAX_STARTS);
    let (lock, _) = starts();
    let mut starts = lock.lock().unwrap_or_else(|e| e.into_inner());
    starts.0 = starts.0.min(at_once);
    Ok(())
}

/// Runs `start` when a turn comes (see [`reserve_workers`]).
pub(crate) fn in_turn<T>(start: impl FnOnce() -> T) -> T {
    let (lock, turn) = starts();
    let mut starts = lock.lock().unwrap_or_else(|e| e.into_inner());
    while starts.1 >= starts.0 {
        starts = turn.wait(starts).unwrap_or_else(|e| e.into_inner());
    }
    starts.1 += 1;
    drop(starts);
    let started = start();
    lock.lock().unwrap_or_else(|e| e.into_inner()).1 -= 1;
    turn.notify_one();
    started
}
