//! The ProcessPoolExecutor API over MPI ranks: every test runs on rank 0 of a 3-rank job.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::executor::block_on;
use futures::future::join_all;
use multiproc::{MapOptions, ReturnWhen, TaskError, as_completed, wait};

fn square(x: u64) -> u64 {
    x * x
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn boom(x: u64) -> u64 {
    panic!("boom {x}")
}

mpi_test! {
    /// submit → result; as_completed yields every future once, in completion order;
    /// a panicking task's future carries the panic; callbacks run.
    fn submit_and_as_completed(world) {
        let ex = world.executor().unwrap();
        assert_eq!(ex.max_workers(), 2);
        assert_eq!(ex.submit(square, 7).unwrap().result().unwrap(), 49);
        let calls = Arc::new(AtomicUsize::new(0));
        let futures: Vec<_> = [400u64, 300, 200, 100]
            .into_iter()
            .map(|ms| {
                let f = ex.submit(nap, ms).unwrap();
                let calls = Arc::clone(&calls);
                f.add_done_callback(move |_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                });
                f
            })
            .collect();
        let with_duplicate = futures.iter().chain(std::iter::once(&futures[0]));
        let mut order = Vec::new();
        for f in as_completed(with_duplicate, Some(Duration::from_secs(30))) {
            let f = f.unwrap();
            assert!(f.done(), "as_completed yields a future once it is done");
            order.push(f.result().unwrap());
        }
        order.sort_unstable();
        assert_eq!(order, [100, 200, 300, 400], "each future once, the duplicate too");
        // Callbacks run on the pool's thread as each future completes, possibly just
        // after `as_completed` saw it done.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while calls.load(Ordering::SeqCst) < 4 {
            assert!(std::time::Instant::now() < deadline, "every callback runs");
            std::thread::yield_now();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let failed = ex.submit(boom, 1).unwrap();
        match failed.exception() {
            Some(TaskError::Panicked(p)) => assert!(p.message.contains("boom 1")),
            other => panic!("expected a panic, got {other:?}"),
        }
    }
}

mpi_test! {
    /// wait in each mode, cancel of a queued future, map with chunk sizes and order.
    fn wait_cancel_and_map(world) {
        let ex = world.executor().unwrap();
        let slow: Vec<_> = (0..2).map(|_| ex.submit(nap, 600).unwrap()).collect();
        let queued = ex.submit(nap, 600).unwrap();
        assert!(queued.cancel());
        assert!(queued.cancelled());
        assert_eq!(queued.result().unwrap_err(), TaskError::Cancelled);
        let quick = ex.submit(square, 3).unwrap();
        let all: Vec<_> = slow.iter().chain(std::iter::once(&quick)).collect();
        let (done, not_done) = wait(all.iter().copied(), None, ReturnWhen::FirstCompleted);
        assert!(!done.is_empty() && done.len() + not_done.len() == 3);
        let bad = ex.submit(boom, 2).unwrap();
        let (done, _) = wait([&bad], None, ReturnWhen::FirstException);
        assert_eq!(done.len(), 1);
        let (done, not_done) = wait(all.iter().copied(), None, ReturnWhen::AllCompleted);
        assert_eq!((done.len(), not_done.len()), (3, 0));
        for chunksize in [1, 6, 40, 50] {
            let out: Vec<u64> = ex
                .map_with(square, 0..200u64, MapOptions::default().chunksize(chunksize))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(out, (0..200).map(square).collect::<Vec<_>>());
        }
    }
}

mpi_test! {
    /// Futures over MPI ranks can be awaited on any runtime.
    fn futures_can_be_awaited(world) {
        let ex = world.executor().unwrap();
        let futures: Vec<_> = (0..10u64).map(|x| ex.submit(square, x).unwrap()).collect();
        let values: Vec<u64> = block_on(join_all(futures)).into_iter().map(Result::unwrap).collect();
        assert_eq!(values, (0..10).map(square).collect::<Vec<_>>());
    }
}

mpi_test! {
    /// running() follows the ranks; shutdown(cancel_futures) cancels what is queued and
    /// lets what runs finish; submit after shutdown is an error; the ranks then serve a
    /// new executor.
    fn shutdown_then_a_new_executor(world) {
        let ex = world.executor().unwrap();
        let running: Vec<_> = (0..2).map(|_| ex.submit(nap, 1500).unwrap()).collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !running.iter().all(|f| f.running()) {
            assert!(std::time::Instant::now() < deadline, "both tasks start");
            std::thread::yield_now();
        }
        // Each rank holds one more batch (the window); the other four wait in the queue.
        let queued: Vec<_> = (0..6).map(|_| ex.submit(nap, 10).unwrap()).collect();
        ex.shutdown(true, true);
        assert!(running.iter().all(|f| f.result() == Ok(1500)));
        let cancelled = queued.iter().filter(|f| f.cancelled()).count();
        let finished = queued.iter().filter(|f| f.result() == Ok(10)).count();
        assert_eq!(cancelled + finished, 6, "every future ends one way or the other");
        assert!(cancelled >= 1, "queued futures are cancelled");
        assert_eq!(ex.submit(square, 1).unwrap_err(), TaskError::NotRunning);
        drop(ex);
        let ex = world.executor().unwrap();
        assert_eq!(ex.submit(square, 9).unwrap().result().unwrap(), 81);
    }
}
