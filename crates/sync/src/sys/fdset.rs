//! [`Tracked`]: the descriptors of this crate's objects, known to a lock-free set so that
//! a child forked to run a function by name closes them all (see
//! `multiproc_process::on_fork_child`): an inherited copy of a queue's sending socket
//! would keep the queue's receivers from ever seeing `Disconnected`, and the child uses
//! only the handles its argument brings (fetched afresh).

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// Descriptors below this are tracked (beyond it, a forked child keeps its copy).
const LIMIT: usize = 1 << 16;

/// One bit per descriptor number; read and written without a lock, so that a child
/// forked while another thread of the parent changes it can still read it.
static SET: [AtomicU64; LIMIT / 64] = [const { AtomicU64::new(0) }; LIMIT / 64];

static HOOK: Once = Once::new();

fn mark(fd: RawFd, on: bool) {
    let Ok(fd) = usize::try_from(fd) else { return };
    if fd >= LIMIT {
        return;
    }
    let bit = 1u64 << (fd % 64);
    if on {
        SET[fd / 64].fetch_or(bit, Ordering::Relaxed);
    } else {
        SET[fd / 64].fetch_and(!bit, Ordering::Relaxed);
    }
}

/// Closes every tracked descriptor: run in a child forked to run a function by name,
/// which never drops its parent's objects (it ends with `_exit`), so nothing closes them
/// again.
fn close_all_tracked() {
    for (i, word) in SET.iter().enumerate() {
        let mut bits = word.swap(0, Ordering::Relaxed);
        while bits != 0 {
            let fd = (i * 64 + bits.trailing_zeros() as usize) as RawFd;
            bits &= bits - 1;
            // SAFETY: `fd` was open in the parent when it forked (tracked from creation
            // to close), so the child holds a copy; the parent's object that owns it is
            // never dropped in this child, so nothing else closes it.
            unsafe { libc::close(fd) };
        }
    }
}

/// A descriptor owned by one of this crate's objects.
pub(crate) struct Tracked(OwnedFd);

impl Tracked {
    pub(crate) fn new(fd: OwnedFd) -> Tracked {
        HOOK.call_once(|| multiproc_process::on_fork_child(close_all_tracked));
        mark(fd.as_raw_fd(), true);
        Tracked(fd)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        mark(self.0.as_raw_fd(), false);
    }
}

impl AsFd for Tracked {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Tracked {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl fmt::Debug for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tracked({})", self.0.as_raw_fd())
    }
}
