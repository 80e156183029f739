//! `Pool` results equal the serial ones under every start method: `map`, `map_results`,
//! `map_async`, `starmap` (2, 3 and 6 arguments), `starmap_async`, `apply`, `apply_async`,
//! with the default and explicit chunk sizes (1, 6, 40, 50) and empty inputs; CPython's
//! default `chunksize` and chunking (each index exactly once, in order) as properties;
//! chunks too large for one frame; inputs whose `size_hint` is wrong or inexact.
//!
//! Re-expressed from CPython's `Lib/test/_test_multiprocessing.py` (`_TestPool`:
//! `test_apply`, `test_map`, `test_starmap`, `test_starmap_async`, `test_map_async`,
//! `test_map_chunksize`, `test_empty_iterable`), rewritten.

use std::time::Duration;

use multiproc::StartMethod;
use multiproc::pool::{chunks, default_chunksize};
use proptest::prelude::*;

mod common;
use common::{pool, serial};

/// Generous bound for anything that should happen "soon": only a hang guard.
const GUARD: Duration = Duration::from_secs(30);

fn sqr(x: i64) -> i64 {
    x.wrapping_mul(x)
}

fn affine(x: i64) -> i64 {
    x.wrapping_mul(3).wrapping_sub(7)
}

fn add2(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

fn mul_add3(a: i64, b: i64, c: i64) -> i64 {
    a.wrapping_mul(b).wrapping_add(c)
}

fn six(a: u8, b: u16, c: u32, d: u64, e: i32, f: String) -> String {
    format!("{a}-{b}-{c}-{d}-{e}-{f}")
}

#[test]
fn every_call_matches_serial() {
    let _serial = serial();
    let xs: Vec<i64> = (-50..150).collect();
    let serial: Vec<i64> = xs.iter().map(|&x| sqr(x)).collect();
    let pairs: Vec<(i64, i64)> = xs.iter().map(|&x| (x, 2 * x + 1)).collect();
    let serial_pairs: Vec<i64> = pairs.iter().map(|&(a, b)| add2(a, b)).collect();
    for method in StartMethod::ALL {
        let pool = pool(method);
        assert_eq!(pool.map(sqr, xs.clone()).unwrap(), serial, "{method}: map");
        let each = pool.map_results(sqr, xs.clone()).unwrap();
        assert_eq!(
            each.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            serial,
            "{method}: map_results"
        );
        let r = pool.map_async(sqr, xs.clone()).unwrap();
        assert_eq!(r.get_timeout(GUARD).unwrap(), serial, "{method}: map_async");
        assert_eq!(pool.starmap(add2, pairs.clone()).unwrap(), serial_pairs, "{method}: starmap");
        let r = pool.starmap_async(add2, pairs.clone()).unwrap();
        assert_eq!(r.get_timeout(GUARD).unwrap(), serial_pairs, "{method}: starmap_async");
        assert_eq!(pool.apply(sqr, 12).unwrap(), 144, "{method}: apply");
        assert_eq!(pool.apply(affine, -4).unwrap(), affine(-4), "{method}: apply");
        let pending: Vec<_> = xs.iter().map(|&x| pool.apply_async(affine, x).unwrap()).collect();
        let got: Vec<i64> = pending.into_iter().map(|r| r.get().unwrap()).collect();
        let serial_affine: Vec<i64> = xs.iter().map(|&x| affine(x)).collect();
        assert_eq!(got, serial_affine, "{method}: apply_async");
        // A non-capturing closure is a task too.
        assert_eq!(
            pool.map(|s: String| s.len(), ["", "a", "ab"].map(String::from)).unwrap(),
            [0, 1, 2]
        );
    }
}

#[test]
fn explicit_chunksizes_match_serial() {
    let _serial = serial();
    let xs: Vec<i64> = (0..203).collect();
    let serial: Vec<i64> = xs.iter().map(|&x| affine(x)).collect();
    let triples: Vec<(i64, i64, i64)> = xs.iter().map(|&x| (x, x - 1, -x)).collect();
    let serial_triples: Vec<i64> = triples.iter().map(|&(a, b, c)| mul_add3(a, b, c)).collect();
    for method in StartMethod::ALL {
        let pool = pool(method);
        for chunksize in [1, 6, 40, 50] {
            let c = pool.chunksize(chunksize);
            assert_eq!(c.map(affine, xs.clone()).unwrap(), serial, "{method} {chunksize}: map");
            let each: Vec<i64> = c
                .map_results(affine, xs.clone())
                .unwrap()
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(each, serial, "{method} {chunksize}: map_results");
            let r = c.map_async(affine, xs.clone()).unwrap();
            assert_eq!(r.get_timeout(GUARD).unwrap(), serial, "{method} {chunksize}: map_async");
            assert_eq!(
                c.starmap(mul_add3, triples.clone()).unwrap(),
                serial_triples,
                "{method} {chunksize}: starmap"
            );
            let r = c.starmap_async(mul_add3, triples.clone()).unwrap();
            assert_eq!(r.get_timeout(GUARD).unwrap(), serial_triples);
            let lazy: Vec<i64> = c.imap(affine, xs.clone()).unwrap().map(Result::unwrap).collect();
            assert_eq!(lazy, serial, "{method} {chunksize}: imap");
            let mut unordered: Vec<i64> =
                c.imap_unordered(affine, xs.clone()).unwrap().map(Result::unwrap).collect();
            unordered.sort_unstable();
            assert_eq!(unordered, serial, "{method} {chunksize}: imap_unordered");
        }
    }
}

fn square_but_77777(x: i64) -> i64 {
    assert!(x != 77_777, "item 77777 refuses");
    x * x
}

fn text_len(s: String) -> usize {
    s.len()
}

/// An iterator whose `size_hint` claims exactly `claimed` items while it yields `real`.
struct Lying {
    claimed: usize,
    next: usize,
    real: usize,
}

impl Iterator for Lying {
    type Item = i64;
    fn next(&mut self) -> Option<i64> {
        (self.next < self.real).then(|| {
            self.next += 1;
            self.next as i64 - 1
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claimed, Some(self.claimed))
    }
}

#[test]
fn large_chunks_and_items_travel_in_several_frames_without_loss() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        // Chunks of 60 000 items travel as frames of 15 000: every item once, in order,
        // and a failure inside a frame fails only its item.
        let each = pool.chunksize(60_000).map_results(square_but_77777, 0..100_000).unwrap();
        assert_eq!(each.len(), 100_000, "{method}");
        for (x, got) in each.into_iter().enumerate() {
            match got {
                Ok(v) => assert_eq!(v, (x * x) as i64, "{method}: item {x}"),
                Err(e) => {
                    assert_eq!(x, 77_777, "{method}: only item 77777 fails, not {x}");
                    assert!(e.to_string().contains("item 77777 refuses"), "{method}: {e}");
                }
            }
        }
        // Items of 100 KiB in one chunk: frames end by size, not by count.
        let texts: Vec<String> = (0..12).map(|i| "x".repeat((100 << 10) + i)).collect();
        let lens: Vec<usize> = texts.iter().map(String::len).collect();
        assert_eq!(pool.chunksize(12).map(text_len, texts).unwrap(), lens, "{method}");
    }
}

