//! No task waits behind a busy worker while another is idle, and a task that has not
//! started can always be cancelled, under every start method:
//! - with one worker held by a long task, quick tasks submitted after it all run on the
//!   other worker (none is queued behind the long one);
//! - a task handed to a worker behind a running one, but not started, is taken back when
//!   it is cancelled: `cancel` returns true and the task never runs;
//! - an idle worker takes the unstarted items of a chunk held by a busy one.
//!
//! (The issue these guard against: the 20 ms task of a 1 s / 10 / 20 / 2000 / 30 ms mix
//! was sent to the busy worker and finished after a second.)

use std::sync::mpsc;

use multiproc::pool::{Pool, TaskError, TaskState};
use multiproc::{ProcessPoolExecutor, StartMethod};

mod common;
use common::{GUARD, Gate, RunLog, gated, log_run, serial, sleep_ms};

/// Logs `i`; then for a gate waits for it, else returns `i`.
fn logged((i, log, gate): (u64, String, Option<String>)) -> u64 {
    log_run(&log, i);
    match gate {
        Some(gate) => gated(gate),
        None => i,
    }
}

#[test]
fn quick_tasks_do_not_wait_behind_a_busy_worker() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = common::pool(method);
        let long = Gate::new(&format!("long-{method}"));
        let held = pool.apply_async(gated, long.arg()).unwrap();
        long.wait_started();
        // Submitted while one worker is held: they must all end while it still is.
        let quick: Vec<_> = [10, 20, 30, 15]
            .into_iter()
            .map(|ms| pool.apply_async(sleep_ms, ms).unwrap())
            .collect();
        for (r, ms) in quick.into_iter().zip([10, 20, 30, 15]) {
            assert_eq!(r.get_timeout(GUARD), Ok(ms), "{method}: a quick task waited");
        }
        assert!(!held.ready(), "{method}: the long task is still held");
        long.open();
        assert_eq!(held.get(), Ok(7), "{method}");
    }
}

#[test]
fn a_task_handed_to_a_worker_but_not_started_is_cancelled() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = Pool::builder().processes(1).start_method(method).build().unwrap();
        let log = RunLog::new("cancel");
        // Teach the pool that `logged` is quick, so that it hands the worker a second
        // task behind the first: its pace is that of a batch of 200 (per item, far below
        // the 1 ms that makes a batch quick, however loaded the machine).
        let warm: Vec<_> = (100..300).map(|i| (i, log.arg(), None)).collect();
        assert_eq!(pool.chunksize(200).map(logged, warm), Ok((100..300).collect()), "{method}");
        let gate = Gate::new(&format!("cancel-{method}"));
        let (tx, rx) = mpsc::channel();
        let first = {
            let tx = tx.clone();
            pool.submit_with(logged, (0, log.arg(), Some(gate.arg())), move |r| {
                tx.send((0, r)).unwrap()
            })
            .unwrap()
        };
        gate.wait_started();
        let second = pool
            .submit_with(logged, (1, log.arg(), None), move |r| tx.send((1, r)).unwrap())
            .unwrap();
        // At the worker, behind the held one: only a take-back can cancel it now.
        assert_eq!(second.state(), TaskState::Dispatched, "{method}");
        assert!(second.cancel(), "{method}: a task that has not started is cancelled");
        assert_eq!(rx.recv_timeout(GUARD).unwrap(), (1, Err(TaskError::Cancelled)), "{method}");
        assert!(!first.cancel(), "{method}: a running task is not");
        gate.open();
        assert_eq!(rx.recv_timeout(GUARD).unwrap(), (0, Ok(7)), "{method}");
        pool.close();
        pool.join().unwrap();
        assert_eq!(log.runs().get(&1), None, "{method}: the cancelled task ran");
    }
}

#[test]
fn an_executor_future_not_started_is_cancelled() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let ex =
            ProcessPoolExecutor::builder().max_workers(1).start_method(method).build().unwrap();
        let log = RunLog::new("future");
        for i in 100..110 {
            assert_eq!(ex.submit(logged, (i, log.arg(), None)).unwrap().result(), Ok(i));
        }
        let gate = Gate::new(&format!("future-{method}"));
        let running = ex.submit(logged, (0, log.arg(), Some(gate.arg()))).unwrap();
        gate.wait_started();
        let waiting = ex.submit(logged, (1, log.arg(), None)).unwrap();
        assert!(!waiting.running(), "{method}");
        assert!(waiting.cancel(), "{method}");
        assert!(waiting.cancelled(), "{method}");
        assert!(!running.cancel(), "{method}");
        gate.open();
        assert_eq!(running.result(), Ok(7), "{method}");
        drop(ex);
        assert_eq!(log.runs().get(&1), None, "{method}: the cancelled task ran");
    }
}

#[test]
fn an_idle_worker_takes_unstarted_items_from_a_busy_one() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = common::pool(method);
        let log = RunLog::new("take-back");
        let gate = Gate::new(&format!("take-back-{method}"));
        // One chunk of six: the worker that takes it is held by its first item; the other
        // worker, idle, must run the five others (or this never ends while the gate is
        // shut).
        let mut items = vec![(0, log.arg(), Some(gate.arg()))];
        items.extend((1..6).map(|i| (i, log.arg(), None)));
        let mut results = pool.chunksize(6).imap_unordered(logged, items).unwrap();
        let mut quick: Vec<u64> = (0..5).map(|_| results.next().unwrap().unwrap()).collect();
        quick.sort_unstable();
        assert_eq!(quick, [1, 2, 3, 4, 5], "{method}");
        gate.open();
        assert_eq!(results.next(), Some(Ok(7)), "{method}");
        assert_eq!(results.next(), None, "{method}");
        let runs = log.runs();
        assert!((0..6).all(|i| runs.get(&i) == Some(&1)), "{method}: {runs:?}");
    }
}
