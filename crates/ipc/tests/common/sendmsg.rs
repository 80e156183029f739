//! A raw `sendmsg` with descriptors attached: how the hostile-peer tests (here and in the
//! pool's) put bytes on an ipc-channel socket without going through ipc-channel.

use std::mem;

/// Sends `bytes` on `socket` with `fds` attached (`SCM_RIGHTS`) and `flags`; returns what
/// `sendmsg` returned.
pub fn send_with_fds(
    socket: libc::c_int,
    bytes: &mut [u8],
    fds: &[libc::c_int],
    flags: libc::c_int,
) -> isize {
    let mut iov = libc::iovec { iov_base: bytes.as_mut_ptr().cast(), iov_len: bytes.len() };
    let fd_bytes = mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: a zeroed msghdr is a valid empty one; the fields set point into `iov` and
    // `control`, which outlive the call; the cmsg header and fds are written inside
    // `control`, which CMSG_SPACE sized for them.
    unsafe {
        let mut msg: libc::msghdr = mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast(), fds.len());
        }
        libc::sendmsg(socket, &msg, flags)
    }
}
