//! `ProcessPoolExecutor::submit` and the `Future` it returns, across real worker
//! processes: values and errors (a panic with its message and location, a result or an
//! argument that cannot be encoded), `exception`, the state machine (pending → running →
//! finished, cancel while pending / running / finished, `cancel_and_kill`),
//! `result_timeout`, done-callbacks, and a thousand submissions.
//!
//! Re-expressed from CPython's `Lib/test/test_concurrent_futures/` (`test_future.py`:
//! `test_cancel`, `test_done`, `test_running`, `test_result_with_timeout`,
//! `test_exception_with_success`, `test_done_callback_*`,
//! `test_done_callback_raises`; `executor.py`: `test_submit`), rewritten for processes
//! and typed errors.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use multiproc::codec::{Op, What};
use multiproc::{Future, ProcessPoolExecutor, TaskError};
use serde::{Deserialize, Serialize, Serializer};

mod common;
use common::{GUARD, Gate, gated, sleep_ms, square};

fn shout(s: String) -> String {
    s.to_uppercase()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

fn mirror(p: Point) -> Point {
    Point { x: -p.x, y: -p.y }
}

fn boom(n: u32) -> u32 {
    if n > 0 {
        panic!("boom {n}");
    }
    n
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

/// Encodes to nothing: its `Serialize` always fails (decoding works, so it can be a
/// task's argument or result type).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Unencodable(u32);

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("Unencodable refuses to be encoded"))
    }
}

fn make_unencodable(n: u32) -> Unencodable {
    Unencodable(n)
}

fn take_unencodable(u: Unencodable) -> u32 {
    u.0
}

#[test]
fn submit_returns_values_of_several_types() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let a = ex.submit(square, 7).unwrap();
    let b = ex.submit(shout, "hello".to_owned()).unwrap();
    let c = ex.submit(mirror, Point { x: 3, y: -4 }).unwrap();
    assert_eq!(a.result(), Ok(49));
    assert_eq!(b.result(), Ok("HELLO".to_owned()));
    assert_eq!(c.result(), Ok(Point { x: -3, y: 4 }));
    // result() copies: it can be asked again, and into_result moves the value out.
    assert_eq!(a.result(), Ok(49));
    assert_eq!(c.into_result(), Ok(Point { x: -3, y: 4 }));
    // The task really ran in another process.
    let p = ex.submit(pid, ()).unwrap().result().unwrap();
    assert_ne!(p, std::process::id());
    assert!(a.done() && !a.cancelled() && !a.running());
    assert_eq!(a.exception(), None);
    assert_eq!(format!("{a:?}"), "<Future state=finished returned u64>");
}

#[test]
fn a_panicking_task_fails_with_message_and_location() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let f = ex.submit(boom, 3).unwrap();
    let err = f.result().unwrap_err();
    let TaskError::Panicked(p) = &err else { panic!("expected a panic, got {err:?}") };
    assert_eq!(p.message, "boom 3");
    let loc = p.location.as_ref().expect("a panic location");
    assert!(loc.file.ends_with("executor_submit.rs"), "{loc}");
    let line = include_str!("executor_submit.rs").lines().nth(loc.line as usize - 1).unwrap();
    assert!(line.contains("panic!(\"boom {n}\")"), "line {} is {line:?}", loc.line);
    assert_eq!(err.panic(), Some(p));
    assert!(err.to_string().contains("boom 3"), "{err}");
    // The future is done, failed, not cancelled; exception() gives the same error.
    assert!(f.done() && !f.cancelled());
    assert_eq!(f.exception(), Some(err.clone()));
    assert_eq!(f.exception_timeout(Duration::ZERO), Ok(Some(err)));
    // The worker survived the panic: the same single worker runs the next task.
    assert_eq!(ex.submit(boom, 0).unwrap().result(), Ok(0));
}

