//! `imap` and `imap_unordered` under every start method: input order, completeness as a
//! multiset, failures at their own positions, `next_timeout` returning `Timeout` and then
//! the value, an endless input read only as far as results are taken (bounded input
//! consumption), an abandoned iterator, a lazy iterator that outlives `close`/`join`, and
//! large and small batches mixed on one worker.
//!
//! Re-expressed from CPython's `Lib/test/_test_multiprocessing.py` (`_TestPool`:
//! `test_imap`, `test_imap_handle_iterable_exception`, `test_imap_unordered`,
//! `test_imap_unordered_handle_iterable_exception`, `test_make_pool`'s `next(timeout)`
//! use in `test_async_timeout`), rewritten for a lazy, typed iterator.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use multiproc::StartMethod;
use multiproc::pool::{Pool, TaskError, WaitError};

mod common;
use common::{gate, pool, serial, square, wait_for_gate};

/// Generous bound for anything that should happen "soon": only a hang guard.
const GUARD: Duration = Duration::from_secs(30);

fn fails_on_threes(x: u64) -> u64 {
    if x % 5 == 3 {
        panic!("bad item {x}");
    }
    x + 1000
}

fn multiset<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeMap<T, usize> {
    let mut m = BTreeMap::new();
    for x in items {
        *m.entry(x).or_insert(0) += 1;
    }
    m
}

#[test]
fn imap_keeps_input_order() {
    let _serial = serial();
    let xs: Vec<u64> = (0..500).rev().collect();
    let serial: Vec<u64> = xs.iter().map(|&x| square(x)).collect();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let got: Vec<u64> = pool.imap(square, xs.clone()).unwrap().map(Result::unwrap).collect();
        assert_eq!(got, serial, "{method}");
        for chunksize in [1, 7, 100, 1000] {
            let got: Vec<u64> = pool
                .chunksize(chunksize)
                .imap(square, xs.clone())
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got, serial, "{method} chunksize {chunksize}");
        }
        let mut it = pool.imap(square, 0..3).unwrap();
        assert_eq!(it.next_timeout(GUARD), Some(Ok(0)));
        assert_eq!(it.next(), Some(Ok(1)));
        assert_eq!(it.next_timeout(GUARD), Some(Ok(4)));
        assert_eq!(it.next(), None, "{method}: exhausted");
        assert_eq!(it.next_timeout(GUARD), None, "{method}: stays exhausted");
        assert_eq!(it.pending(), 0);
    }
}

#[test]
fn imap_unordered_yields_every_result_once() {
    let _serial = serial();
    // Duplicates in the input: completeness is checked as a multiset.
    let xs: Vec<u64> = (0..400).map(|i| i % 37).collect();
    let expected = multiset(xs.iter().map(|&x| square(x)));
    for method in StartMethod::ALL {
        let pool = pool(method);
        for chunksize in [1, 5, 64] {
            let got: Vec<u64> = pool
                .chunksize(chunksize)
                .imap_unordered(square, xs.clone())
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got.len(), xs.len(), "{method} chunksize {chunksize}");
            assert_eq!(multiset(got), expected, "{method} chunksize {chunksize}");
        }
        let got = pool.imap_unordered(square, xs.clone()).unwrap().map(Result::unwrap);
        assert_eq!(multiset(got), expected, "{method} default chunksize");
    }
}

#[test]
fn failures_stay_at_their_positions() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        for chunksize in [1, 4] {
            let got: Vec<Result<u64, TaskError>> =
                pool.chunksize(chunksize).imap(fails_on_threes, 0..40).unwrap().collect();
            assert_eq!(got.len(), 40, "{method}");
            for (i, r) in got.iter().enumerate() {
                let i = i as u64;
                match r {
                    Ok(v) => assert_eq!(*v, i + 1000, "{method} {chunksize}: item {i}"),
                    Err(e) => {
                        assert_eq!(i % 5, 3, "{method} {chunksize}: item {i} failed: {e}");
                        assert_eq!(e.panic().expect("a panic").message, format!("bad item {i}"));
                    }
                }
            }
            assert_eq!(got.iter().filter(|r| r.is_err()).count(), 8, "{method} {chunksize}");

            // Unordered: each failure carries its own item's message.
            let got: Vec<Result<u64, TaskError>> =
                pool.chunksize(chunksize).imap_unordered(fails_on_threes, 0..40).unwrap().collect();
            let ok = multiset(got.iter().filter_map(|r| r.as_ref().ok().copied()));
            assert_eq!(ok, multiset((0..40).filter(|i| i % 5 != 3).map(|i| i + 1000)), "{method}");
            let failed = multiset(
                got.iter()
                    .filter_map(|r| r.as_ref().err())
                    .map(|e| e.panic().unwrap().message.clone()),
            );
            assert_eq!(
                failed,
                multiset((0..40).filter(|i| i % 5 == 3).map(|i| format!("bad item {i}")))
            );
        }
    }
}

