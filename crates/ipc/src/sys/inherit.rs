//! Descriptors that cross `exec`: keeping one open for one child, checking what a child
//! inherited, and putting it behind an ipc-channel sender.

use std::io;
use std::mem;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// Keeps `fd` open across the `exec` of the child that `cmd` starts (and of no other
/// process: the descriptor stays close-on-exec here).
pub(crate) fn inherit_on_exec(cmd: &mut Command, fd: RawFd) {
    // SAFETY: the closure runs between fork and exec in the child and calls only fcntl,
    // which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            cvt(libc::fcntl(fd, libc::F_SETFD, 0))?;
            Ok(())
        });
    }
}

/// Who created the other end of a connected socket: its pid and user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    pub pid: u32,
    pub uid: u32,
}

fn int_option(fd: RawFd, option: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid, writable and sized for an int option.
    cvt(unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, option, (&raw mut value).cast(), &mut len)
    })?;
    Ok(value)
}

/// The peer of `fd` if it is a connected unix-domain `SOCK_SEQPACKET` socket (what
/// ipc-channel's channels are); an error for anything else.
pub(crate) fn seqpacket_peer(fd: RawFd) -> io::Result<Peer> {
    let not_ours = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    if int_option(fd, libc::SO_DOMAIN)? != libc::AF_UNIX {
        return Err(not_ours("not a unix-domain socket"));
    }
    if int_option(fd, libc::SO_TYPE)? != libc::SOCK_SEQPACKET {
        return Err(not_ours("not a SOCK_SEQPACKET socket"));
    }
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid, writable and sized for SO_PEERCRED.
    cvt(unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_PEERCRED, (&raw mut cred).cast(), &mut len)
    })?;
    if cred.pid <= 0 {
        return Err(not_ours("an unconnected socket"));
    }
    Ok(Peer { pid: cred.pid as u32, uid: cred.uid })
}

/// This process's effective user id.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Moves the inherited descriptor `from` to the number `to` (closing what `to` was) and
/// closes `from`; `to` ends close-on-exec.
///
/// `to` must belong to a value that will own the new description (its old one is
/// closed here), and `from` to no value at all.
pub(crate) fn move_descriptor(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup3 and close take integers. `to` stays owned by its value (now naming
    // the inherited socket); `from` is owned by nothing in this process (see above).
    unsafe {
        cvt(libc::dup3(from, to, libc::O_CLOEXEC))?;
        libc::close(from);
    }
    Ok(())
}

/// A new descriptor for what `fd` refers to, close-on-exec, owned by nobody yet (for tests
/// that play a child inheriting a descriptor).
#[cfg(test)]
pub(crate) fn duplicate(fd: RawFd) -> RawFd {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes integers and touches no memory of ours.
    unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) }
}
