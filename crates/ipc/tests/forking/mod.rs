//! Shared by the fork-based tests: a child that runs a closure and never returns into the
//! test harness, and its reaping.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Forks; the child runs `body` and exits (0 if it returned, 1 if it panicked).
pub fn fork_child(body: impl FnOnce()) -> libc::pid_t {
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

/// Waits for `pid` and returns its raw wait status.
pub fn wait_status(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: `pid` is our child and `status` is a valid place for the status.
    let got = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(got, pid);
    status
}

/// Waits for `pid` and returns its exit code.
pub fn reap(pid: libc::pid_t) -> i32 {
    let status = wait_status(pid);
    assert!(libc::WIFEXITED(status), "child did not exit normally: {status:#x}");
    libc::WEXITSTATUS(status)
}