#[test]
fn map_reads_any_iterator_whatever_its_size_hint_says() {
    let _serial = serial();
    let pool = pool(StartMethod::Fork);
    for (claimed, real) in [(10, 25), (25, 10), (0, 7), (7, 0)] {
        let want: Vec<i64> = (0..real as i64).map(sqr).collect();
        let lying = || Lying { claimed, next: 0, real };
        assert_eq!(pool.map(sqr, lying()).unwrap(), want, "claims {claimed}, yields {real}");
        let each = pool.chunksize(3).map_results(sqr, lying()).unwrap();
        assert_eq!(each.into_iter().map(Result::unwrap).collect::<Vec<_>>(), want);
        let r = pool.starmap_async(add2, lying().map(|x| (x, 0))).unwrap();
        assert_eq!(r.get_timeout(GUARD).unwrap(), (0..real as i64).collect::<Vec<_>>());
    }
    // An input of unknown length (a filter) gets CPython's chunk size after it is read.
    let odd: Vec<i64> = (0..1000).filter(|x| x % 2 == 1).map(sqr).collect();
    assert_eq!(pool.map(sqr, (0..1000).filter(|x| x % 2 == 1)).unwrap(), odd);
}

#[test]
fn empty_inputs_for_every_call() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        for c in [pool.chunksize(1), pool.chunksize(7)] {
            assert_eq!(c.map(sqr, Vec::new()).unwrap(), Vec::<i64>::new(), "{method}");
            assert!(c.map_results(sqr, Vec::new()).unwrap().is_empty(), "{method}");
            let r = c.map_async(sqr, Vec::new()).unwrap();
            assert!(r.ready(), "{method}: an empty map_async is ready at once");
            assert_eq!(r.successful(), Ok(true));
            assert_eq!(r.get_timeout(GUARD).unwrap(), Vec::<i64>::new());
            assert_eq!(c.starmap(add2, Vec::new()).unwrap(), Vec::<i64>::new());
            let r = c.starmap_async(mul_add3, Vec::new()).unwrap();
            assert_eq!(r.get_timeout(GUARD).unwrap(), Vec::<i64>::new());
            let mut it = c.imap(sqr, std::iter::empty()).unwrap();
            assert!(it.next().is_none(), "{method}: imap");
            assert!(it.next_timeout(GUARD).is_none(), "{method}: imap stays exhausted");
            let mut it = c.imap_unordered(sqr, Vec::new()).unwrap();
            assert!(it.next_timeout(GUARD).is_none(), "{method}: imap_unordered");
        }
        assert_eq!(pool.map(sqr, []).unwrap(), Vec::<i64>::new());
        assert!(pool.map_results(sqr, []).unwrap().is_empty());
        assert_eq!(pool.map_async(sqr, []).unwrap().get().unwrap(), Vec::<i64>::new());
        assert_eq!(pool.starmap(six, []).unwrap(), Vec::<String>::new());
        assert_eq!(pool.starmap_async(add2, []).unwrap().get().unwrap(), Vec::<i64>::new());
        assert!(pool.imap(sqr, []).unwrap().next().is_none());
        assert!(pool.imap_unordered(sqr, []).unwrap().next().is_none());
        // The pool still works after all the empty calls.
        assert_eq!(pool.map(sqr, [3]).unwrap(), [9]);
    }
}

