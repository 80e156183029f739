//! Unix sockets: doorbells between processes, descriptors passed beside bytes
//! (`SCM_RIGHTS`), `poll`, and the abstract listening socket of the descriptor sharer.
//!
//! Every socket is `SOCK_SEQPACKET`: messages keep their boundaries and arrive whole or
//! not at all, whoever sends them and however the sender dies. When every descriptor of
//! one end is closed — by `close` or by the death of the processes holding it — the other
//! end reads end-of-file: that is how this crate learns that all senders (or all readers)
//! of a queue are gone.

use std::io;
use std::mem::{MaybeUninit, size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use super::clock::time_left;
use super::cvt;

/// The most descriptors one message carries (the kernel's `SCM_MAX_FD`).
pub(crate) const MAX_FDS: usize = 253;

/// A connected pair of `SOCK_SEQPACKET` sockets, close-on-exec.
pub(crate) fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    let kind = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: socketpair writes two descriptors into `fds` on success.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Rings a doorbell: one byte, never blocking. A full socket already holds unread bells,
/// so `EAGAIN` counts as rung; a peer that is gone needs no ringing either.
pub(crate) fn ring(fd: BorrowedFd<'_>) {
    let byte = 1u8;
    // SAFETY: sends one byte from a valid buffer on a descriptor we hold.
    unsafe {
        libc::send(
            fd.as_raw_fd(),
            (&raw const byte).cast(),
            1,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
}

/// Reads every bell waiting on `fd` without blocking; true once the peer end is closed
/// by all its holders (end of file) and nothing is left to read.
pub(crate) fn drain(fd: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: receives into a valid buffer of `buf.len()` bytes.
        let n = unsafe {
            libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
        };
        match n {
            0 => return true,
            n if n > 0 => continue,
            _ => {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::ECONNRESET | libc::EPIPE | libc::ENOTCONN) => true,
                    _ => false, // EAGAIN: drained
                };
            }
        }
    }
}

/// The first 8 bytes of the next message on `sock`, as a little-endian `u64`, without
/// taking the message (nor the descriptors it carries). `None` when there is none now.
pub(crate) fn peek_u64(sock: BorrowedFd<'_>) -> Option<u64> {
    let mut buf = [0u8; 8];
    loop {
        // SAFETY: receives at most 8 bytes into a valid buffer; MSG_PEEK leaves the
        // message (and its descriptors, as no control buffer is given) queued.
        let n = unsafe {
            libc::recv(
                sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n == 8 {
            return Some(u64::from_le_bytes(buf));
        }
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return None;
    }
}

/// Waits until `sock` can take a message, or `deadline` passes.
pub(crate) fn wait_writable(sock: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<()> {
    let mut pfd = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    let ts = deadline.map(time_left);
    let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: one valid pollfd; `tsp` is null or a valid timespec.
    let r = unsafe { libc::ppoll(&mut pfd, 1, tsp, std::ptr::null()) };
    if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What `poll` saw on one descriptor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ready {
    /// Something to read (or end of file).
    pub readable: bool,
    /// The peer is gone (or the descriptor is in error).
    pub hangup: bool,
}

/// Waits until one of `fds` is readable or hung up, or `deadline` passes. Returns what
/// each descriptor reported (all `false` on timeout).
pub(crate) fn poll(fds: &[BorrowedFd<'_>], deadline: Option<Instant>) -> io::Result<Vec<Ready>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    loop {
        let ts = deadline.map(time_left);
        let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds; `tsp` is null or a
        // valid relative timespec; no signal mask is changed.
        let r = unsafe {
            libc::ppoll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, tsp, std::ptr::null())
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(pfds
            .iter()
            .map(|p| Ready {
                readable: p.revents & libc::POLLIN != 0,
                hangup: p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
            })
            .collect());
    }
}

/// Sends `bytes` with `fds` attached, as one message. With `block` false, a full socket
/// gives `WouldBlock`.
pub(crate) fn send_fds(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[RawFd],
    block: bool,
) -> io::Result<()> {
    assert!(fds.len() <= MAX_FDS, "at most {MAX_FDS} descriptors per message");
    let mut iov =
        libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of_val(fds) as u32) } as usize;
    let mut control = vec![0u8; space.max(size_of::<libc::cmsghdr>())];
    // SAFETY: an all-zero msghdr is valid; the fields are set below.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: `control` has room for one cmsghdr and `fds.len()` descriptors
        // (CMSG_SPACE), so CMSG_FIRSTHDR is non-null and CMSG_DATA points inside it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                std::mem::size_of_val(fds),
            );
        }
    }
    let flags = libc::MSG_NOSIGNAL | if block { 0 } else { libc::MSG_DONTWAIT };
    loop {
        // SAFETY: `msg` points to the valid iovec and control buffer above, which outlive
        // the call; the descriptors in it are open (the caller holds them).
        let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receives one message into `buf` (its length is returned; a longer message is an
/// error) with the descriptors attached to it, close-on-exec. `Ok(None)` means end of
/// file; with `block` false, an empty socket gives `WouldBlock`.
pub(crate) fn recv_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    block: bool,
) -> io::Result<Option<(usize, Vec<OwnedFd>)>> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE((MAX_FDS * size_of::<RawFd>()) as u32) } as usize;
    let mut control = vec![MaybeUninit::<u8>::uninit(); space];
    // SAFETY: an all-zero msghdr is valid; the fields are set below.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let flags = libc::MSG_CMSG_CLOEXEC | if block { 0 } else { libc::MSG_DONTWAIT };
    let n = loop {
        // SAFETY: `msg` points to the valid iovec and control buffer above.
        let r = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
        if r >= 0 {
            break r as usize;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECONNRESET | libc::EPIPE | libc::ENOTCONN) => return Ok(None),
            _ => return Err(e),
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `msg_controllen` bytes of `control` with well-formed
    // control messages; CMSG_FIRSTHDR / CMSG_NXTHDR walk them within that length, and an
    // SCM_RIGHTS payload is an array of descriptors now owned by this process.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                for i in 0..len / size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "message or descriptors truncated"));
    }
    if n == 0 && fds.is_empty() {
        return Ok(None);
    }
    Ok(Some((n, fds)))
}

