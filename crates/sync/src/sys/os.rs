//! The rest of the operating system this crate needs: random keys, named POSIX shared
//! memory, advisory locks, and who we are.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::cvt;

/// Fills `buf` with random bytes from the kernel (`getrandom`, blocking until the pool
/// is ready, which it is long before any user process runs).
pub(crate) fn random(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: getrandom writes at most `buf.len() - filled` bytes into the buffer.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(())
}

/// Creates the POSIX shared-memory object `name` (`/name` in `/dev/shm`): it must not
/// exist yet (`O_EXCL`, so nothing can be slipped in under the name), and only this user
/// may open it (mode 0600).
pub(crate) fn shm_create(name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
    // SAFETY: `name` is a valid C string; shm_open returns a new descriptor or -1.
    let fd = cvt(unsafe { libc::shm_open(name.as_ptr(), flags, 0o600) })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the existing POSIX shared-memory object `name`, read-write.
pub(crate) fn shm_open(name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    // SAFETY: as in `shm_create`; the mode is ignored without O_CREAT.
    let fd = cvt(unsafe { libc::shm_open(name.as_ptr(), flags, 0) })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Removes the name of a POSIX shared-memory object (the memory lives on while mapped).
pub(crate) fn shm_unlink(name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is a valid C string.
    cvt(unsafe { libc::shm_unlink(name.as_ptr()) }).map(drop)
}

/// Sets the size of a freshly created file.
pub(crate) fn truncate(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::other("size too large"))?;
    // SAFETY: ftruncate on a descriptor the caller holds.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
}

/// A new open description of the file behind `fd` (so that its advisory locks are this
/// process's own, not shared with the process that passed `fd`).
pub(crate) fn reopen(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{}\0", fd.as_raw_fd());
    let flags = libc::O_RDWR | libc::O_CLOEXEC;
    // SAFETY: `path` is NUL-terminated; open returns a new descriptor or -1.
    let new = cvt(unsafe { libc::open(path.as_ptr().cast(), flags) })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// `flock`: a shared lock (blocking), or an exclusive one if nobody else holds any.
/// Returns whether the lock was taken.
pub(crate) fn flock(fd: BorrowedFd<'_>, exclusive: bool) -> io::Result<bool> {
    let op = if exclusive { libc::LOCK_EX | libc::LOCK_NB } else { libc::LOCK_SH };
    loop {
        // SAFETY: flock on a descriptor the caller holds.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// Releases this description's `flock`.
pub(crate) fn unlock(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: flock on a descriptor the caller holds.
    cvt(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_UN) }).map(drop)
}

/// Whether the POSIX shared-memory object `name` is the file behind `fd`.
pub(crate) fn names(name: &CStr, fd: BorrowedFd<'_>) -> bool {
    let Ok(there) = shm_open(name) else { return false };
    match (super::memory::fstat(there.as_fd()), super::memory::fstat(fd)) {
        (Ok(a), Ok(b)) => a.st_ino == b.st_ino && a.st_dev == b.st_dev,
        _ => false,
    }
}

/// This process's effective user id.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
