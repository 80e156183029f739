//! What a `Future` handle promises beyond its outcome: `Debug` shows the outcome as
//! Python's repr does; `result` needs no `Clone` and can be asked again; `worker_pid`
//! names the worker process that holds the task; dropping a future withdraws its task if
//! it has not started (`detach` lets it run); the builder's per-task timeout kills a task
//! that runs past it.
//!
//! CPython's twin: `Future.__repr__` (`test_future.py`: `test_repr`), rewritten; the rest
//! is beyond CPython. Tasks are held by gate files, never by sleeps.

use std::time::Duration;

use multiproc::serde::{Deserialize, Serialize};
use multiproc::{Future, ProcessPoolExecutor, TaskError};

mod common;
use common::{GUARD, Gate, RunLog, gated, log_run};

/// A value without `Clone`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiproc::serde")]
struct Report {
    lines: Vec<String>,
}

fn report(n: usize) -> Report {
    Report { lines: (0..n).map(|i| format!("line {i}")).collect() }
}

/// Logs `i` to the log, then returns it.
fn logged((i, log): (u64, String)) -> u64 {
    log_run(&log, i);
    i
}

#[test]
fn debug_shows_the_state_and_outcome() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("debug");
    let running = ex.submit(gated, gate.arg()).unwrap();
    let pending = ex.submit(|x: u64| x, 1).unwrap();
    gate.wait_started();
    assert_eq!(format!("{running:?}"), "<Future state=running>");
    assert_eq!(format!("{pending:?}"), "<Future state=pending>");
    assert!(pending.cancel());
    assert_eq!(format!("{pending:?}"), "<Future state=cancelled>");
    gate.open();
    assert_eq!(running.result(), Ok(7));
    assert_eq!(format!("{running:?}"), "<Future state=finished returned u64>");
    let panicked = ex.submit(|x: u64| -> u64 { panic!("{x}") }, 1).unwrap();
    assert!(panicked.exception().is_some());
    assert_eq!(format!("{panicked:?}"), "<Future state=finished raised Panicked>");
    let failed = ex.submit(|s: String| s.parse::<u8>(), "x".into()).unwrap();
    assert!(failed.exception().is_some());
    assert_eq!(
        format!("{failed:?}"),
        "<Future state=finished raised Failed(core::num::error::ParseIntError)>"
    );
}

#[test]
fn result_needs_no_clone_and_can_be_asked_again() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let f: Future<Report> = ex.submit(report, 3).unwrap();
    assert_eq!(f.result(), Ok(report(3)));
    assert_eq!(f.result(), Ok(report(3)));
    assert_eq!(f.result_timeout(GUARD), Ok(report(3)));
    assert_eq!(f.into_result(), Ok(report(3)));
}

#[test]
fn worker_pid_names_the_process_that_runs_the_task() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let gate = Gate::new("pid");
    let f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let pid = f.worker_pid().expect("a running task has a worker");
    assert!(ex.worker_pids().contains(&pid), "{pid} in {:?}", ex.worker_pids());
    // It is that very process: killing it fails this task as a worker death.
    // SAFETY: `kill` sends a signal to a pid; no memory is touched.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let err = f.exception().expect("the task died with its worker");
    let TaskError::WorkerDied { worker, .. } = &err else { panic!("{err:?}") };
    assert!(worker.ends_with(&format!("pid {pid}")), "{worker}");
    assert!(err.to_string().ends_with("killed by signal 9 (SIGKILL)"), "{err}");
    assert_eq!(f.worker_pid(), None, "an ended task has no worker");
}

#[test]
fn dropping_an_unstarted_future_withdraws_its_task_and_detach_keeps_it() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let log = RunLog::new("withdraw");
    let gate = Gate::new("withdraw");
    let busy = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    // Queued behind `busy`: one dropped, one detached, one kept.
    drop(ex.submit(logged, (1, log.arg())).unwrap());
    ex.submit(logged, (2, log.arg())).unwrap().detach();
    let kept = ex.submit(logged, (3, log.arg())).unwrap();
    gate.open();
    assert_eq!(busy.result(), Ok(7));
    assert_eq!(kept.result(), Ok(3));
    ex.shutdown(true, false);
    let runs = log.runs();
    assert_eq!(runs.get(&1), None, "the dropped future's task ran: {runs:?}");
    assert_eq!((runs.get(&2), runs.get(&3)), (Some(&1), Some(&1)), "{runs:?}");
}

#[test]
fn dropping_a_running_future_lets_its_task_finish() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("drop-running");
    let f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let pid = f.worker_pid().unwrap();
    drop(f);
    gate.open();
    // The same worker is still there, and free again.
    let next = ex.submit(|_: ()| std::process::id(), ()).unwrap();
    assert_eq!(next.result(), Ok(pid));
}

#[test]
fn the_builders_timeout_kills_a_task_past_it() {
    let timeout = Duration::from_millis(300);
    let ex = ProcessPoolExecutor::builder().max_workers(1).timeout(timeout).build().unwrap();
    let gate = Gate::new("timeout");
    let f = ex.submit(gated, gate.arg()).unwrap();
    let err = f.exception().expect("the task was killed");
    assert!(matches!(err, TaskError::TimedOut { after, .. } if after == timeout), "{err:?}");
    assert_eq!(ex.submit(|x: u8| x, 5).unwrap().result(), Ok(5), "a new worker took its place");
}
