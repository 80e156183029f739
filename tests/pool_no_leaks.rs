//! No zombie children and no leaked descriptors after creating, using and dropping 100
//! pools across every start method (including pools dropped with work still queued, and
//! pools whose workers died or were recycled).
//!
//! This file holds one test: descriptor and zombie counts are process-wide, so no other
//! test may run beside it in the same binary.

use std::time::{Duration, Instant};

use multiproc::StartMethod;
use multiproc::pool::Pool;

mod common;
use common::{open_fds, sleep_ms, square, zombies};

fn exit_on_seven(x: u64) -> u64 {
    if x == 7 {
        std::process::exit(7);
    }
    x
}

/// Uses a pool in one of several ways, then drops it.
fn use_and_drop(method: StartMethod, round: usize) {
    let mut b = Pool::builder().processes(2).start_method(method);
    if round % 4 == 3 {
        b = b.max_tasks_per_child(5);
    }
    let pool = b.build().unwrap();
    assert_eq!(pool.map(square, 0..20).unwrap(), (0..20).map(square).collect::<Vec<_>>());
    assert_eq!(pool.apply(square, 9), Ok(81));
    let lazy: Vec<u64> = pool.imap_unordered(square, 0..10).unwrap().map(Result::unwrap).collect();
    assert_eq!(lazy.len(), 10);
    match round % 4 {
        // Dropped with slow work queued and running.
        0 => {
            let _pending = pool.chunksize(1).map_async(sleep_ms, vec![60_000; 10]).unwrap();
        }
        // A worker dies and is replaced.
        1 => {
            let got = pool.map_results(exit_on_seven, 0..10).unwrap();
            assert!(got[7].is_err() && got.iter().filter(|r| r.is_ok()).count() == 9);
        }
        // Closed and joined, the polite way.
        2 => {
            pool.close();
            pool.join().unwrap();
        }
        _ => {}
    }
    drop(pool);
}

#[test]
fn a_hundred_pools_leave_no_zombie_and_no_descriptor() {
    // Warm up: the fork server and any process-wide helpers are started once and kept.
    for method in StartMethod::ALL {
        use_and_drop(method, 2);
    }
    let before = open_fds();
    let t = Instant::now();
    for round in 0..100 {
        let method = StartMethod::ALL[round % StartMethod::ALL.len()];
        use_and_drop(method, round / StartMethod::ALL.len());
    }
    assert!(t.elapsed() < Duration::from_secs(120), "took {:?}", t.elapsed());
    assert_eq!(zombies(), Vec::<u32>::new(), "zombie children after 100 pools");
    assert_eq!(open_fds(), before, "descriptors leaked after 100 pools");
}
