//! Batching never changes what a task's outcome is, under every start method:
//! - a worker that dies fails only the item it was running: items of its chunk that had
//!   finished are delivered (not run again), those it had not started run elsewhere, once,
//!   and are not charged for the death;
//! - a finished item's result reaches the caller while later items of the same chunk are
//!   still running (it is not held back until the chunk ends).
//!
//! Each item logs its index when it starts, so the tests see how often each ran.

use multiproc::pool::{Pool, TaskError};
use multiproc::{ExitStatus, StartMethod};

mod common;
use common::{Gate, RunLog, gated, log_run, serial};

/// Logs `i`, then aborts for the listed items, else returns `i * 10`.
fn abort_on((i, log, aborts): (u64, String, Vec<u64>)) -> u64 {
    log_run(&log, i);
    if aborts.contains(&i) {
        std::process::abort();
    }
    i * 10
}

#[test]
fn a_death_in_a_chunk_fails_only_the_item_running() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = Pool::builder().processes(1).start_method(method).build().unwrap();
        let log = RunLog::new("neighbours");
        let aborts = vec![1, 2, 3];
        let items: Vec<_> = (0..10).map(|i| (i, log.arg(), aborts.clone())).collect();
        let got = pool.chunksize(10).map_results(abort_on, items).unwrap();
        for (i, outcome) in (0..10u64).zip(&got) {
            if aborts.contains(&i) {
                let Err(TaskError::WorkerDied { status, .. }) = outcome else {
                    panic!("{method}: item {i}: {outcome:?}")
                };
                assert_eq!(*status, Some(ExitStatus::Signal(libc::SIGABRT)), "{method}: item {i}");
            } else {
                assert_eq!(*outcome, Ok(i * 10), "{method}: item {i}");
            }
        }
        let runs = log.runs();
        for i in 0..10 {
            assert_eq!(runs.get(&i), Some(&1), "{method}: item {i} ran {:?} times", runs.get(&i));
        }
    }
}

/// `x` at once, or (for a gate) `gated`'s 7 once the gate opens.
fn quick_or_gated(x: (u64, Option<String>)) -> u64 {
    match x {
        (x, None) => x,
        (_, Some(gate)) => gated(gate),
    }
}

#[test]
fn a_finished_result_arrives_while_its_chunk_still_runs() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = Pool::builder().processes(1).start_method(method).build().unwrap();
        let gate = Gate::new(&format!("held-back-{method}"));
        let items = vec![(0, None), (1, None), (2, Some(gate.arg())), (3, None)];
        let mut results = pool.chunksize(4).imap(quick_or_gated, items).unwrap();
        // Items 0 and 1 ran before the gated item 2, in the same chunk: their results come
        // while item 2 waits (a `next` that waited for the chunk would hang here).
        assert_eq!(results.next(), Some(Ok(0)), "{method}");
        assert_eq!(results.next(), Some(Ok(1)), "{method}");
        gate.wait_started();
        gate.open();
        assert_eq!(results.collect::<Vec<_>>(), [Ok(7), Ok(3)], "{method}");
    }
}
