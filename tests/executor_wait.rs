//! `as_completed` and `wait` over futures of real worker processes: finished, failed,
//! cancelled, running and duplicate futures; each yielded once; the "N (of M) futures
//! unfinished" timeout; `ReturnWhen::{FirstCompleted, FirstException, AllCompleted}` with
//! and without a timeout, and the `(done, not_done)` split.
//!
//! Re-expressed from CPython's `Lib/test/test_concurrent_futures/` (`test_as_completed.py`:
//! `test_no_timeout`, `test_future_times_out`, `test_zero_timeout`, `test_duplicate_futures`;
//! `test_wait.py`: `test_first_completed`, `test_first_completed_some_already_completed`,
//! `test_first_exception`, `test_first_exception_some_already_complete`,
//! `test_first_exception_one_already_failed`, `test_all_completed`, `test_timeout`),
//! rewritten.

use std::time::{Duration, Instant};

use multiproc::executor::TimeoutError;
use multiproc::{Future, ProcessPoolExecutor, ReturnWhen, TaskError, as_completed, wait};

mod common;
use common::{GUARD, Gate, gated, sleep_ms, square};

fn boom(x: u64) -> u64 {
    panic!("boom {x}")
}

/// Whether `list` holds exactly the futures of `expected` (by identity, any order).
fn same_futures<R>(list: &[&Future<R>], expected: &[&Future<R>]) -> bool {
    list.len() == expected.len()
        && expected.iter().all(|e| list.iter().filter(|f| std::ptr::eq(**f, *e)).count() == 1)
}

#[test]
fn as_completed_yields_finished_failed_cancelled_and_running_futures_once_each() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let finished = ex.submit(square, 6).unwrap();
    assert_eq!(finished.result(), Ok(36));
    let failed = ex.submit(boom, 1).unwrap();
    assert!(failed.exception().is_some());
    // Both workers held; a third task waits in the queue and is cancelled there.
    let (g1, g2) = (Gate::new("ac-1"), Gate::new("ac-2"));
    let running = ex.submit(gated, g1.arg()).unwrap();
    let other = ex.submit(gated, g2.arg()).unwrap();
    g1.wait_started();
    g2.wait_started();
    let cancelled = ex.submit(square, 5).unwrap();
    assert!(cancelled.cancel());

    let given = [&finished, &failed, &cancelled, &finished, &running, &running, &failed];
    let mut it = as_completed(given, None);
    let first_three: Vec<&Future<u64>> = it.by_ref().take(3).map(Result::unwrap).collect();
    assert!(
        same_futures(&first_three, &[&finished, &failed, &cancelled]),
        "the three done futures come first, once each"
    );
    g1.open();
    let last = it.next().expect("the running future").unwrap();
    assert!(std::ptr::eq(last, &running));
    assert_eq!(last.result(), Ok(7));
    assert!(it.next().is_none(), "4 distinct futures, 4 yields");
    assert!(it.next().is_none());

    g2.open();
    assert_eq!(other.result(), Ok(7));
    assert_eq!(cancelled.result(), Err(TaskError::Cancelled));
}

#[test]
fn as_completed_yields_in_completion_order() {
    let ex = ProcessPoolExecutor::new(3).unwrap();
    let (g_slow, g_fast) = (Gate::new("order-slow"), Gate::new("order-fast"));
    let slow = ex.submit(gated, g_slow.arg()).unwrap();
    let fast = ex.submit(gated, g_fast.arg()).unwrap();
    g_slow.wait_started();
    g_fast.wait_started();
    let mut it = as_completed([&slow, &fast], None);
    g_fast.open();
    assert!(std::ptr::eq(it.next().unwrap().unwrap(), &fast));
    g_slow.open();
    assert!(std::ptr::eq(it.next().unwrap().unwrap(), &slow));
    assert!(it.next().is_none());
}

#[test]
fn as_completed_times_out_with_the_count_of_unfinished_futures() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let done = ex.submit(square, 3).unwrap();
    assert_eq!(done.result(), Ok(9));
    let gate = Gate::new("ac-timeout");
    let held = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();

    let timeout = Duration::from_millis(300);
    let t = Instant::now();
    let mut it = as_completed([&held, &done, &held], Some(timeout));
    assert!(std::ptr::eq(it.next().unwrap().unwrap(), &done));
    let err = it.next().unwrap().unwrap_err();
    let waited = t.elapsed();
    assert!(waited >= timeout, "{waited:?}");
    assert!(waited < GUARD);
    assert_eq!(err, TimeoutError { unfinished: 1, total: 2 });
    assert_eq!(err.to_string(), "1 (of 2) futures unfinished");
    assert!(it.next().is_none(), "the iteration ends after the timeout");

    assert!(!held.done(), "timing out does not touch the future");
    gate.open();
    assert_eq!(held.result(), Ok(7));
}

