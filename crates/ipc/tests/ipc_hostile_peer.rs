//! A peer that breaks the wire format on purpose, from another process, cannot crash the
//! receiver, make it allocate what a header claims, or make it map memory it cannot trust:
//! each such message is an `IpcError::Refused` and the receiver goes on.
//!
//! The forked child plays the hostile peer with raw `sendmsg` calls on the channel's
//! sockets, which it finds by creation order (see `channel_fds`). One test only: the fds of
//! the channel are told apart from the others by what was opened while it was created,
//! which needs no other test opening descriptors meanwhile.

use std::collections::BTreeSet;
use std::mem;

use multiproc_ipc::{Channel, IpcError, duplex};

mod forking;
#[path = "common/sendmsg.rs"]
mod sendmsg;
use forking::{fork_child, reap};

/// The four sockets of one direction of a `duplex`: what its sender holds (the byte
/// channel's and the side channel's sending sockets).
struct Direction {
    bytes: libc::c_int,
    side: libc::c_int,
}

/// A fresh duplex and, for the direction into its second end, the sending sockets.
fn channel_fds() -> (Channel, Channel, Direction) {
    let before = open_sockets();
    let (a, b) = duplex().unwrap();
    let new: Vec<libc::c_int> = open_sockets().difference(&before).copied().collect();
    // `duplex` makes the a-to-b direction first: bytes (sender, receiver), then side.
    assert_eq!(new.len(), 8, "a duplex is eight sockets: {new:?}");
    (a, b, Direction { bytes: new[0], side: new[2] })
}

/// The sockets open in this process (not the directory read to list them).
fn open_sockets() -> BTreeSet<libc::c_int> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| {
            let mut st: libc::stat = unsafe_zeroed_stat();
            // SAFETY: `st` is a valid place for the result; a closed fd is an error.
            unsafe { libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK }
        })
        .collect()
}

fn unsafe_zeroed_stat() -> libc::stat {
    // SAFETY: `stat` is plain old data, for which all zeroes is a valid value.
    unsafe { mem::zeroed() }
}

/// Sends one ipc-channel fragment as its sender would lay it out (fragment size, total
/// size, body), with `fds` attached.
fn send_raw(socket: libc::c_int, total: usize, body: &[u8], fds: &[libc::c_int]) {
    send_fragment(socket, 2 * mem::size_of::<usize>() + body.len(), total, body, fds);
}

/// As `send_raw`, with a fragment size that may lie about the packet's.
fn send_fragment(
    socket: libc::c_int,
    fragment: usize,
    total: usize,
    body: &[u8],
    fds: &[libc::c_int],
) {
    let mut bytes = Vec::with_capacity(fragment);
    bytes.extend_from_slice(&fragment.to_ne_bytes());
    bytes.extend_from_slice(&total.to_ne_bytes());
    bytes.extend_from_slice(body);
    let sent = sendmsg::send_with_fds(socket, &mut bytes, fds, 0);
    assert_eq!(sent, bytes.len() as isize, "sendmsg: {}", std::io::Error::last_os_error());
}

/// A memfd of `len` bytes, sealed against resizing or not.
fn memfd(len: u64, sealed: bool) -> libc::c_int {
    let flags = libc::MFD_CLOEXEC | if sealed { libc::MFD_ALLOW_SEALING } else { 0 };
    // SAFETY: plain system calls on a descriptor this function owns.
    unsafe {
        let fd = libc::memfd_create(c"hostile".as_ptr(), flags);
        assert!(fd >= 0);
        assert_eq!(libc::ftruncate(fd, len as libc::off_t), 0);
        if sealed {
            assert_eq!(
                libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW),
                0
            );
        }
        fd
    }
}

/// postcard's unsigned varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A side-channel message announcing region `id` (ipc-channel's region index `index`;
/// `u64::MAX` makes an empty region with no descriptor at all).
fn announce(id: u64, index: u64) -> Vec<u8> {
    let mut body = vec![0]; // Side::Add
    varint(id, &mut body);
    varint(index, &mut body);
    body
}

/// A byte-channel message naming `len` bytes of region `id`.
fn notice(id: u64, len: u64) -> Vec<u8> {
    let mut body = id.to_le_bytes().to_vec();
    body.extend_from_slice(&len.to_le_bytes());
    body.push(0x5E); // a shared-memory frame
    body
}