#[test]
fn next_timeout_times_out_then_returns_the_value() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let gate = gate("next-timeout", method);
        let path = gate.to_str().unwrap().to_owned();
        for ordered in [true, false] {
            let _ = std::fs::remove_file(&gate);
            let input = vec![path.clone(); 2];
            let mut it = if ordered {
                pool.imap(wait_for_gate, input).unwrap()
            } else {
                pool.imap_unordered(wait_for_gate, input).unwrap()
            };
            assert_eq!(it.next_timeout(Duration::from_millis(100)), Some(Err(WaitError::Timeout)));
            assert_eq!(it.next_timeout(Duration::ZERO), Some(Err(WaitError::Timeout)), "{method}");
            assert_eq!(it.pending(), 2, "{method}: a timeout takes nothing");
            std::fs::write(&gate, b"").unwrap();
            assert_eq!(it.next_timeout(GUARD), Some(Ok(path.len())), "{method} ordered={ordered}");
            assert_eq!(it.next_timeout(GUARD), Some(Ok(path.len())), "{method} ordered={ordered}");
            assert_eq!(it.next_timeout(GUARD), None, "{method} ordered={ordered}");
        }
        let _ = std::fs::remove_file(&gate);
    }
}

#[test]
fn an_endless_input_is_read_only_as_far_as_results_are_taken() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        for ordered in [true, false] {
            for chunksize in [1, 10] {
                let read = Arc::new(AtomicUsize::new(0));
                let counter = read.clone();
                let input = (0u64..).inspect(move |_| {
                    counter.fetch_add(1, Ordering::Relaxed);
                });
                let c = pool.chunksize(chunksize);
                let it = if ordered {
                    c.imap(square, input).unwrap()
                } else {
                    c.imap_unordered(square, input).unwrap()
                };
                let t = Instant::now();
                let mut got: Vec<u64> = it.take(100).map(Result::unwrap).collect();
                assert!(t.elapsed() < GUARD, "{method}");
                if !ordered {
                    got.sort_unstable();
                    // Only the first results taken are guaranteed to be any 100 distinct squares.
                    got.dedup();
                    assert_eq!(got.len(), 100, "{method}: distinct results");
                    assert!(got.iter().all(|v| v.isqrt() * v.isqrt() == *v));
                } else {
                    assert_eq!(got, (0..100).map(square).collect::<Vec<_>>(), "{method}");
                }
                let n = read.load(Ordering::Relaxed);
                assert!(n >= 100, "{method}: read {n}");
                // Bounded by the window, whatever the input: with quick tasks, frames grow
                // to 16 Ki items, and three frames per worker stay in flight.
                assert!(
                    n <= 3 * 16_384 * 2 + 16_384,
                    "{method} ordered={ordered} chunksize {chunksize}: read {n} items for 100 results"
                );
                // The abandoned iterator's queued work is dropped: the pool answers at once.
                assert_eq!(pool.apply(square, 11), Ok(121), "{method}");
                assert_eq!(
                    read.load(Ordering::Relaxed),
                    n,
                    "{method}: nothing read after the drop"
                );
            }
        }
    }
}

