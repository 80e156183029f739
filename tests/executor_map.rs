//! `ProcessPoolExecutor::map` / `map_with` across real worker processes: results in
//! input order whatever the completion order, chunk sizes 1/6/40/50, a failure at exactly
//! its own position (a panic, an argument that cannot be encoded), the overall timeout
//! (measured from the call), and laziness (an endless input is read only as far as
//! results are taken).
//!
//! Re-expressed from CPython's `Lib/test/test_concurrent_futures/` (`executor.py`:
//! `test_map`, `test_map_exception`, `test_map_timeout`;
//! `test_process_pool.py`: `test_map_chunksize`), rewritten for a lazy, typed `map`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use multiproc::executor::{MapError, TimeoutError};
use multiproc::{ExecutorError, MapOptions, ProcessPoolExecutor, TaskError};
use serde::{Deserialize, Serialize, Serializer};

mod common;
use common::{GUARD, Gate, RunLog, gated, log_run, sleep_ms, square};

fn pow_self(x: u32) -> u64 {
    u64::from(x).pow(x.min(12))
}

fn fails_on_sevens(x: u32) -> u32 {
    if x % 7 == 3 {
        panic!("bad input {x}");
    }
    x * 2
}

#[test]
fn map_yields_results_in_input_order() {
    let ex = ProcessPoolExecutor::new(3).unwrap();
    let got: Vec<u64> = ex.map(square, 0..200u64).unwrap().map(Result::unwrap).collect();
    assert_eq!(got, (0..200u64).map(|x| x * x).collect::<Vec<_>>());
}

#[test]
fn map_keeps_input_order_when_later_items_finish_first() {
    // The first items are the slowest: completion order is roughly the reverse of the
    // input order, yet the results come out in input order.
    let ex = ProcessPoolExecutor::new(4).unwrap();
    let delays: Vec<u64> = (0..8).map(|i| (8 - i) * 25).collect();
    let got: Vec<u64> = ex.map(sleep_ms, delays.clone()).unwrap().map(Result::unwrap).collect();
    assert_eq!(got, delays);
}

#[test]
fn map_of_nothing_is_empty() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    assert_eq!(ex.map(square, Vec::<u64>::new()).unwrap().count(), 0);
}

#[test]
fn map_with_chunksizes() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let expected: Vec<u64> = (0..40u32).map(pow_self).collect();
    for chunksize in [1, 6, 40, 50] {
        let opts = MapOptions::default().chunksize(chunksize);
        let got: Vec<u64> =
            ex.map_with(pow_self, 0..40u32, opts).unwrap().map(Result::unwrap).collect();
        assert_eq!(got, expected, "chunksize {chunksize}");
    }
    // A longer input, not a multiple of the chunk size.
    let opts = MapOptions::default().chunksize(6);
    let got: Vec<u64> =
        ex.map_with(square, 0..1003u64, opts).unwrap().map(Result::unwrap).collect();
    assert_eq!(got, (0..1003u64).map(|x| x * x).collect::<Vec<_>>());
}

#[test]
fn a_failure_is_reported_at_exactly_its_position() {
    let ex = ProcessPoolExecutor::new(3).unwrap();
    for chunksize in [1, 5, 50] {
        let opts = MapOptions::default().chunksize(chunksize);
        let got: Vec<Result<u32, MapError>> =
            ex.map_with(fails_on_sevens, 0..60u32, opts).unwrap().collect();
        assert_eq!(got.len(), 60, "chunksize {chunksize}");
        for (x, r) in (0..60u32).zip(&got) {
            if x % 7 == 3 {
                let Err(MapError::Task(TaskError::Panicked(p))) = r else {
                    panic!("chunksize {chunksize}: item {x} should have panicked, got {r:?}")
                };
                assert_eq!(p.message, format!("bad input {x}"));
            } else {
                assert_eq!(r, &Ok(x * 2), "chunksize {chunksize}: item {x}");
            }
        }
    }
}

/// Encodes only when even: an odd value's `Serialize` fails.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
struct EvenOnly(u32);

impl Serialize for EvenOnly {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 2 == 1 {
            return Err(serde::ser::Error::custom("odd"));
        }
        s.serialize_u32(self.0)
    }
}

fn halve(x: EvenOnly) -> u32 {
    x.0 / 2
}

#[test]
fn an_argument_that_cannot_be_encoded_fails_at_its_position() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    for chunksize in [1, 4, 7, 100] {
        let opts = MapOptions::default().chunksize(chunksize);
        let got: Vec<Result<u32, MapError>> =
            ex.map_with(halve, (0..30).map(EvenOnly), opts).unwrap().collect();
        assert_eq!(got.len(), 30, "chunksize {chunksize}");
        for (x, r) in (0..30u32).zip(&got) {
            if x % 2 == 1 {
                let Err(MapError::Task(TaskError::Encode(e))) = r else {
                    panic!("chunksize {chunksize}: item {x}: expected an encoding error, got {r:?}")
                };
                assert!(e.type_name().ends_with("EvenOnly"), "{}", e.type_name());
            } else {
                assert_eq!(r, &Ok(x / 2), "chunksize {chunksize}: item {x}");
            }
        }
    }
}

