//! The executor's life: invalid options as typed errors, `max_tasks_per_child`,
//! `shutdown(wait, cancel_futures)` in each combination, submitting after shutdown, and
//! `Drop` waiting for submitted work (like leaving `with ProcessPoolExecutor()`) — with
//! real worker processes. Also: a lazy `map` begun before `shutdown`/`Drop` must still
//! deliver every result, and `shutdown` from a done-callback must not hang.
//!
//! Re-expressed from CPython's `Lib/test/test_concurrent_futures/` (`test_shutdown.py`:
//! `test_run_after_shutdown`, `test_cancel_futures`, `test_cancel_futures_wait_false`,
//! `test_shutdown_no_wait`, `test_context_manager_shutdown`, `test_del_shutdown`;
//! `test_process_pool.py`: `test_max_workers_negative`, `test_max_tasks_per_child`), rewritten.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use multiproc::{Future, PoolError, ProcessPoolExecutor, StartMethod, TaskError};

mod common;
use common::{GUARD, Gate, gated, sleep_ms, square, wait_until};

fn pid(_: u32) -> u32 {
    std::process::id()
}

#[test]
fn invalid_options_are_typed_errors() {
    let err = ProcessPoolExecutor::new(0).unwrap_err();
    assert_eq!(err, PoolError::NoProcesses);
    assert_eq!(err.to_string(), "number of processes must be at least 1");
    let err = ProcessPoolExecutor::builder().max_workers(0).build().unwrap_err();
    assert_eq!(err, PoolError::NoProcesses);
    let err = ProcessPoolExecutor::builder().max_tasks_per_child(0).build().unwrap_err();
    assert_eq!(err, PoolError::ZeroMaxTasks);
    assert_eq!(err.to_string(), "max_tasks_per_child must be at least 1");
}

#[test]
fn builder_options_take_effect() {
    for method in StartMethod::ALL {
        let ex =
            ProcessPoolExecutor::builder().max_workers(3).start_method(method).build().unwrap();
        assert_eq!(ex.max_workers(), 3, "{method}");
        assert_eq!(ex.submit(square, 5).unwrap().result(), Ok(25), "{method}");
    }
}

#[test]
fn max_tasks_per_child_replaces_the_worker() {
    // One worker, three tasks each: tasks 1-3 share a process, 4-6 share another.
    let ex = ProcessPoolExecutor::builder().max_workers(1).max_tasks_per_child(3).build().unwrap();
    let futures: Vec<Future<u32>> = (0..6).map(|i| ex.submit(pid, i).unwrap()).collect();
    let pids: Vec<u32> = futures.iter().map(|f| f.result_timeout(GUARD).unwrap()).collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[1], pids[2]);
    assert_ne!(pids[2], pids[3], "the worker was replaced after 3 tasks");
    assert_eq!(pids[3], pids[4]);
    assert_eq!(pids[4], pids[5]);
    assert!(!pids.contains(&std::process::id()));
}

#[test]
fn shutdown_with_wait_returns_once_every_queued_future_is_done() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let futures: Vec<Future<u64>> =
        (0..8).map(|i| ex.submit(sleep_ms, 20 + i * 10).unwrap()).collect();
    ex.shutdown(true, false);
    // No waiting from here on: shutdown already did.
    for (i, f) in futures.iter().enumerate() {
        assert!(f.done(), "future {i} not done after shutdown(wait=true)");
        assert_eq!(f.result_timeout(Duration::ZERO), Ok(20 + i as u64 * 10));
    }
}

#[test]
fn shutdown_without_wait_returns_at_once_and_the_futures_still_complete() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let gates: Vec<Gate> = (0..3).map(|i| Gate::new(&format!("no-wait-{i}"))).collect();
    let futures: Vec<Future<u64>> =
        gates.iter().map(|g| ex.submit(gated, g.arg()).unwrap()).collect();
    gates[0].wait_started();
    gates[1].wait_started();
    // The gated tasks cannot finish until opened: a waiting shutdown would block here.
    let t = Instant::now();
    ex.shutdown(false, false);
    assert!(t.elapsed() < Duration::from_secs(10), "shutdown(wait=false) waited");
    assert_eq!(ex.submit(square, 1).unwrap_err(), TaskError::NotRunning);
    assert!(futures.iter().all(|f| !f.done() && !f.cancelled()));
    for g in &gates {
        g.open();
    }
    for f in &futures {
        assert_eq!(f.result_timeout(GUARD), Ok(7));
    }
}

#[test]
fn shutdown_cancel_futures_cancels_the_queued_ones_while_running_ones_finish() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("cancel-futures");
    let running = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let queued: Vec<Future<u64>> = (0..5).map(|i| ex.submit(square, i).unwrap()).collect();
    ex.shutdown(false, true);

    assert!(!running.cancelled());
    // As in CPython, how many were cancelled is not exact (one may already sit in the
    // worker's window), but most are, and every one is either cancelled or ran.
    let mut cancelled = 0;
    for (i, f) in queued.iter().enumerate() {
        if f.cancelled() {
            cancelled += 1;
            assert!(f.done() && !f.running(), "future {i}");
            assert_eq!(f.result(), Err(TaskError::Cancelled), "future {i}");
        }
    }
    assert!(cancelled >= queued.len() - 1, "only {cancelled} of {} cancelled", queued.len());

    gate.open();
    assert_eq!(running.result_timeout(GUARD), Ok(7));
    for (i, f) in queued.iter().enumerate() {
        match f.result_timeout(GUARD) {
            Ok(v) => assert_eq!(v, (i * i) as u64),
            Err(e) => assert_eq!(e, TaskError::Cancelled),
        }
    }
}

