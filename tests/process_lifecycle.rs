//! The `Process` lifecycle under every start method: names, the state table before
//! start / while running / after join, `join_timeout`, misuse errors and `close`.
//!
//! Re-expressed from CPython's `Lib/test/_test_multiprocessing.py` (`_TestProcess`:
//! `test_process`, `test_terminate`, `test_close`, `test_many_processes`), rewritten.

use std::time::Duration;

use multiproc::{Context, ExitStatus, Process, ProcessError, StartMethod};

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn lifecycle_table_per_start_method() {
    for method in StartMethod::ALL {
        let ctx = Context::new(method);
        let mut p = ctx.process(sleep_ms, 200);
        assert!(p.name().starts_with("Process-"), "{method}: {}", p.name());
        assert_eq!(
            (p.pid(), p.exit_code(), p.is_alive()),
            (None, None, false),
            "{method} before start"
        );
        p.start().unwrap();
        assert!(p.pid().is_some(), "{method}");
        assert!(p.is_alive(), "{method} while running");
        assert_eq!(p.exit_code(), None, "{method} while running");
        assert_eq!(p.join().unwrap(), 200, "{method}");
        assert!(!p.is_alive(), "{method} after join");
        assert_eq!(p.exit_code(), Some(ExitStatus::Code(0)), "{method} after join");
        assert!(p.pid().is_some());
    }
}

#[test]
fn names_count_up_and_can_be_set() {
    let a = Process::new(sleep_ms, 0);
    let b = Process::new(sleep_ms, 0);
    let na: u32 = a.name().strip_prefix("Process-").unwrap().parse().unwrap();
    let nb: u32 = b.name().strip_prefix("Process-").unwrap().parse().unwrap();
    assert!(nb > na);
    let c = Process::new(sleep_ms, 0).with_name("worker-x").unwrap().with_daemon(true).unwrap();
    assert_eq!((c.name(), c.daemon()), ("worker-x", true));
}

/// The child's own name, and whether it is daemonic (a daemonic process may not start
/// children).
fn whoami(_: ()) -> (String, bool) {
    let daemonic = Process::new(|x: u8| x, 1).start().is_err();
    (multiproc::current_process().name, daemonic)
}

#[test]
fn name_and_daemon_are_set_before_start_and_refused_after() {
    for method in StartMethod::ALL {
        let p = Context::new(method).process(whoami, ());
        let mut p = p.with_name("kid").unwrap().with_daemon(true).unwrap();
        p.start().unwrap();
        // Refused after start: the child runs with what it was started with. (The handle is
        // consumed by the refused call, so the checks go through fresh handles.)
        let started = |name: &str| {
            let mut q = Context::new(method).process(whoami, ()).with_name(name).unwrap();
            q.start().unwrap();
            q
        };
        let err = started("a").with_name("late").unwrap_err();
        assert!(matches!(err, ProcessError::AlreadyRunning { setting: "name" }), "{err:?}");
        assert_eq!(err.to_string(), "cannot set the name of a process that has already started");
        let err = started("b").with_daemon(true).unwrap_err();
        assert!(matches!(err, ProcessError::AlreadyRunning { setting: "daemon" }), "{err:?}");
        assert_eq!(p.join().unwrap(), ("kid".to_string(), true), "{method}");
        assert_eq!((p.name(), p.daemon()), ("kid", true));
    }
}

#[test]
fn join_timeout_leaves_the_child_alive() {
    for method in StartMethod::ALL {
        let mut p = Context::new(method).process(sleep_ms, 600);
        p.start().unwrap();
        assert!(matches!(p.join_timeout(Duration::from_millis(50)), Ok(None)), "{method}");
        assert!(p.is_alive(), "{method}: still running after a join timeout");
        assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), Some(600), "{method}");
        assert!(!p.is_alive());
    }
}

#[test]
fn misuse_is_a_typed_error() {
    for method in StartMethod::ALL {
        let mut p = Context::new(method).process(sleep_ms, 300);
        assert!(matches!(p.join(), Err(ProcessError::NotStarted)), "{method}");
        assert!(matches!(p.terminate(), Err(ProcessError::NotStarted)));
        assert!(matches!(p.kill(), Err(ProcessError::NotStarted)));
        p.start().unwrap();
        assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)), "{method}");
        assert!(matches!(p.close(), Err(ProcessError::StillRunning)), "{method}");
        assert_eq!(p.join().unwrap(), 300);
        assert!(matches!(p.join(), Err(ProcessError::AlreadyJoined)));
        p.close().unwrap();
        assert!(matches!(p.join(), Err(ProcessError::Closed)));
        assert!(matches!(p.start(), Err(ProcessError::Closed)));
        assert!(matches!(p.terminate(), Err(ProcessError::Closed)));
        assert_eq!(p.pid(), None);
        assert!(!p.is_alive());
    }
}

#[test]
fn close_before_start_is_allowed() {
    let mut p = Process::new(sleep_ms, 1);
    p.close().unwrap();
    assert!(matches!(p.start(), Err(ProcessError::Closed)));
}

#[test]
fn many_processes_at_once() {
    for method in StartMethod::ALL {
        let ctx = Context::new(method);
        let mut ps: Vec<_> = (0..10).map(|i| ctx.process(|x: u64| x * 3, i)).collect();
        for p in &mut ps {
            p.start().unwrap();
        }
        for (i, p) in ps.iter_mut().enumerate() {
            assert_eq!(p.join().unwrap(), i as u64 * 3, "{method}");
        }
    }
}

#[test]
fn multi_argument_functions_use_tuples() {
    fn describe((name, n, scale): (String, u32, f64)) -> String {
        format!("{name}:{}", f64::from(n) * scale)
    }
    let mut p = Process::new(describe, ("x".to_string(), 4, 0.5));
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), "x:2");
}

#[test]
fn fork_runs_a_capturing_closure() {
    let words = ["a".to_string(), "bb".to_string()];
    let mut p = Process::fork(move || words.iter().map(String::len).sum::<usize>());
    assert_eq!(p.start_method(), StartMethod::Fork);
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 3);
    assert_eq!(p.exit_code(), Some(ExitStatus::Code(0)));
}
