//! Creating and dropping 1,000 channels with live children leaves no descriptor behind.

use std::fs;

use multiproc_ipc::duplex;

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

#[test]
fn a_thousand_channels_with_live_children_leak_nothing() {
    // Warm up once so lazily opened process-wide descriptors are counted in `before`.
    round(true);
    let before = open_fds();
    for i in 0..1000 {
        // Every tenth child also exchanges large frames, so shared-memory regions (memfds)
        // are created on both sides.
        round(i % 10 == 0);
    }
    assert_eq!(open_fds(), before);
}

fn round(large: bool) {
    let (parent, child) = duplex().expect("duplex");
    #[expect(clippy::disallowed_methods, reason = "the test needs cheap live children")]
    // SAFETY: the child only uses its channel end and then `_exit`s; this test binary runs
    // one test, so no other test thread holds locks the child might need.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        drop(parent);
        // Echo until the parent's end is gone; the child is alive meanwhile.
        while let Ok(frame) = child.recv() {
            if child.send(&frame).is_err() {
                break;
            }
        }
        drop(child);
        // SAFETY: ends the forked child without running the test harness again.
        unsafe { libc::_exit(0) };
    }
    drop(child);
    if large {
        let frame = vec![1u8; 200 << 10];
        parent.send(&frame).expect("send");
        assert_eq!(parent.recv().expect("recv").len(), frame.len());
    } else {
        parent.send(b"x").expect("send");
        assert_eq!(&*parent.recv().expect("recv"), b"x");
    }
    drop(parent); // while the child is alive and holding its end
    let mut status = 0;
    // SAFETY: `pid` is our child and `status` is a valid place for the status.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}
