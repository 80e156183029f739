//! Queues across real processes, under every start method: order (proptest), bounds,
//! timeouts, `JoinableQueue`'s `task_done`/`join`, handles inside items, typed errors.
//!
//! Behaviours re-expressed from CPython's `_TestQueue` (`test_put`, `test_get`,
//! `test_fork`, `test_qsize`, `test_task_done`, `test_timeout`,
//! `test_queue_feeder_donot_stop_onexc`), rewritten.

use std::time::Duration;

use multiproc::sync::{
    GetError, JoinableQueue, PutError, Queue, QueueReceiver, QueueSender, SimpleQueue,
};
use multiproc::{Context, StartMethod};
use proptest::prelude::*;
use serde::{Serialize, Serializer};

mod common;

fn produce(tx: QueueSender<u64>) -> u64 {
    for i in 0..1000 {
        tx.put(i).unwrap();
    }
    1000
}

#[test]
fn a_child_produces_and_the_parent_drains_to_disconnected() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let (tx, rx) = Queue::<u64>::new().unwrap().split();
        let mut p = Context::new(method).process(produce, tx);
        p.start().unwrap();
        let mut got = Vec::new();
        loop {
            match rx.get() {
                Ok(x) => got.push(x),
                Err(GetError::Disconnected) => break,
                Err(e) => panic!("{method}: {e}"),
            }
        }
        assert_eq!(p.join().unwrap(), 1000);
        assert_eq!(got, (0..1000).collect::<Vec<_>>(), "{method}");
    }
}

/// An item of the order test.
type Item = (u32, String);

/// Puts each batch with `put` (a batch of one) or `put_many`, then reports how many.
fn put_batches(args: (QueueSender<Item>, Vec<Vec<Item>>)) -> usize {
    let (tx, batches) = args;
    let mut n = 0;
    for batch in batches {
        n += batch.len();
        if batch.len() == 1 {
            tx.put(batch.into_iter().next().unwrap()).unwrap();
        } else {
            tx.put_many(batch).unwrap();
        }
    }
    n
}

fn batches() -> impl Strategy<Value = Vec<Vec<Item>>> {
    let item = (any::<u32>(), "[a-z]{0,40}");
    prop::collection::vec(prop::collection::vec(item, 1..50), 1..20)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn items_arrive_in_the_order_they_were_put(batches in batches(), method in 0usize..3) {
        let _serial = common::serial();
        let method = StartMethod::ALL[method];
        let expected: Vec<Item> = batches.iter().flatten().cloned().collect();
        let (tx, rx) = Queue::new().unwrap().split();
        let mut p = Context::new(method).process(put_batches, (tx, batches));
        p.start().unwrap();
        let mut got = Vec::new();
        // Take them in batches of varying sizes, to Disconnected.
        while let Ok(mut items) = rx.get_many(1 + got.len() % 7) {
            got.append(&mut items);
        }
        prop_assert_eq!(p.join().unwrap(), expected.len());
        prop_assert_eq!(got, expected);
    }
}

fn produce_tagged(args: (QueueSender<(u8, u32)>, u8)) {
    let (tx, tag) = args;
    for i in 0..2000 {
        tx.put((tag, i)).unwrap();
    }
}

#[test]
fn two_producers_each_keep_their_order() {
    let _serial = common::serial();
    let (tx, rx) = Queue::new().unwrap().split();
    let mut a = Context::new(StartMethod::ForkServer).process(produce_tagged, (tx.clone(), 0));
    let mut b = Context::new(StartMethod::Spawn).process(produce_tagged, (tx, 1));
    a.start().unwrap();
    b.start().unwrap();
    let mut next = [0u32; 2];
    while let Ok((tag, i)) = rx.get() {
        assert_eq!(next[tag as usize], i, "producer {tag} out of order");
        next[tag as usize] += 1;
    }
    assert_eq!(next, [2000, 2000]);
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn a_bounded_queue_blocks_times_out_and_refuses_at_once() {
    let q = Queue::bounded(2).unwrap();
    q.put(1).unwrap();
    q.try_put(2).unwrap();
    assert!(q.is_full());
    assert_eq!(q.len(), 2);
    assert!(matches!(q.try_put(3), Err(PutError::Full(3))));
    let err = q.put_timeout(3, Duration::from_millis(20)).unwrap_err();
    assert!(matches!(err, PutError::TimedOut(3)), "{err:?}");
    assert_eq!(q.get().unwrap(), 1);
    q.put_timeout(3, Duration::from_secs(5)).unwrap();
    assert_eq!(q.get_many(10).unwrap(), [2, 3]);
    assert!(matches!(q.try_get(), Err(GetError::Empty)));
    assert!(matches!(q.get_timeout(Duration::from_millis(20)), Err(GetError::TimedOut)));
    assert!(q.is_empty());
}

fn drain_slowly(rx: QueueReceiver<u32>) -> Vec<u32> {
    std::iter::from_fn(|| rx.get().ok()).collect()
}

#[test]
fn a_full_queue_lets_a_producer_go_on_once_another_process_takes_items() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let (tx, rx) = Queue::bounded(3).unwrap().split();
        let mut p = Context::new(method).process(drain_slowly, rx);
        p.start().unwrap();
        for i in 0..500 {
            tx.put(i).unwrap(); // blocks while the child has not taken enough
        }
        drop(tx);
        assert_eq!(p.join().unwrap(), (0..500).collect::<Vec<_>>(), "{method}");
    }
}

