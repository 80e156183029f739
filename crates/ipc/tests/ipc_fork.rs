//! Channels and shared words inherited across `fork`: each side uses its own end.
//!
//! The two tests fork in parallel, so a child may hold copies of the other test's
//! descriptors for a moment; neither relies on end-of-file to finish.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use multiproc_ipc::{SharedWords, duplex};

/// Forks; the child runs `body` and exits (0 if it returned, 1 if it panicked).
fn fork_child(body: impl FnOnce()) -> libc::pid_t {
    #[expect(clippy::disallowed_methods, reason = "the test needs a forked child")]
    // SAFETY: the child only runs `body` (allocation is fork-safe with glibc) and then
    // `_exit`s, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = i32::from(catch_unwind(AssertUnwindSafe(body)).is_err());
        // SAFETY: `_exit` ends the child at once, without running the parent's atexit
        // handlers or destructors twice.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Waits for `pid` and returns its exit code.
fn reap(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: `pid` is our child and `status` is a valid place for the status.
    let got = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(got, pid);
    assert!(libc::WIFEXITED(status), "child did not exit normally: {status:#x}");
    libc::WEXITSTATUS(status)
}

#[test]
fn channel_inherited_across_fork() {
    let (parent, child) = duplex().expect("duplex");
    let pid = fork_child(move || {
        loop {
            let frame = child.recv().expect("child recv");
            if &*frame == b"bye" {
                break;
            }
            let mut reply = frame.into_vec();
            reply.reverse();
            child.send(&reply).expect("child send");
        }
    });
    for len in [0usize, 5, 100 << 10, 3 << 20] {
        let frame: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        parent.send(&frame).expect("send");
        let back = parent.recv().expect("recv");
        let mut expected = frame;
        expected.reverse();
        assert!(*back == expected[..], "len {len}");
    }
    parent.send(b"bye").expect("send bye");
    assert_eq!(reap(pid), 0);
}

#[test]
fn shared_words_across_fork() {
    let words = SharedWords::new(3).expect("shared words");
    let view = words.clone();
    let pid = fork_child(move || {
        for i in 1..=1000 {
            view.store(0, i);
        }
        view.store(1, 42);
        let start = Instant::now();
        while view.load(2) == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "parent never answered");
            std::hint::spin_loop();
        }
    });
    let start = Instant::now();
    while words.load(1) != 42 {
        assert!(start.elapsed() < Duration::from_secs(10), "child never stored");
        std::thread::yield_now();
    }
    assert_eq!(words.load(0), 1000);
    words.store(2, 1);
    assert_eq!(reap(pid), 0);
}
