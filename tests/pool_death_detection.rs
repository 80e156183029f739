//! A worker's death is seen when the worker exits, whatever else holds its sockets, under
//! every start method. A task forks a grandchild without `exec` (it inherits the worker's
//! channel and answer ring) that lives until the test ends it; then:
//! - the task aborts: it fails `WorkerDied` at once and the pool goes on;
//! - the task sleeps past the pool's timeout: it fails `TimedOut` at once;
//! - dropping the pool, `close` + `join`, and an executor's `shutdown` all return.
//!
//! Before, death was seen only when the channel closed, which the grandchild kept open:
//! each of these waited for the grandchild (8 s in the report, for ever here).

use std::time::Duration;

use multiproc::pool::{Pool, TaskError};
use multiproc::{ExitStatus, ProcessPoolExecutor, StartMethod};

mod common;
use common::{GUARD, serial, sleep_ms};

/// Forks a grandchild that sleeps until killed and writes its pid to `pids`; returns once
/// it is running.
#[expect(
    clippy::disallowed_methods,
    reason = "a task that forks a grandchild (without exec) is the case under test"
)]
fn leave_a_grandchild(pids: &str) {
    // SAFETY: `fork` in a single-threaded worker; the child only sleeps (in a loop of
    // async-signal-safe `pause` calls) and never returns into the worker's code.
    let pid = unsafe { libc::fork() };
    match pid {
        0 => loop {
            // SAFETY: `pause` has no preconditions.
            unsafe { libc::pause() };
        },
        pid if pid > 0 => {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(pids).unwrap();
            writeln!(f, "{pid}").unwrap();
        }
        _ => panic!("fork failed"),
    }
}

/// Leaves a grandchild, then aborts.
fn fork_then_abort(pids: String) -> u64 {
    leave_a_grandchild(&pids);
    std::process::abort()
}

/// Leaves a grandchild, then sleeps for `ms`.
fn fork_then_sleep((pids, ms): (String, u64)) -> u64 {
    leave_a_grandchild(&pids);
    sleep_ms(ms)
}

/// Kills the grandchildren listed in `pids` (the test's own cleanup).
struct Grandchildren(std::path::PathBuf);

impl Grandchildren {
    fn new(name: &str) -> Grandchildren {
        let path = std::env::temp_dir().join(format!(
            "multiproc-{}-{}-{name}.pids",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        std::fs::write(&path, b"").unwrap();
        Grandchildren(path)
    }

    fn arg(&self) -> String {
        self.0.to_str().unwrap().to_owned()
    }
}

impl Drop for Grandchildren {
    fn drop(&mut self) {
        for pid in std::fs::read_to_string(&self.0).unwrap_or_default().lines() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: sending a signal has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `f` on another thread; panics if it does not return within the hang guard.
fn returns(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    assert!(rx.recv_timeout(GUARD).is_ok(), "{what} did not return");
}

#[test]
fn a_worker_that_dies_leaving_a_grandchild_fails_its_task_at_once() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let kids = Grandchildren::new(&format!("abort-{method}"));
        let pool = common::pool(method);
        let r = pool.apply_async(fork_then_abort, kids.arg()).unwrap();
        match r.get_timeout(GUARD) {
            Err(multiproc::pool::WaitError::Task(TaskError::WorkerDied { status, .. })) => {
                assert_eq!(status, Some(ExitStatus::Signal(libc::SIGABRT)), "{method}")
            }
            other => panic!("{method}: {other:?}"),
        }
        assert_eq!(pool.apply(sleep_ms, 1), Ok(1), "{method}: the pool goes on");
        returns(&format!("{method}: dropping the pool"), move || drop(pool));
    }
}

#[test]
fn a_timeout_is_reported_at_once_despite_a_grandchild() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let kids = Grandchildren::new(&format!("timeout-{method}"));
        let timeout = Duration::from_millis(300);
        let pool =
            Pool::builder().processes(2).start_method(method).timeout(timeout).build().unwrap();
        let r = pool.apply_async(fork_then_sleep, (kids.arg(), 600_000)).unwrap();
        match r.get_timeout(GUARD) {
            Err(multiproc::pool::WaitError::Task(TaskError::TimedOut { after, .. })) => {
                assert_eq!(after, timeout, "{method}")
            }
            other => panic!("{method}: {other:?}"),
        }
        returns(&format!("{method}: close and join"), move || {
            pool.close();
            pool.join().unwrap();
        });
    }
}

#[test]
fn shutting_down_does_not_wait_for_a_grandchild() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let kids = Grandchildren::new(&format!("shutdown-{method}"));
        let ex =
            ProcessPoolExecutor::builder().max_workers(2).start_method(method).build().unwrap();
        // The task ends normally; its grandchild keeps the worker's sockets open.
        assert_eq!(ex.submit(fork_then_sleep, (kids.arg(), 1)).unwrap().result(), Ok(1));
        returns(&format!("{method}: executor shutdown"), move || ex.shutdown(true, false));
        let pool = common::pool(method);
        assert_eq!(pool.apply(fork_then_sleep, (kids.arg(), 1)), Ok(1));
        returns(&format!("{method}: pool close and join"), move || {
            pool.close();
            pool.join().unwrap();
        });
    }
}
