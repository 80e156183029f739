//! [`Sentinel`]: a descriptor that becomes readable when a process ends. Python:
//! `Process.sentinel`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::sys;

/// Readable once its process has ended: hand it to `poll`, or to
/// `multiproc::connection::wait` with connections and queues. Python: `Process.sentinel`.
///
/// It is this handle's own descriptor (a pidfd), valid as long as the `Sentinel` lives,
/// whatever happens to the `Process`.
///
/// ```
/// let mut p = multiproc::Process::new(|x: u32| x, 1);
/// p.start()?;
/// let sentinel = p.sentinel()?;
/// p.join()?;
/// assert!(sentinel.is_ready());
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
#[derive(Debug)]
pub struct Sentinel(OwnedFd);

impl Sentinel {
    pub(crate) fn new(fd: OwnedFd) -> Sentinel {
        Sentinel(fd)
    }

    /// Whether the process has ended (without waiting).
    pub fn is_ready(&self) -> bool {
        sys::wait_readable(self.0.as_raw_fd(), Some(Duration::ZERO)).unwrap_or(false)
    }
}

impl AsFd for Sentinel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Sentinel {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