#[test]
fn a_result_that_cannot_be_encoded_is_a_remote_error_naming_its_type() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let f = ex.submit(make_unencodable, 5).unwrap();
    let err = f.result().unwrap_err();
    let TaskError::Codec(codec) = &err else {
        panic!("expected a remote codec failure, got {err:?}")
    };
    assert_eq!(codec.op(), Op::Encode);
    assert_eq!(codec.what(), What::Result);
    assert!(codec.type_name().ends_with("Unencodable"), "{}", codec.type_name());
    // The type's own words reach the caller.
    assert_eq!(codec.detail(), "Unencodable refuses to be encoded");
    let message = err.to_string();
    assert!(message.contains("cannot encode result of type"), "{message}");
    assert!(message.contains("Unencodable"), "{message}");
    // The executor goes on.
    assert_eq!(ex.submit(square, 3).unwrap().result(), Ok(9));
}

#[test]
fn an_argument_that_cannot_be_encoded_fails_its_future() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let outcome = ex.submit(take_unencodable, Unencodable(1));
    // Either submit refuses, or the future fails at once with an encoding error; never a
    // value, never a hang.
    let err = match outcome {
        Ok(f) => match f.result_timeout(GUARD) {
            Err(e) => e,
            other => panic!("expected an encoding error, got {other:?}"),
        },
        Err(e) => panic!("submit itself failed: {e}"),
    };
    let TaskError::Codec(codec) = &err else { panic!("expected Encode, got {err:?}") };
    assert_eq!(codec.op(), Op::Encode);
    assert_eq!(codec.what(), What::Argument);
    assert!(codec.type_name().ends_with("Unencodable"), "{}", codec.type_name());
    assert!(err.to_string().contains("cannot encode argument of type"), "{err}");
    assert_eq!(ex.submit(square, 4).unwrap().result(), Ok(16));
}

#[test]
fn exception_is_none_on_success_and_the_error_on_failure() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let ok = ex.submit(square, 2).unwrap();
    let bad = ex.submit(boom, 1).unwrap();
    assert_eq!(ok.exception(), None);
    assert_eq!(ok.exception_timeout(GUARD), Ok(None));
    let e = bad.exception().expect("an error");
    assert_eq!(e.panic().map(|p| p.message.as_str()), Some("boom 1"));
    assert_eq!(bad.result(), Err(e));
}

#[test]
fn exception_timeout_gives_up_while_the_task_runs() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("exception-timeout");
    let f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let t = Instant::now();
    assert_eq!(f.exception_timeout(Duration::from_millis(100)), Err(TaskError::WaitTimedOut));
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(!f.done());
    gate.open();
    assert_eq!(f.exception_timeout(GUARD), Ok(None));
}

#[test]
fn cancelling_a_pending_future() {
    // One worker, busy: the second future waits in the queue and can be cancelled.
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("cancel-pending");
    let busy = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let pending = ex.submit(square, 5).unwrap();
    assert!(!pending.running() && !pending.done() && !pending.cancelled());
    assert_eq!(format!("{pending:?}"), "<Future state=pending>");

    assert!(pending.cancel());
    assert!(pending.cancelled());
    assert!(pending.done());
    assert!(!pending.running());
    assert_eq!(pending.result(), Err(TaskError::Cancelled));
    assert_eq!(pending.exception(), Some(TaskError::Cancelled));
    assert_eq!(format!("{pending:?}"), "<Future state=cancelled>");
    // Cancelling again still says it is cancelled (Python: cancel() is True again).
    assert!(pending.cancel());

    // The running task was not touched.
    assert!(busy.running() && !busy.cancelled());
    gate.open();
    assert_eq!(busy.result(), Ok(7));
    assert_eq!(ex.submit(square, 6).unwrap().result(), Ok(36));
}

#[test]
fn cancelling_a_running_future_fails_and_it_completes() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("cancel-running");
    let f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    assert!(f.running());
    assert_eq!(format!("{f:?}"), "<Future state=running>");
    assert!(!f.cancel());
    assert!(!f.cancelled());
    assert!(f.running());
    gate.open();
    assert_eq!(f.result(), Ok(7));
    assert!(!f.cancelled());
}