#[test]
fn a_put_that_waits_for_room_sees_that_every_receiver_is_gone() {
    let (tx, rx) = Queue::bounded(1).unwrap().split();
    tx.put(1).unwrap();
    drop(rx);
    assert!(matches!(tx.put(2), Err(PutError::Disconnected(2))));
}

fn work_and_mark_done(q: JoinableQueue<u32>) -> u64 {
    let mut sum = 0;
    while let Ok(job) = q.get_timeout(Duration::from_secs(30)) {
        sum += u64::from(job);
        q.task_done().unwrap();
        if job == u32::MAX {
            break;
        }
    }
    sum
}

#[test]
fn join_returns_once_every_item_is_marked_done_by_other_processes() {
    let _serial = common::serial();
    let q = JoinableQueue::new().unwrap();
    q.put_many(1..=100u32).unwrap();
    assert_eq!(q.unfinished(), 100);
    let workers: Vec<_> = StartMethod::ALL
        .into_iter()
        .map(|m| {
            let mut p = Context::new(m).process(work_and_mark_done, q.clone());
            p.start().unwrap();
            p
        })
        .collect();
    q.join();
    assert_eq!(q.unfinished(), 0);
    assert!(q.is_empty());
    for _ in &workers {
        q.put(u32::MAX).unwrap();
    }
    assert!(q.join_timeout(Duration::from_secs(30)));
    let total: u64 = workers.into_iter().map(|mut p| p.join().unwrap()).sum();
    assert_eq!(total, 5050 + 3 * u64::from(u32::MAX));
    assert!(q.task_done().is_err(), "one task_done too many");
}

#[test]
fn join_timeout_gives_up_while_items_are_unfinished() {
    let q = JoinableQueue::new().unwrap();
    q.put(1).unwrap();
    assert_eq!(q.get().unwrap(), 1);
    assert!(!q.join_timeout(Duration::from_millis(20)));
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::ZERO));
}

/// A value whose encoding fails.
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refuses to be encoded"))
    }
}

impl<'de> serde::Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unencodable)
    }
}

#[test]
fn an_item_that_cannot_be_encoded_is_an_error_at_the_put_and_the_queue_goes_on() {
    let q = Queue::<Result<u32, Unencodable>>::new().unwrap();
    q.put(Ok(1)).unwrap();
    let err = q.put(Err(Unencodable)).unwrap_err();
    assert!(matches!(err, PutError::Encode(_)), "{err:?}");
    assert!(err.to_string().contains("refuses to be encoded"), "{err}");
    q.put(Ok(2)).unwrap();
    assert_eq!(q.len(), 2);
    assert!(matches!(q.get().unwrap(), Ok(1)));
    assert!(matches!(q.get().unwrap(), Ok(2)));
}

/// Receives a sender through a queue, and answers on it.
fn answer_through(rx: QueueReceiver<(QueueSender<String>, String)>) {
    while let Ok((reply, text)) = rx.get() {
        reply.put(text.to_uppercase()).unwrap();
    }
}

#[test]
fn handles_travel_inside_items() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let (tx, rx) = Queue::new().unwrap().split();
        let mut p = Context::new(method).process(answer_through, rx);
        p.start().unwrap();
        let (reply_tx, reply_rx) = Queue::new().unwrap().split();
        for word in ["one", "two", "three"] {
            tx.put((reply_tx.clone(), word.to_string())).unwrap();
        }
        drop(reply_tx); // the child's copies are the senders now
        drop(tx);
        let answers: Vec<String> = std::iter::from_fn(|| reply_rx.get().ok()).collect();
        assert_eq!(answers, ["ONE", "TWO", "THREE"], "{method}");
        p.join().unwrap();
    }
}

#[test]
fn a_queue_is_not_a_pool_task_argument_and_says_so_at_the_call() {
    let pool = multiproc::Pool::new(1).unwrap();
    let q = Queue::<u8>::new().unwrap();
    let err = pool.apply(|q: Queue<u8>| q.len(), q).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("cannot encode") && text.contains("Process"), "{text}");
}

#[test]
fn a_simple_queue_puts_and_gets_across_a_fork() {
    let _serial = common::serial();
    let q = SimpleQueue::new().unwrap();
    q.put(1u8).unwrap();
    let child = q.clone();
    let mut p = multiproc::Process::fork(move || {
        let first = child.get().unwrap();
        child.put(first + 1).unwrap();
    });
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(q.get().unwrap(), 2);
    assert!(q.is_empty());
}