#[test]
fn shutdown_with_wait_and_cancel_futures_waits_only_for_the_running_ones() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("cancel-futures-wait");
    let running = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let queued = ex.submit(square, 4).unwrap();
    // Opens the gate once the queued future has been cancelled by the shutdown below.
    std::thread::scope(|s| {
        s.spawn(|| {
            wait_until("the queued future is cancelled", || queued.cancelled());
            gate.open();
        });
        ex.shutdown(true, true);
    });
    assert_eq!(running.result_timeout(Duration::ZERO), Ok(7));
    assert_eq!(queued.result_timeout(Duration::ZERO), Err(TaskError::Cancelled));
}

#[test]
fn submit_after_shutdown_is_an_error() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    assert_eq!(ex.submit(square, 2).unwrap().result(), Ok(4));
    ex.shutdown(true, false);
    let err = ex.submit(square, 3).unwrap_err();
    assert_eq!(err, TaskError::NotRunning);
    assert_eq!(
        err.to_string(),
        "not running: the pool was closed or terminated, or the executor shut down"
    );
    // Shutting down again is harmless.
    ex.shutdown(true, false);
    ex.shutdown(false, true);
    assert_eq!(ex.submit(square, 3).unwrap_err(), TaskError::NotRunning);
}

#[test]
fn dropping_the_executor_waits_for_submitted_work() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let futures: Vec<Future<u64>> =
        (0..6).map(|i| ex.submit(sleep_ms, 50 + i * 20).unwrap()).collect();
    drop(ex);
    for (i, f) in futures.iter().enumerate() {
        assert!(f.done(), "future {i} not done after drop");
        assert_eq!(f.result_timeout(Duration::ZERO), Ok(50 + i as u64 * 20));
    }
}

#[test]
fn dropping_the_executor_waits_for_a_running_task() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("drop-running");
    let f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    std::thread::scope(|s| {
        s.spawn(|| {
            // Drop must still be waiting: the task is held until the gate opens.
            assert!(!f.done());
            gate.open();
        });
        drop(ex);
    });
    assert_eq!(f.result_timeout(Duration::ZERO), Ok(7));
}

/// Runs `work` on a thread and waits at most `limit` for it; `None` if it hung.
fn within<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.recv_timeout(limit).ok()
}

/// Checks a map's tail after its executor stopped taking work: results in order for what
/// was in flight, then exactly one `NotRunning` for the input that was never read.
fn assert_in_flight_then_not_running(first: u64, rest: &[Result<u64, TaskError>]) {
    let (last, done) = rest.split_last().expect("at least the NotRunning error");
    assert_eq!(last, &Err(TaskError::NotRunning), "the tail says why it ends");
    assert!(done.len() < 5_000, "the input is lazy: unread input is not run after shutdown");
    for (x, r) in (first..).zip(done) {
        assert_eq!(r, &Ok(x * x), "item {x}");
    }
}

#[test]
fn a_map_started_before_shutdown_yields_its_in_flight_results_then_not_running() {
    // CPython's map submits every item at once, so `shutdown(wait=True)` waits for all of
    // them. Ours reads its input lazily: after shutdown it reads no more, the items in
    // flight complete, and one `NotRunning` error says the rest was never run — never a
    // hang, never a silent end.
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let mut results = ex.map(square, 0..5_000u64).unwrap();
    assert_eq!(results.next(), Some(Ok(0)));
    ex.shutdown(true, false);
    let rest = within(GUARD, move || results.collect::<Vec<_>>());
    let Some(rest) = rest else {
        std::mem::forget(ex);
        panic!("the rest of a map started before shutdown(wait=true) never came");
    };
    assert!(rest.len() > 1, "the items in flight at shutdown completed");
    assert_in_flight_then_not_running(1, &rest);
}

#[test]
fn a_map_outliving_its_executor_ends_with_an_error_not_silently() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let results = ex.map(square, 0..5_000u64).unwrap();
    let dropped = within(GUARD, move || drop(ex));
    assert!(dropped.is_some(), "dropping the executor hung");
    let rest = within(GUARD, move || results.collect::<Vec<_>>());
    let rest = rest.expect("a map whose executor was dropped never finished");
    assert_in_flight_then_not_running(0, &rest);
}

#[test]
fn shutdown_from_a_done_callback_does_not_hang() {
    // A done-callback runs on one of the executor's own threads, before that thread has
    // finished delivering the result. `shutdown(wait=true)` there must not wait for its
    // own thread (CPython raises "cannot join current thread" instead of hanging).
    let ex = std::sync::Arc::new(ProcessPoolExecutor::new(1).unwrap());
    let (tx, rx) = mpsc::channel();
    let f = ex.submit(square, 3).unwrap();
    let shared = std::sync::Arc::clone(&ex);
    f.add_done_callback(move |_: &Future<u64>| {
        shared.shutdown(true, false);
        tx.send(()).unwrap();
    });
    if rx.recv_timeout(GUARD).is_err() {
        // The executor's thread is stuck in the callback: dropping it would hang too.
        std::mem::forget(ex);
        panic!("shutdown(wait=true) inside a done-callback never returned");
    }
    assert_eq!(f.result_timeout(GUARD), Ok(9));
    assert_eq!(ex.submit(square, 1).unwrap_err(), TaskError::NotRunning);
}