#[test]
fn as_completed_with_a_zero_timeout_yields_what_is_done_then_times_out() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let ok = ex.submit(square, 2).unwrap();
    let bad = ex.submit(boom, 2).unwrap();
    assert_eq!(ok.result(), Ok(4));
    assert!(bad.exception().is_some());
    let gate = Gate::new("ac-zero");
    let held = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let gate2 = Gate::new("ac-zero-2");
    let held2 = ex.submit(gated, gate2.arg()).unwrap();
    gate2.wait_started();
    let queued = ex.submit(square, 3).unwrap();
    assert!(queued.cancel());

    let got: Vec<_> =
        as_completed([&ok, &held, &bad, &queued, &held2], Some(Duration::ZERO)).collect::<Vec<_>>();
    assert_eq!(got.len(), 4, "three done futures, then the timeout");
    let yielded: Vec<&Future<u64>> = got[..3].iter().map(|r| *r.as_ref().unwrap()).collect();
    assert!(same_futures(&yielded, &[&ok, &bad, &queued]));
    assert_eq!(got[3].as_ref().unwrap_err().to_string(), "2 (of 5) futures unfinished");
    gate.open();
    gate2.open();
    assert_eq!((held.result(), held2.result()), (Ok(7), Ok(7)));
}

#[test]
fn as_completed_of_nothing_ends_at_once() {
    let none: [&Future<u64>; 0] = [];
    assert!(as_completed(none, None).next().is_none());
    assert!(as_completed(none, Some(Duration::ZERO)).next().is_none());
}

#[test]
fn as_completed_over_many_futures_yields_each_once() {
    let ex = ProcessPoolExecutor::new(4).unwrap();
    let futures: Vec<Future<u64>> = (0..200u64).map(|i| ex.submit(square, i).unwrap()).collect();
    let mut values: Vec<u64> = as_completed(futures.iter().chain(futures.iter()), None)
        .map(|f| f.unwrap().result().unwrap())
        .collect();
    values.sort_unstable();
    assert_eq!(values, (0..200u64).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn wait_first_completed_returns_when_one_is_done() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let gate = Gate::new("first-completed");
    let held = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let quick = ex.submit(sleep_ms, 50).unwrap();
    let t = Instant::now();
    let (done, not_done) = wait([&held, &quick], None, ReturnWhen::FirstCompleted);
    assert!(t.elapsed() < GUARD);
    assert!(same_futures(&done, &[&quick]));
    assert!(same_futures(&not_done, &[&held]));
    assert_eq!(quick.result(), Ok(50));
    gate.open();
    assert_eq!(held.result(), Ok(7));
}

#[test]
fn wait_first_completed_with_one_already_done_returns_at_once() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let finished = ex.submit(square, 4).unwrap();
    assert_eq!(finished.result(), Ok(16));
    let gate = Gate::new("first-completed-done");
    let held = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let (done, not_done) = wait([&held, &finished, &held], None, ReturnWhen::FirstCompleted);
    assert!(same_futures(&done, &[&finished]));
    assert!(same_futures(&not_done, &[&held]), "duplicates counted once");
    gate.open();
}

#[test]
fn wait_first_completed_times_out_with_nothing_done() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("first-completed-timeout");
    let held = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let timeout = Duration::from_millis(200);
    let t = Instant::now();
    let (done, not_done) = wait([&held], Some(timeout), ReturnWhen::FirstCompleted);
    let waited = t.elapsed();
    assert!(waited >= timeout && waited < GUARD, "{waited:?}");
    assert!(done.is_empty());
    assert!(same_futures(&not_done, &[&held]));
    gate.open();
    assert_eq!(held.result(), Ok(7));
}

#[test]
fn wait_first_exception_returns_on_the_first_failure() {
    let ex = ProcessPoolExecutor::new(3).unwrap();
    let ok = ex.submit(square, 5).unwrap();
    assert_eq!(ok.result(), Ok(25));
    let gate = Gate::new("first-exception");
    let held = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let bad = ex.submit(boom, 9).unwrap();
    let t = Instant::now();
    let (done, not_done) = wait([&ok, &held, &bad], None, ReturnWhen::FirstException);
    assert!(t.elapsed() < GUARD);
    assert!(same_futures(&done, &[&ok, &bad]));
    assert!(same_futures(&not_done, &[&held]));
    assert!(matches!(bad.result(), Err(TaskError::Panicked(_))));
    gate.open();
}