/// A listening `SOCK_SEQPACKET` socket bound to `name` in the abstract namespace (no file;
/// it disappears with its last descriptor).
pub(crate) fn listen(name: &[u8]) -> io::Result<OwnedFd> {
    let fd = socket()?;
    let (addr, len) = abstract_addr(name)?;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) })?;
    // SAFETY: listen on a bound socket we own.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), 128) })?;
    Ok(fd)
}

/// Accepts one connection (blocking), close-on-exec.
pub(crate) fn accept(listener: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: accept4 with null address arguments returns a new descriptor or -1.
        let r = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if r >= 0 {
            // SAFETY: a fresh descriptor owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(r) });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Connects to the abstract socket `name`.
pub(crate) fn connect(name: &[u8]) -> io::Result<OwnedFd> {
    let fd = socket()?;
    let (addr, len) = abstract_addr(name)?;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), (&raw const addr).cast(), len) })?;
    Ok(fd)
}

/// The process and user at the other end of a connected socket (`SO_PEERCRED`, as of
/// the moment it connected or listened).
pub(crate) fn peer(sock: BorrowedFd<'_>) -> io::Result<(u32, u32)> {
    // SAFETY: an all-zero ucred is valid.
    let mut cred: libc::ucred = unsafe { zeroed() };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    cvt(unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    })?;
    Ok((cred.pid as u32, cred.uid))
}

/// Bounds how long a blocking send or receive on `sock` may wait.
pub(crate) fn set_timeouts(sock: BorrowedFd<'_>, timeout: std::time::Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        // SAFETY: setsockopt reads a timeval of the given size.
        cvt(unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&raw const tv).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
    }
    Ok(())
}

fn socket() -> io::Result<OwnedFd> {
    // SAFETY: socket returns a new descriptor or -1.
    let fd =
        cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn abstract_addr(name: &[u8]) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: an all-zero sockaddr_un is valid.
    let mut addr: libc::sockaddr_un = unsafe { zeroed() };
    if name.len() + 1 > addr.sun_path.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "socket name too long"));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // sun_path[0] stays 0: the abstract namespace.
    for (dst, &src) in addr.sun_path[1..].iter_mut().zip(name) {
        *dst = src as libc::c_char;
    }
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + 1 + name.len();
    Ok((addr, len as libc::socklen_t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn bells_and_end_of_file() {
        let (a, b) = pair().unwrap();
        ring(a.as_fd());
        ring(a.as_fd());
        let ready = poll(&[b.as_fd()], None).unwrap();
        assert!(ready[0].readable && !ready[0].hangup);
        assert!(!drain(b.as_fd()));
        let ready = poll(&[b.as_fd()], Some(Instant::now())).unwrap();
        assert_eq!(ready[0], Ready::default());
        drop(a);
        assert!(poll(&[b.as_fd()], None).unwrap()[0].hangup);
        assert!(drain(b.as_fd()));
    }

    #[test]
    fn descriptors_travel_beside_bytes() {
        let (a, b) = pair().unwrap();
        let (x, y) = pair().unwrap();
        send_fds(a.as_fd(), b"two", &[x.as_raw_fd(), y.as_raw_fd()], true).unwrap();
        let mut buf = [0u8; 8];
        let (n, fds) = recv_fds(b.as_fd(), &mut buf, true).unwrap().unwrap();
        assert_eq!((&buf[..n], fds.len()), (&b"two"[..], 2));
        assert!(
            matches!(recv_fds(b.as_fd(), &mut buf, false), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        );
        drop(a);
        assert!(recv_fds(b.as_fd(), &mut buf, true).unwrap().is_none());
    }

    #[test]
    fn abstract_sockets_tell_who_is_at_the_other_end() {
        let name = format!("multiproc-test-{}", std::process::id());
        let listener = listen(name.as_bytes()).unwrap();
        let client = connect(name.as_bytes()).unwrap();
        let server = accept(listener.as_fd()).unwrap();
        assert_eq!(peer(client.as_fd()).unwrap().0, std::process::id());
        assert_eq!(peer(server.as_fd()).unwrap().0, std::process::id());
    }
}
