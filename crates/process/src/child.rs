//! [`Child`]: the parent's handle on one child process: signals, waiting, reaping.
//!
//! Every child is reaped exactly once: by a wait on the handle, or, when the handle is
//! dropped first, by a reaper thread that waits for it in the background. No zombies.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use multiproc_codec::Pins;

use crate::exit::ExitStatus;
use crate::identity::ProcessInfo;
use crate::sys::{self, PerProcess};

#[derive(Debug)]
struct Inner {
    pid: u32,
    name: String,
    status: Mutex<Option<ExitStatus>>,
    /// What the child's argument refers to, released once the child is reaped.
    pins: Mutex<Pins>,
}

/// Per process: a forked child starts with no children (and with no lock its parent's
/// threads may have held at the fork).
static ACTIVE: PerProcess<Mutex<Vec<Weak<Inner>>>> = PerProcess::new();

fn active() -> &'static Mutex<Vec<Weak<Inner>>> {
    ACTIVE.get(|| Mutex::new(Vec::new()))
}

/// A started child process, as its parent sees it.
///
/// Dropping a `Child` does not stop the process: it is reaped in the background when it
/// exits. It still dies with this process (parent-death signal and liveness pipe).
#[derive(Debug)]
pub struct Child {
    inner: Arc<Inner>,
}

impl Child {
    pub(crate) fn new(pid: u32, name: String) -> Child {
        let child = Child::new_unlisted(pid, name);
        let mut active = active().lock().unwrap_or_else(|e| e.into_inner());
        active.retain(|w| w.strong_count() > 0);
        active.push(Arc::downgrade(&child.inner));
        child
    }

    /// A child that `active_children` does not list (the fork server).
    pub(crate) fn new_unlisted(pid: u32, name: String) -> Child {
        let inner = Arc::new(Inner {
            pid,
            name,
            status: Mutex::new(None),
            pins: Mutex::new(Pins::default()),
        });
        Child { inner }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The name given to the process.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Keeps `pins` until the child is reaped (by a wait, or in the background).
    pub(crate) fn keep_until_reaped(&self, pins: Pins) {
        *self.inner.pins.lock().unwrap_or_else(|e| e.into_inner()) = pins;
        if self.status().is_some() {
            self.inner.release_pins();
        }
    }

    /// A descriptor that becomes readable when the child ends: a pidfd of its own, or,
    /// once the child is reaped, the read end of a pipe with no writer (readable at once).
    ///
    /// No descriptor is kept per child: a pool of hundreds of workers costs its parent no
    /// pidfd each. One is opened while the child is known unreaped (under the status lock),
    /// so its pid cannot have been reused.
    pub(crate) fn sentinel(&self) -> io::Result<OwnedFd> {
        let status = self.inner.status.lock().unwrap_or_else(|e| e.into_inner());
        match *status {
            None => sys::pidfd(self.inner.pid),
            Some(_) => Ok(sys::pipe()?.0),
        }
    }

    /// The exit status, if the child has been reaped already.
    pub fn status(&self) -> Option<ExitStatus> {
        *self.inner.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reaps the child if it has exited; `None` while it runs.
    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        self.inner.try_reap()
    }

    /// Waits until the child exits.
    pub fn wait(&self) -> io::Result<ExitStatus> {
        loop {
            if let Some(s) = self.inner.try_reap()? {
                return Ok(s);
            }
            // Blocks until it has exited, and leaves it to `try_reap` (whose lock keeps
            // two waiters from reaping it twice).
            if !sys::wait_exited(self.inner.pid)? {
                return self.inner.try_reap()?.ok_or_else(|| {
                    io::Error::other(format!("child {} was reaped elsewhere", self.inner.pid))
                });
            }
        }
    }

    /// Waits until the child exits or `timeout` passes (`None` then; the child runs on).
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        // Opened for this wait only (see `sentinel`).
        let mut pidfd = None;
        loop {
            if let Some(s) = self.inner.try_reap()? {
                return Ok(Some(s));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if pidfd.is_none() {
                pidfd = Some(self.sentinel());
            }
            match &pidfd {
                Some(Ok(fd)) => {
                    sys::wait_readable(fd.as_raw_fd(), Some(left))?;
                }
                // No pidfd (old kernel, or out of descriptors): poll gently.
                _ => std::thread::sleep(left.min(Duration::from_millis(2))),
            }
        }
    }

    /// Sends `signal` unless the child has been reaped (its pid may be reused then).
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        let status = self.inner.status.lock().unwrap_or_else(|e| e.into_inner());
        if status.is_some() {
            return Ok(());
        }
        match sys::send_signal(self.inner.pid, signal) {
            // Exited but not reaped yet: nothing to signal.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        }
    }

    /// SIGTERM. Python: `terminate()`.
    pub fn terminate(&self) -> io::Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// SIGKILL. Python: `kill()`.
    pub fn kill(&self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }
}

impl Inner {
    fn try_reap(&self) -> io::Result<Option<ExitStatus>> {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if status.is_none()
            && let Some(s) = sys::wait_pid(self.pid, false)?
        {
            *status = Some(s);
            drop(status);
            self.release_pins();
            return Ok(Some(s));
        }
        Ok(*status)
    }

    fn release_pins(&self) {
        let pins = std::mem::take(&mut *self.pins.lock().unwrap_or_else(|e| e.into_inner()));
        drop(pins);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status().is_some() {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let reaper = std::thread::Builder::new().name("multiproc-reaper".into()).spawn(move || {
            let child = Child { inner };
            let _ = child.wait();
        });
        // Without a thread, the child stays a zombie until this process exits; nothing
        // better can be done from a destructor.
        drop(reaper);
    }
}

/// The children of this process that are still running. Python: `active_children()`
/// (which also reaps finished ones, as this does).
///
/// ```
/// let mut p = multiproc::Process::new(|ms: u64| std::thread::sleep(std::time::Duration::from_millis(ms)), 300);
/// p.start()?;
/// assert!(multiproc::active_children().iter().any(|c| c.pid == p.pid().unwrap()));
/// p.join()?;
/// assert!(multiproc::active_children().iter().all(|c| Some(c.pid) != p.pid()));
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
pub fn active_children() -> Vec<ProcessInfo> {
    let live: Vec<Arc<Inner>> = {
        let mut active = active().lock().unwrap_or_else(|e| e.into_inner());
        active.retain(|w| w.strong_count() > 0);
        active.iter().filter_map(Weak::upgrade).collect()
    };
    live.iter()
        .filter(|c| matches!(c.try_reap(), Ok(None)))
        .map(|c| ProcessInfo { name: c.name.clone(), pid: c.pid })
        .collect()
}
