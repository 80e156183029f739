//! Awaiting executor futures from an async runtime (`futures::executor::block_on`,
//! `futures::future::join_all`): values, a panic as an error, a cancelled future, and a
//! future that completes only after it was first polled (the waker must fire).
//!
//! CPython's counterpart is `asyncio.wrap_future` / `loop.run_in_executor`; the behaviour
//! here is this crate's own (`impl std::future::Future for Future`).

use std::future::Future as _;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::Poll;
use std::time::Instant;

use futures::executor::block_on;
use futures::future::join_all;
use multiproc::{Future, ProcessPoolExecutor, TaskError};

mod common;
use common::{GUARD, Gate, gated, sleep_ms, square};

fn boom(x: u64) -> u64 {
    panic!("async boom {x}")
}

#[test]
fn block_on_a_future_gives_its_value() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let f = ex.submit(square, 12).unwrap();
    assert_eq!(block_on(f), Ok(144));
}

#[test]
fn awaiting_inside_an_async_block_composes() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let a = ex.submit(square, 3).unwrap();
    let b = ex.submit(sleep_ms, 40).unwrap();
    let total = block_on(async move { Ok::<u64, TaskError>(a.await? + b.await?) });
    assert_eq!(total, Ok(49));
}

#[test]
fn join_all_awaits_several_futures_at_once_in_order() {
    let ex = ProcessPoolExecutor::new(3).unwrap();
    // Earlier ones are slower: completion order differs from the order given.
    let futures: Vec<Future<u64>> =
        (0..6u64).map(|i| ex.submit(sleep_ms, (6 - i) * 30).unwrap()).collect();
    let t = Instant::now();
    let results = block_on(join_all(futures));
    assert!(t.elapsed() < GUARD);
    assert_eq!(results, (0..6u64).map(|i| Ok((6 - i) * 30)).collect::<Vec<_>>());
}

#[test]
fn join_all_with_an_error_keeps_each_outcome_in_place() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let futures = vec![
        ex.submit(square, 2).unwrap(),
        ex.submit(boom, 5).unwrap(),
        ex.submit(square, 4).unwrap(),
    ];
    let results = block_on(join_all(futures));
    assert_eq!(results[0], Ok(4));
    match &results[1] {
        Err(TaskError::Panicked(p)) => assert_eq!(p.message, "async boom 5"),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(results[2], Ok(16));
}

#[test]
fn awaiting_a_failed_future_gives_its_error() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let f = ex.submit(boom, 1).unwrap();
    let err = block_on(f).unwrap_err();
    assert_eq!(err.panic().map(|p| p.message.as_str()), Some("async boom 1"));
}

#[test]
fn awaiting_a_cancelled_future_gives_cancelled() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("cancelled");
    let busy = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let queued = ex.submit(square, 3).unwrap();
    assert!(queued.cancel());
    assert_eq!(block_on(queued), Err(TaskError::Cancelled));
    gate.open();
    assert_eq!(block_on(busy), Ok(7));
}

#[test]
fn a_future_completing_after_the_first_poll_wakes_the_runtime() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("wake");
    let mut f = ex.submit(gated, gate.arg()).unwrap();
    gate.wait_started();
    let (first_poll_tx, first_poll_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    // The runtime, on its own thread (so a missing wake-up fails the test, not hangs it):
    // the first poll finds the task held and parks; only then is the gate opened, and the
    // worker's result must wake the runtime for a second poll.
    std::thread::spawn(move || {
        let mut polls = 0;
        let value = block_on(std::future::poll_fn(|cx| {
            polls += 1;
            let r = Pin::new(&mut f).poll(cx);
            if polls == 1 {
                assert!(r.is_pending(), "the task is still held");
                first_poll_tx.send(()).unwrap();
            }
            r
        }));
        done_tx.send((value, polls)).unwrap();
    });
    first_poll_rx.recv_timeout(GUARD).expect("the runtime polled the future");
    gate.open();
    let (value, polls) = done_rx.recv_timeout(GUARD).expect("the waker never fired");
    assert_eq!(value, Ok(7));
    assert!(polls >= 2, "{polls}");
}

#[test]
fn select_like_polling_of_two_futures_returns_the_first_done() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let gate = Gate::new("select");
    let mut held = ex.submit(gated, gate.arg()).unwrap();
    let mut quick = ex.submit(sleep_ms, 20).unwrap();
    gate.wait_started();
    // Poll both until one is ready: the quick one wins, the held one stays pending.
    let (which, value) = block_on(std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = Pin::new(&mut held).poll(cx) {
            return Poll::Ready(("held", v));
        }
        if let Poll::Ready(v) = Pin::new(&mut quick).poll(cx) {
            return Poll::Ready(("quick", v));
        }
        Poll::Pending
    }));
    assert_eq!((which, value), ("quick", Ok(20)));
    assert!(!held.done());
    gate.open();
    assert_eq!(block_on(held), Ok(7));
}