/// Runs `hostile` in a forked child against the sending sockets of the direction into
/// `victim`, then returns what `victim` receives.
fn receive_after(hostile: impl FnOnce(&Direction)) -> Result<Vec<u8>, IpcError> {
    let (sender_end, victim, direction) = channel_fds();
    let child = fork_child(|| hostile(&direction));
    assert_eq!(reap(child), 0, "the hostile child failed");
    let got = victim.recv().map(|m| m.to_vec());
    drop(sender_end);
    got
}

fn refused(what: &str, got: Result<Vec<u8>, IpcError>) {
    assert!(matches!(got, Err(IpcError::Refused(_))), "{what}: {got:?}");
}

/// Peak resident memory of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_hostile_sender_is_refused_and_the_receiver_goes_on() {
    // A 24-byte message claiming a 2^50-byte body (with a channel attached for the rest,
    // as a real multi-fragment message has): refused before anything is allocated.
    let rss = peak_rss_kib();
    refused(
        "a header claiming 2^50 bytes",
        receive_after(|to| {
            let mut pair = [0; 2];
            // SAFETY: `pair` has room for the two descriptors.
            let made = unsafe {
                libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, pair.as_mut_ptr())
            };
            assert_eq!(made, 0);
            send_raw(to.bytes, 1 << 50, &[0; 8], &pair[1..]);
        }),
    );
    assert!(peak_rss_kib() < rss + (64 << 10), "the receiver allocated for the claim");

    // A frame with an unsealed memfd, or with a descriptor that is no memfd at all.
    refused(
        "an unsealed memfd",
        receive_after(|to| send_raw(to.bytes, 2, &[b'x', 0xA1], &[memfd(1 << 20, false)])),
    );
    refused(
        "a pipe as a region",
        receive_after(|to| {
            let mut pipe = [0; 2];
            // SAFETY: `pipe` has room for the two descriptors.
            let made = unsafe { libc::pipe(pipe.as_mut_ptr()) };
            assert_eq!(made, 0);
            send_raw(to.bytes, 2, &[b'x', 0xA1], &pipe[..1]);
        }),
    );

    // A region of no bytes at all, then a frame said to be in it.
    refused(
        "a zero-length region",
        receive_after(|to| {
            let body = announce(7, u64::MAX);
            send_raw(to.side, body.len(), &body, &[]);
            let body = notice(7, 1);
            send_raw(to.bytes, body.len(), &body, &[]);
        }),
    );

    // A region far above the pool's bound (sparse: it costs the sender nothing).
    refused(
        "a 64 TiB region",
        receive_after(|to| {
            let body = announce(8, 0);
            send_raw(to.side, body.len(), &body, &[memfd(1 << 46, true)]);
            let body = notice(8, 1);
            send_raw(to.bytes, body.len(), &body, &[]);
        }),
    );

    // More regions than a receiver keeps: each is well formed, their number is not.
    refused(
        "a hundred regions",
        receive_after(|to| {
            for id in 100..200 {
                let body = announce(id, 0);
                send_raw(to.side, body.len(), &body, &[memfd(1 << 20, true)]);
            }
            let body = notice(199, 1);
            send_raw(to.bytes, body.len(), &body, &[]);
        }),
    );

    // A fragment whose header claims more than its packet: refused, not waited on for a
    // next packet.
    refused(
        "a fragment longer than its packet",
        receive_after(|to| send_fragment(to.bytes, 64, 2, &[b'x', 0xA1], &[])),
    );

    // The first fragment of an announcement in several, whose dedicated channel's sending
    // end stays open (here it travels along, into the receiver itself): the rest never
    // comes, and the receiver refuses the message instead of waiting for it.
    refused(
        "a stalled announcement",
        receive_after(|to| {
            let mut pair = [0; 2];
            // SAFETY: `pair` has room for the two descriptors.
            let made = unsafe {
                libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, pair.as_mut_ptr())
            };
            assert_eq!(made, 0);
            let body = announce(9, u64::MAX);
            send_raw(to.side, body.len() + 100, &body, &pair);
            let body = notice(9, 1);
            send_raw(to.bytes, body.len(), &body, &[]);
        }),
    );

    // After all that, the same kind of channel works as ever.
    let (a, b) = duplex().unwrap();
    a.send(&vec![5u8; 1 << 20]).unwrap();
    assert_eq!(&*b.recv().unwrap(), &vec![5u8; 1 << 20][..]);
}