#[test]
fn cancelling_a_finished_future_fails() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let ok = ex.submit(square, 9).unwrap();
    assert_eq!(ok.result(), Ok(81));
    assert!(!ok.cancel());
    assert!(!ok.cancel_and_kill());
    assert!(!ok.cancelled());
    assert_eq!(ok.result(), Ok(81));

    let failed = ex.submit(boom, 2).unwrap();
    assert!(failed.exception().is_some());
    assert!(!failed.cancel());
    assert!(!failed.cancelled());
    assert!(matches!(failed.result(), Err(TaskError::Panicked(_))));
}

#[test]
fn cancel_and_kill_stops_a_running_task_and_the_executor_goes_on() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("cancel-kill");
    let f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let before = ex.submit(pid, ()).unwrap();
    assert!(f.running());

    let t = Instant::now();
    assert!(f.cancel_and_kill());
    assert!(f.cancelled());
    assert_eq!(f.result_timeout(GUARD), Err(TaskError::Cancelled));
    assert!(t.elapsed() < GUARD);
    assert!(f.done() && !f.running());
    assert_eq!(f.exception(), Some(TaskError::Cancelled));

    // The worker was replaced: what was queued behind it runs, and so do new submissions,
    // on a fresh worker process.
    let p1 = before.result_timeout(GUARD).unwrap();
    let p2 = ex.submit(pid, ()).unwrap().result_timeout(GUARD).unwrap();
    assert_eq!(p1, p2);
    assert_ne!(p1, std::process::id());
    assert_eq!(ex.submit(square, 12).unwrap().result(), Ok(144));
}

#[test]
fn a_future_cancel_and_kill_returned_true_for_is_done_at_once() {
    // `done()` is documented as "finished or was cancelled" (CPython: a cancelled future
    // is done, and not running). After `cancel_and_kill()` returns true the future must
    // not be "cancelled but not done" while the parent notices the worker's death.
    let ex = ProcessPoolExecutor::new(1).unwrap();
    for round in 0..10 {
        let gate = Gate::new("kill-done");
        let f = ex.submit(gated, gate.arg()).unwrap();
        gate.wait_started();
        assert!(f.cancel_and_kill(), "round {round}");
        let (cancelled, done, running) = (f.cancelled(), f.done(), f.running());
        assert_eq!(
            (cancelled, done, running),
            (true, true, false),
            "round {round}: (cancelled, done, running) right after cancel_and_kill()"
        );
        assert_eq!(f.result_timeout(GUARD), Err(TaskError::Cancelled));
    }
}

#[test]
fn cancel_and_kill_on_a_pending_future_just_cancels_it() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("cancel-kill-pending");
    let busy = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let pending = ex.submit(square, 3).unwrap();
    assert!(pending.cancel_and_kill());
    assert!(pending.cancelled());
    assert_eq!(pending.result(), Err(TaskError::Cancelled));
    // The busy worker was not killed.
    gate.open();
    assert_eq!(busy.result(), Ok(7));
}

#[test]
fn running_is_true_only_while_a_worker_has_the_task() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("running");
    let f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    assert!(f.running());
    assert!(!f.done());
    assert!(!f.cancelled());
    gate.open();
    assert_eq!(f.result(), Ok(7));
    assert!(!f.running());
    assert!(f.done());
}

#[test]
fn result_timeout_times_out_while_the_task_goes_on() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("result-timeout");
    let f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let t = Instant::now();
    assert_eq!(f.result_timeout(Duration::from_millis(150)), Err(TaskError::WaitTimedOut));
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(waited < GUARD);
    // The task is still there, still running.
    assert!(f.running() && !f.done() && !f.cancelled());
    assert_eq!(f.result_timeout(Duration::ZERO), Err(TaskError::WaitTimedOut));
    gate.open();
    assert_eq!(f.result(), Ok(7));
    assert_eq!(f.result_timeout(Duration::ZERO), Ok(7));
}

#[test]
fn result_timeout_returns_a_value_that_arrives_in_time() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let f = ex.submit(sleep_ms, 50).unwrap();
    assert_eq!(f.result_timeout(GUARD), Ok(50));
}

