//! Failures under every start method: a worker that dies mid-task (SIGKILL, `exit`,
//! abort) fails only its own future and the executor is never "broken"; `cancel_and_kill`
//! replaces the worker; an initializer that fails (or panics) fails every future with
//! `TaskError::InitializerFailed` promptly, and later submissions fail the same way —
//! never a hang.
//!
//! Re-expressed from CPython's `Lib/test/test_concurrent_futures/`
//! (`test_process_pool.py`: `test_killed_child`; `test_deadlock.py`: `test_crash`
//! cases for a worker exiting during a task; `test_init.py`: `FailingInitializerMixin`),
//! rewritten: where CPython marks the whole pool broken, here only the one future fails.

use std::time::{Duration, Instant};

use multiproc::{ExitStatus, Future, MapOptions, ProcessPoolExecutor, StartMethod, TaskError};

mod common;
use common::{GUARD, sleep_ms, square};

fn pid(_: ()) -> u32 {
    std::process::id()
}

/// Dies by SIGKILL (a stand-in for the OOM killer).
fn kill_myself(_: u64) -> u64 {
    // SAFETY: raise has no memory-safety preconditions; the process ends here.
    unsafe {
        libc::raise(libc::SIGKILL);
    }
    unreachable!("SIGKILL is not survivable")
}

fn exit_with(code: i32) -> u64 {
    std::process::exit(code)
}

fn abort(_: u64) -> u64 {
    std::process::abort()
}

/// Writes the file `marker`, then sleeps for a minute.
fn mark_then_sleep(marker: String) -> u64 {
    std::fs::write(&marker, b"").expect("marker written");
    sleep_ms(60_000)
}

fn no_database(_: ()) -> Result<(), String> {
    Err("no database".to_owned())
}

fn panicking_init(_: ()) -> Result<(), String> {
    panic!("initializer exploded")
}

fn good_init(tag: String) -> Result<(), String> {
    if tag == "ok" { Ok(()) } else { Err(format!("bad tag {tag}")) }
}

fn executor(method: StartMethod, workers: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder().max_workers(workers).start_method(method).build().unwrap()
}

fn worker_died_with(err: &TaskError) -> Option<ExitStatus> {
    match err {
        TaskError::WorkerDied { status, .. } => *status,
        other => panic!("expected WorkerDied, got {other:?}"),
    }
}

#[test]
fn a_worker_killed_mid_task_fails_only_its_own_future() {
    for method in StartMethod::ALL {
        let ex = executor(method, 2);
        let before: Vec<Future<u64>> =
            (0..10).map(|i| ex.submit(sleep_ms, i * 5).unwrap()).collect();
        let killed = ex.submit(kill_myself, 0).unwrap();
        let after: Vec<Future<u64>> = (0..10).map(|i| ex.submit(square, i).unwrap()).collect();

        let err = killed.result_timeout(GUARD).unwrap_err();
        assert_eq!(worker_died_with(&err), Some(ExitStatus::Signal(libc::SIGKILL)), "{method}");
        assert!(err.is_worker_death());
        assert!(err.to_string().contains("died while running the task"), "{method}: {err}");
        assert!(!killed.cancelled(), "{method}: a death is not a cancellation");

        for (i, f) in before.iter().enumerate() {
            assert_eq!(f.result_timeout(GUARD), Ok(i as u64 * 5), "{method}: before {i}");
        }
        for (i, f) in after.iter().enumerate() {
            assert_eq!(f.result_timeout(GUARD), Ok((i * i) as u64), "{method}: after {i}");
        }
        // Never broken: new work runs, on every worker.
        let later: Vec<Future<u64>> = (0..20).map(|i| ex.submit(square, i).unwrap()).collect();
        for (i, f) in later.iter().enumerate() {
            assert_eq!(f.result_timeout(GUARD), Ok((i * i) as u64), "{method}: later {i}");
        }
        let mapped: Vec<u64> = ex.map(square, 0..50u64).unwrap().map(Result::unwrap).collect();
        assert_eq!(mapped.len(), 50, "{method}");
    }
}

#[test]
fn a_worker_that_exits_or_aborts_mid_task_fails_only_its_own_future() {
    for method in StartMethod::ALL {
        let ex = executor(method, 2);
        let exits = ex.submit(exit_with, 3).unwrap();
        let aborts = ex.submit(abort, 0).unwrap();
        let fine: Vec<Future<u64>> = (0..10).map(|i| ex.submit(square, i).unwrap()).collect();

        let err = exits.result_timeout(GUARD).unwrap_err();
        assert_eq!(worker_died_with(&err), Some(ExitStatus::Code(3)), "{method}");
        let err = aborts.result_timeout(GUARD).unwrap_err();
        assert_eq!(worker_died_with(&err), Some(ExitStatus::Signal(libc::SIGABRT)), "{method}");
        for (i, f) in fine.iter().enumerate() {
            assert_eq!(f.result_timeout(GUARD), Ok((i * i) as u64), "{method}: {i}");
        }
        assert_eq!(ex.submit(square, 9).unwrap().result_timeout(GUARD), Ok(81), "{method}");
    }
}

