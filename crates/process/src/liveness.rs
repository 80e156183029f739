//! How a child learns that its parent process died, beside the parent-death signal: one
//! pipe per parent process, whose last writer closing kills every child.
//!
//! A process that starts children makes the pipe once and holds its write end until it
//! ends; the kernel closes it however the process ends, SIGKILL included. Every child gets
//! the read end — inherited by fork, kept across `exec` by spawn, passed on by the fork
//! server — opens a reading description of its own and has the kernel SIGKILL it when the
//! pipe loses its last writer (see [`sys::die_when_pipe_closes`]). No thread watches and
//! no descriptor is made per child.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use crate::sys::{self, PerProcess};

/// This process's liveness pipe, by descriptor number.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ends {
    /// What children get.
    pub read: RawFd,
    /// What only this process holds.
    pub write: RawFd,
}

/// Per process: a forked child makes its own pipe for its own children (it closes its
/// copy of its parent's write end at once, see [`watch_after_fork`]).
static PIPE: PerProcess<Mutex<Option<(OwnedFd, OwnedFd)>>> = PerProcess::new();

/// This process's liveness pipe, made on first use and kept for the life of the process.
pub(crate) fn ends() -> io::Result<Ends> {
    let mut pipe = PIPE.get(|| Mutex::new(None)).lock().unwrap_or_else(|e| e.into_inner());
    if pipe.is_none() {
        *pipe = Some(sys::pipe()?);
    }
    let (read, write) = pipe.as_ref().expect("the pipe was just made");
    Ok(Ends { read: read.as_raw_fd(), write: write.as_raw_fd() })
}

/// In a child that was started with `read`, the read end of its parent's pipe: dies with
/// the parent from now on.
pub(crate) fn watch(read: RawFd) -> io::Result<()> {
    sys::die_when_pipe_closes(read)
}

/// In a freshly forked child: drops its copy of the parent's write end (the pipe must
/// close when the parent dies, whoever else is alive) and watches the read end.
pub(crate) fn watch_after_fork(parent: Ends) -> io::Result<()> {
    sys::close_inherited(parent.write);
    watch(parent.read)
}
