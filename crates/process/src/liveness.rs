//! How a child learns that its parent process died, beside the parent-death signal: one
//! pipe per parent process, whose last writer closing kills every child.
//!
//! A process that starts children makes the pipe once and holds its write end until it
//! ends; the kernel closes it however the process ends, SIGKILL included. For each child,
//! the process that creates it (the parent, or the fork server) opens a reading
//! description of the pipe for that child alone ([`reader`]), which the child inherits
//! (by fork, or across `exec` for spawn) and arms: the kernel SIGKILLs the child when the
//! pipe loses its last writer ([`watch`]). No thread watches, and the parent keeps no
//! descriptor per child.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use crate::sys::{self, PerProcess};

/// This process's liveness pipe, by descriptor number.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ends {
    /// What readers for children are opened from.
    pub read: RawFd,
    /// What only this process holds (a forked child closes its copy at once).
    pub write: RawFd,
}

/// Per process: a forked child makes its own pipe for its own children.
static PIPE: PerProcess<Mutex<Option<(OwnedFd, OwnedFd)>>> = PerProcess::new();

/// This process's liveness pipe, made on first use and kept for the life of the process.
pub(crate) fn pipe() -> io::Result<Ends> {
    let mut pipe = PIPE.get(|| Mutex::new(None)).lock().unwrap_or_else(|e| e.into_inner());
    if pipe.is_none() {
        *pipe = Some(sys::pipe()?);
    }
    let (read, write) = pipe.as_ref().expect("the pipe was just made");
    Ok(Ends { read: read.as_raw_fd(), write: write.as_raw_fd() })
}

/// For one child about to be created here: a reading description of the pipe whose read
/// end is `read`, shared with no other child. Drop it once the child exists.
///
/// Opened by the creator, whose `/proc/self` is warm, rather than by the child, whose
/// first lookup there would cost it several times more.
pub(crate) fn reader(read: RawFd) -> io::Result<OwnedFd> {
    sys::reopen_for_reading(read)
}

/// In a child, given the [`reader`] made for it: dies with the parent from now on. The
/// descriptor stays open for the life of the process.
pub(crate) fn watch(reader: RawFd) -> io::Result<()> {
    sys::die_when_pipe_closes(reader)
}