#[test]
fn starmap_with_two_three_and_six_arguments() {
    let _serial = serial();
    let pairs: Vec<(i64, i64)> = (0..40).map(|i| (i, 100 - i)).collect();
    let triples: Vec<(i64, i64, i64)> = (0..40).map(|i| (i, i + 1, i + 2)).collect();
    let sixes: Vec<(u8, u16, u32, u64, i32, String)> = (0..40u8)
        .map(|i| {
            (
                i,
                u16::from(i) * 300,
                u32::from(i) << 20,
                u64::MAX - u64::from(i),
                -i32::from(i),
                "x".repeat(i.into()),
            )
        })
        .collect();
    let serial_six: Vec<String> =
        sixes.iter().cloned().map(|(a, b, c, d, e, f)| six(a, b, c, d, e, f)).collect();
    for method in StartMethod::ALL {
        let pool = pool(method);
        assert_eq!(pool.starmap(add2, pairs.clone()).unwrap(), vec![100; 40], "{method}");
        assert_eq!(
            pool.starmap(mul_add3, triples.clone()).unwrap(),
            triples.iter().map(|&(a, b, c)| a * b + c).collect::<Vec<_>>(),
            "{method}"
        );
        assert_eq!(pool.starmap(six, sixes.clone()).unwrap(), serial_six, "{method}");
        let r = pool.chunksize(3).starmap_async(six, sixes.clone()).unwrap();
        assert_eq!(r.get_timeout(GUARD).unwrap(), serial_six, "{method}");
        // A non-capturing closure with several arguments.
        let r = pool.starmap(|a: u32, b: u32| a.max(b), [(1, 2), (5, 3)]).unwrap();
        assert_eq!(r, [2, 5], "{method}");
    }
}

#[test]
fn default_chunksize_is_cpythons() {
    let _serial = serial();
    assert_eq!(default_chunksize(10, 4), 1);
    assert_eq!(default_chunksize(100, 4), 7);
    assert_eq!(default_chunksize(1000, 4), 63);
    assert_eq!(default_chunksize(17, 2), 3);
    assert_eq!(default_chunksize(0, 4), 0);
}

/// Serial reference of `chunks`: the index ranges, concatenated.
fn covered(len: usize, size: usize) -> Vec<usize> {
    chunks(len, size).flat_map(|(start, n)| start..start + n).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chunks_cover_each_index_exactly_once_in_order(len in 0usize..2000, size in 1usize..300) {
        let _serial = serial();
        prop_assert_eq!(covered(len, size), (0..len).collect::<Vec<_>>());
        for (i, (start, n)) in chunks(len, size).enumerate() {
            prop_assert_eq!(start, i * size);
            prop_assert!(n >= 1 && n <= size);
        }
        prop_assert_eq!(chunks(len, size).count(), len.div_ceil(size));
    }

    #[test]
    fn default_chunksize_matches_the_formula(len in 0usize..100_000, workers in 1usize..64) {
        let _serial = serial();
        let expected = if len == 0 { 0 } else { len.div_ceil(4 * workers) };
        prop_assert_eq!(default_chunksize(len, workers), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn map_equals_serial_for_any_input_and_chunksize(
        xs in prop::collection::vec(any::<i64>(), 0..300),
        chunksize in 1usize..50,
        method in prop::sample::select(StartMethod::ALL.to_vec()),
    ) {
        let _serial = serial();
        let pool = pool(method);
        let serial: Vec<i64> = xs.iter().map(|&x| affine(x)).collect();
        prop_assert_eq!(&pool.chunksize(chunksize).map(affine, xs.clone()).unwrap(), &serial);
        prop_assert_eq!(&pool.map(affine, xs.clone()).unwrap(), &serial);
        let each: Vec<i64> = pool
            .chunksize(chunksize)
            .map_results(affine, xs.clone())
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        prop_assert_eq!(&each, &serial);
        let lazy: Vec<i64> =
            pool.chunksize(chunksize).imap(affine, xs.clone()).unwrap().map(Result::unwrap).collect();
        prop_assert_eq!(&lazy, &serial);
        let pairs: Vec<(i64, i64)> = xs.iter().map(|&x| (x, x ^ 0x55)).collect();
        let serial_pairs: Vec<i64> = pairs.iter().map(|&(a, b)| add2(a, b)).collect();
        prop_assert_eq!(pool.chunksize(chunksize).starmap(add2, pairs).unwrap(), serial_pairs);
    }
}