#[test]
fn wait_first_exception_with_one_already_failed_returns_at_once() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let bad = ex.submit(boom, 1).unwrap();
    assert!(bad.exception().is_some());
    let gate = Gate::new("first-exception-failed");
    let held = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let (done, not_done) = wait([&held, &bad], None, ReturnWhen::FirstException);
    assert!(same_futures(&done, &[&bad]));
    assert!(same_futures(&not_done, &[&held]));
    gate.open();
}

#[test]
fn wait_first_exception_without_failures_waits_for_all() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let fs: Vec<Future<u64>> = [30u64, 60, 90].map(|ms| ex.submit(sleep_ms, ms).unwrap()).into();
    let (done, not_done) = wait(&fs, None, ReturnWhen::FirstException);
    assert_eq!((done.len(), not_done.len()), (3, 0));
    assert!(fs.iter().all(|f| f.done() && f.exception().is_none()));
}

#[test]
fn wait_first_exception_times_out_when_nothing_fails() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let ok = ex.submit(square, 2).unwrap();
    assert_eq!(ok.result(), Ok(4));
    let gate = Gate::new("first-exception-timeout");
    let held = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let timeout = Duration::from_millis(200);
    let t = Instant::now();
    let (done, not_done) = wait([&ok, &held], Some(timeout), ReturnWhen::FirstException);
    let waited = t.elapsed();
    assert!(waited >= timeout && waited < GUARD, "{waited:?}");
    assert!(same_futures(&done, &[&ok]));
    assert!(same_futures(&not_done, &[&held]));
    gate.open();
}

#[test]
fn wait_all_completed_waits_for_every_future() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let ok = ex.submit(sleep_ms, 100).unwrap();
    let bad = ex.submit(boom, 4).unwrap();
    let slow = ex.submit(sleep_ms, 200).unwrap();
    let more = ex.submit(square, 8).unwrap();
    let (done, not_done) = wait([&ok, &bad, &slow, &more, &ok], None, ReturnWhen::AllCompleted);
    assert!(same_futures(&done, &[&ok, &bad, &slow, &more]), "duplicates counted once");
    assert!(not_done.is_empty());
    // Everything reported done really is: no waiting from here on.
    assert_eq!(ok.result_timeout(Duration::ZERO), Ok(100));
    assert_eq!(slow.result_timeout(Duration::ZERO), Ok(200));
    assert_eq!(more.result_timeout(Duration::ZERO), Ok(64));
    assert!(bad.exception_timeout(Duration::ZERO).unwrap().is_some());
}

#[test]
fn wait_all_completed_with_a_timeout_splits_done_and_not_done() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let quick = ex.submit(square, 3).unwrap();
    let gate = Gate::new("all-completed-timeout");
    let held = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    assert_eq!(quick.result(), Ok(9));
    let timeout = Duration::from_millis(250);
    let t = Instant::now();
    let (done, not_done) = wait([&quick, &held], Some(timeout), ReturnWhen::AllCompleted);
    let waited = t.elapsed();
    assert!(waited >= timeout && waited < GUARD, "{waited:?}");
    assert!(same_futures(&done, &[&quick]));
    assert!(same_futures(&not_done, &[&held]));
    gate.open();
    // With a timeout long enough, everything is done.
    let (done, not_done) = wait([&quick, &held], Some(GUARD), ReturnWhen::AllCompleted);
    assert_eq!((done.len(), not_done.len()), (2, 0));
}

#[test]
fn wait_counts_a_cancelled_future_as_done() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("wait-cancelled");
    let held = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let queued = ex.submit(square, 2).unwrap();
    assert!(queued.cancel());
    let (done, not_done) = wait([&held, &queued], None, ReturnWhen::FirstCompleted);
    assert!(same_futures(&done, &[&queued]));
    assert!(same_futures(&not_done, &[&held]));
    gate.open();
    let (done, not_done) = wait([&held, &queued], None, ReturnWhen::AllCompleted);
    assert_eq!((done.len(), not_done.len()), (2, 0));
}

#[test]
fn wait_on_nothing_returns_at_once() {
    let none: [&Future<u64>; 0] = [];
    for when in [ReturnWhen::FirstCompleted, ReturnWhen::FirstException, ReturnWhen::AllCompleted] {
        let (done, not_done) = wait(none, None, when);
        assert!(done.is_empty() && not_done.is_empty(), "{when:?}");
    }
}