#[test]
fn an_iterator_taken_after_close_and_join_does_not_hang() {
    let _serial = serial();
    // Input is read lazily: what was read before the pool shut down is answered, then
    // one `NotRunning` says the rest was never run; never a wait for ever.
    for method in StartMethod::ALL {
        let pool = pool(method);
        let mut it = pool.imap(square, 0..5000).unwrap();
        assert_eq!(it.next_timeout(GUARD), Some(Ok(0)), "{method}");
        pool.close();
        pool.join().unwrap();
        let mut values = vec![0];
        let mut errors = Vec::new();
        loop {
            match it.next_timeout(Duration::from_secs(5)) {
                None => break,
                Some(Err(WaitError::Timeout)) => {
                    panic!("{method}: item {} hangs after close + join", values.len())
                }
                Some(Ok(v)) => {
                    assert!(errors.is_empty(), "{method}: a value after an error");
                    values.push(v);
                }
                Some(Err(e)) => errors.push(e),
            }
        }
        let n = values.len() as u64;
        assert_eq!(values, (0..n).map(square).collect::<Vec<_>>(), "{method}: in order");
        if n < 5000 {
            assert_eq!(errors, [WaitError::Task(TaskError::NotRunning)], "{method}");
        } else {
            assert!(errors.is_empty(), "{method}: {errors:?}");
        }
        assert_eq!(it.next_timeout(GUARD), None, "{method}: stays ended");
    }
}

#[test]
fn an_iterator_that_outlives_its_pool_ends_without_hanging() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let mut it = pool.imap_unordered(square, 0..100_000).unwrap();
        assert!(matches!(it.next_timeout(GUARD), Some(Ok(_))), "{method}");
        drop(pool);
        let mut taken = 1;
        loop {
            match it.next_timeout(Duration::from_secs(5)) {
                None => break,
                Some(Err(WaitError::Timeout)) => panic!("{method}: item {taken} hangs after drop"),
                Some(
                    Ok(_) | Err(WaitError::Task(TaskError::Cancelled | TaskError::NotRunning)),
                ) => taken += 1,
                Some(Err(other)) => panic!("{method}: {other}"),
            }
        }
        assert!(taken < 100_000, "{method}: the input was not read on after the pool was dropped");
    }
}

/// The length and a checksum of a byte buffer, so a large argument costs a large frame.
fn weigh(buf: multiproc::Bytes) -> (usize, u64) {
    (buf.len(), buf.iter().map(|&b| u64::from(b)).sum())
}

#[test]
fn large_and_small_batches_mixed_all_arrive() {
    // Small batches are sent by the threads that read results, large ones (and small ones
    // queued behind a large one the worker has not read) by the dispatcher: one worker
    // and two chunk sizes make every pairing happen.
    let _serial = serial();
    let sizes: Vec<usize> =
        (0..300).map(|i| if i % 7 == 3 { (1 << 20) + i } else { i % 50 }).collect();
    let serial: Vec<(usize, u64)> =
        sizes.iter().map(|&n| (n, (n % 251) as u64 * n as u64)).collect();
    for chunksize in [1, 4] {
        let pool = Pool::builder().processes(1).build().unwrap();
        let input = sizes.iter().map(|&n| multiproc::Bytes::from(vec![(n % 251) as u8; n]));
        let mut it = pool.chunksize(chunksize).imap(weigh, input).unwrap();
        let mut got = Vec::new();
        while let Some(r) = it.next_timeout(GUARD) {
            got.push(r.unwrap_or_else(|e| panic!("chunksize {chunksize}: {e}")));
        }
        assert_eq!(got, serial, "chunksize {chunksize}");
    }
}

/// Items `0..`, until `next` panics at item 7.
struct PanicsAtSeven(u64);

impl Iterator for PanicsAtSeven {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.0 == 7 {
            panic!("the input broke at 7");
        }
        self.0 += 1;
        Some(self.0 - 1)
    }
}

#[test]
fn an_input_that_panics_ends_the_results_with_an_error_at_its_position() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let got: Vec<_> = pool.imap(square, PanicsAtSeven(0)).unwrap().collect();
        assert_eq!(got.len(), 8, "{method}: seven results, then the error");
        for (i, r) in got[..7].iter().enumerate() {
            assert_eq!(*r, Ok(square(i as u64)), "{method}: result {i} comes first");
        }
        let Err(TaskError::InputPanicked(p)) = &got[7] else { panic!("{method}: {:?}", got[7]) };
        assert_eq!(p.message, "the input broke at 7", "{method}");
        // Unordered: the seven results in any order, the error last.
        let got: Vec<_> = pool.imap_unordered(square, PanicsAtSeven(0)).unwrap().collect();
        assert_eq!(got.len(), 8, "{method}");
        assert!(got[..7].iter().all(Result::is_ok), "{method}: {got:?}");
        assert!(matches!(got[7], Err(TaskError::InputPanicked(_))), "{method}");
        assert_eq!(pool.map(square, 0..3).unwrap(), [0, 1, 4], "{method}: the pool goes on");
    }
}