#[test]
fn repeated_worker_deaths_never_break_the_executor() {
    for method in StartMethod::ALL {
        let ex = executor(method, 2);
        for round in 0..5 {
            let dead = ex.submit(kill_myself, 0).unwrap();
            let ok = ex.submit(square, round).unwrap();
            assert!(
                matches!(dead.result_timeout(GUARD), Err(TaskError::WorkerDied { .. })),
                "{method} round {round}"
            );
            assert_eq!(ok.result_timeout(GUARD), Ok(round * round), "{method} round {round}");
        }
    }
}

#[test]
fn cancel_and_kill_replaces_the_worker_under_every_start_method() {
    for method in StartMethod::ALL {
        let ex = executor(method, 1);
        let first_pid = ex.submit(pid, ()).unwrap().result_timeout(GUARD).unwrap();
        let marker = std::env::temp_dir()
            .join(format!("multiproc-executor-failures-{}-{method}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let long = ex.submit(mark_then_sleep, marker.to_str().unwrap().to_owned()).unwrap();
        let t = Instant::now();
        while !marker.exists() {
            assert!(t.elapsed() < GUARD, "{method}: the task never started");
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = std::fs::remove_file(&marker);
        assert!(long.running(), "{method}");
        assert!(long.cancel_and_kill(), "{method}");
        assert!(long.cancelled(), "{method}");
        assert_eq!(long.result_timeout(GUARD), Err(TaskError::Cancelled));
        assert!(t.elapsed() < GUARD, "{method}: the 60 s task was not stopped");
        let next_pid = ex.submit(pid, ()).unwrap().result_timeout(GUARD).unwrap();
        assert_ne!(next_pid, first_pid, "{method}: the worker was replaced");
    }
}

#[test]
fn a_failing_initializer_fails_every_future_promptly() {
    for method in StartMethod::ALL {
        let t = Instant::now();
        let ex = ProcessPoolExecutor::builder()
            .max_workers(2)
            .start_method(method)
            .initializer(no_database, ())
            .build()
            .unwrap();
        let futures: Vec<Future<u64>> = (0..4).map(|i| ex.submit(square, i).unwrap()).collect();
        for (i, f) in futures.iter().enumerate() {
            match f.result_timeout(Duration::from_secs(10)) {
                Err(TaskError::InitializerFailed(msg)) => {
                    assert!(msg.contains("no database"), "{method}: {msg}")
                }
                other => panic!("{method}: future {i}: expected InitializerFailed, got {other:?}"),
            }
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{method}: {:?}", t.elapsed());

        // Later submissions fail the same way, at once or within seconds — never a hang.
        match ex.submit(square, 9) {
            Ok(f) => match f.result_timeout(Duration::from_secs(10)) {
                Err(e @ TaskError::InitializerFailed(_)) => {
                    assert!(e.to_string().contains("no database"), "{method}: {e}");
                    assert!(e.to_string().contains("initializer"), "{method}: {e}");
                }
                other => {
                    panic!("{method}: later submit: expected InitializerFailed, got {other:?}")
                }
            },
            Err(e) => assert_ne!(e, TaskError::NotRunning, "{method}: not shut down"),
        }
        // A map fails item by item, too.
        let items: Vec<_> =
            ex.map_with(square, 0..3u64, MapOptions::default().timeout(GUARD)).unwrap().collect();
        assert_eq!(items.len(), 3, "{method}");
        for r in items {
            assert!(matches!(r, Err(TaskError::InitializerFailed(_))), "{method}: {r:?}");
        }
        // And shutting down does not hang either.
        let t = Instant::now();
        drop(ex);
        assert!(t.elapsed() < GUARD, "{method}: drop hung");
    }
}

#[test]
fn a_panicking_initializer_fails_every_future_with_its_message() {
    for method in StartMethod::ALL {
        let ex = ProcessPoolExecutor::builder()
            .max_workers(1)
            .start_method(method)
            .initializer(panicking_init, ())
            .build()
            .unwrap();
        let f = ex.submit(square, 2).unwrap();
        match f.result_timeout(Duration::from_secs(10)) {
            Err(TaskError::InitializerFailed(msg)) => {
                assert!(msg.contains("initializer exploded"), "{method}: {msg}")
            }
            other => panic!("{method}: expected InitializerFailed, got {other:?}"),
        }
    }
}

#[test]
fn a_succeeding_initializer_runs_before_the_tasks() {
    for method in StartMethod::ALL {
        let ex = ProcessPoolExecutor::builder()
            .max_workers(2)
            .start_method(method)
            .initializer(good_init, "ok".to_owned())
            .build()
            .unwrap();
        let futures: Vec<Future<u64>> = (0..8).map(|i| ex.submit(square, i).unwrap()).collect();
        for (i, f) in futures.iter().enumerate() {
            assert_eq!(f.result_timeout(GUARD), Ok((i * i) as u64), "{method}: {i}");
        }
    }
}