#[test]
fn done_callbacks_added_before_completion_run_in_order_despite_a_panicking_one() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("callbacks");
    let f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    f.add_done_callback(move |f: &Future<u64>| {
        tx.send(("first", f.done(), f.result())).unwrap();
    });
    f.add_done_callback(|_| panic!("a callback that panics"));
    f.add_done_callback(move |f: &Future<u64>| {
        tx2.send(("third", f.done(), f.result())).unwrap();
    });
    // Nothing ran yet: the task is still held.
    assert!(rx.try_recv().is_err());
    gate.open();
    assert_eq!(rx.recv_timeout(GUARD).unwrap(), ("first", true, Ok(7)));
    assert_eq!(rx.recv_timeout(GUARD).unwrap(), ("third", true, Ok(7)));
    assert_eq!(f.result(), Ok(7));
}

#[test]
fn a_done_callback_added_after_completion_runs_at_once_here() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let f = ex.submit(square, 4).unwrap();
    assert_eq!(f.result(), Ok(16));
    let (tx, rx) = mpsc::channel();
    let here = std::thread::current().id();
    f.add_done_callback(|_| panic!("a callback that panics"));
    f.add_done_callback(move |f: &Future<u64>| {
        tx.send((std::thread::current().id(), f.result())).unwrap();
    });
    // Ran synchronously, in this thread, before add_done_callback returned.
    assert_eq!(rx.try_recv().unwrap(), (here, Ok(16)));
}

#[test]
fn done_callbacks_see_failures_and_cancellations() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("callbacks-cancel");
    let busy = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let pending = ex.submit(square, 2).unwrap();
    let (tx, rx) = mpsc::channel();
    pending.add_done_callback(move |f: &Future<u64>| {
        tx.send((f.cancelled(), f.exception())).unwrap();
    });
    assert!(pending.cancel());
    assert_eq!(rx.recv_timeout(GUARD).unwrap(), (true, Some(TaskError::Cancelled)));

    let bad = ex.submit(boom, 8).unwrap();
    let (tx, rx) = mpsc::channel();
    bad.add_done_callback(move |f: &Future<u32>| {
        tx.send(f.exception().and_then(|e| e.panic().map(|p| p.message.clone()))).unwrap();
    });
    gate.open();
    assert_eq!(busy.result(), Ok(7));
    assert_eq!(rx.recv_timeout(GUARD).unwrap(), Some("boom 8".to_owned()));
}

#[test]
fn a_dropped_future_still_runs_its_task_and_callbacks() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("dropped");
    let f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |f: &Future<u64>| tx.send(f.result()).unwrap());
    drop(f);
    gate.open();
    assert_eq!(rx.recv_timeout(GUARD).unwrap(), Ok(7));
}

#[test]
fn a_done_callback_can_submit_follow_up_work() {
    let ex = std::sync::Arc::new(ProcessPoolExecutor::new(2).unwrap());
    let (tx, rx) = mpsc::channel();
    let first = ex.submit(square, 3).unwrap();
    let chained = std::sync::Arc::clone(&ex);
    first.add_done_callback(move |f: &Future<u64>| {
        let next = chained.submit(square, f.result().unwrap()).unwrap();
        tx.send(next).unwrap();
    });
    let next = rx.recv_timeout(GUARD).unwrap();
    assert_eq!(next.result_timeout(GUARD), Ok(81));
}

#[test]
fn a_thousand_submissions_all_complete() {
    let ex = ProcessPoolExecutor::new(4).unwrap();
    let futures: Vec<Future<u64>> = (0..1000u64).map(|i| ex.submit(square, i).unwrap()).collect();
    for (i, f) in futures.iter().enumerate() {
        let i = i as u64;
        assert_eq!(f.result_timeout(Duration::from_secs(120)), Ok(i * i), "future {i}");
    }
    assert!(futures.iter().all(|f| f.done() && !f.cancelled()));
    let sum: u64 = futures.into_iter().map(|f| f.into_result().unwrap()).sum();
    assert_eq!(sum, (0..1000u64).map(|i| i * i).sum());
}