#[test]
fn the_timeout_ends_the_iteration_with_a_timeout_error() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let timeout = Duration::from_millis(500);
    let t = Instant::now();
    let mut it =
        ex.map_with(sleep_ms, [0, 0, 3_000, 0], MapOptions::default().timeout(timeout)).unwrap();
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(it.next(), Some(Ok(0)));
    let Some(Err(MapError::Timeout(e))) = it.next() else { panic!("expected a timeout") };
    let waited = t.elapsed();
    assert!(waited >= timeout, "{waited:?}");
    assert!(waited < Duration::from_millis(2_900), "{waited:?}: did not give up at the deadline");
    assert_eq!(e, TimeoutError { unfinished: 2, total: 4 });
    assert_eq!(e.to_string(), "2 (of 4) futures unfinished");
    assert_eq!(MapError::Timeout(e).to_string(), "2 (of 4) futures unfinished");
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
}

#[test]
fn the_timeout_is_measured_from_the_call_not_from_the_first_next() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let other = ProcessPoolExecutor::new(1).unwrap();
    let timeout = Duration::from_millis(300);
    let mut it = ex.map_with(sleep_ms, [50u64; 4], MapOptions::default().timeout(timeout)).unwrap();
    let called = Instant::now();
    // Real work elsewhere that outlasts the map's timeout before the first `next`.
    assert_eq!(other.submit(sleep_ms, 600).unwrap().result(), Ok(600));
    assert!(called.elapsed() > timeout);
    // A clock started at `next` would let these 50 ms items finish; the deadline has
    // passed already, so the first result not ready now is a timeout.
    let t = Instant::now();
    match it.next() {
        Some(Err(MapError::Timeout(e))) => assert_eq!(e.total, 4, "{e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(it.next(), None);
}

#[test]
fn a_map_that_finishes_in_time_is_unaffected_by_its_timeout() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let opts = MapOptions::default().timeout(GUARD).chunksize(3);
    let got: Vec<u64> = ex.map_with(square, 0..20u64, opts).unwrap().map(Result::unwrap).collect();
    assert_eq!(got, (0..20u64).map(|x| x * x).collect::<Vec<_>>());
}

#[test]
fn map_is_lazy_over_an_endless_input() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&pulled);
    let input = (0u64..).inspect(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let t = Instant::now();
    let mut it = ex.map(square, input).unwrap();
    let first: Vec<u64> = it.by_ref().take(5).map(Result::unwrap).collect();
    assert_eq!(first, [0, 1, 4, 9, 16]);
    let after_five = pulled.load(Ordering::Relaxed);
    assert!((5..100_000).contains(&after_five), "read {after_five} items for 5 results");
    // Taking more reads more, but stays a bounded distance ahead of the consumer.
    let more: Vec<u64> = it.by_ref().take(3_000).map(Result::unwrap).collect();
    assert_eq!(more.last(), Some(&(3_004 * 3_004)));
    let after_more = pulled.load(Ordering::Relaxed);
    assert!(after_more >= 3_005);
    assert!(after_more - 3_005 < 100_000, "read {after_more} items for 3005 results");
    drop(it);
    assert!(t.elapsed() < Duration::from_secs(60));
    // The executor is still usable after abandoning an endless map.
    assert_eq!(ex.submit(square, 11).unwrap().result(), Ok(121));
}

#[test]
fn map_after_shutdown_is_an_error() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    ex.shutdown(true, false);
    let err = ex.map(square, 0..3u64).unwrap_err();
    assert_eq!(err, ExecutorError::Shutdown);
    let err = ex.map_with(square, 0..3u64, MapOptions::default().chunksize(2)).unwrap_err();
    assert_eq!(err, ExecutorError::Shutdown);
}

/// Logs `i`, then waits for the gate.
fn logged_gated((i, log, gate): (u64, String, String)) -> u64 {
    log_run(&log, i);
    gated(gate)
}

#[test]
fn a_map_that_timed_out_and_was_dropped_starts_nothing_more() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let log = RunLog::new("map-timeout");
    let gate = Gate::new("map-timeout");
    let items: Vec<_> = (0..12).map(|i| (i, log.arg(), gate.arg())).collect();
    let options = MapOptions::default().timeout(Duration::from_millis(200));
    let mut it = ex.map_with(logged_gated, items, options).unwrap();
    assert!(matches!(it.next(), Some(Err(MapError::Timeout(_)))));
    drop(it);
    // Both workers were running an item when the map gave up; nothing else may start.
    gate.open();
    ex.shutdown(true, false);
    let ran = log.runs().len();
    assert!(ran <= 2, "{ran} items ran after the map was dropped (CPython: at most 2)");
}
