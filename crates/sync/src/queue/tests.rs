//! Sleepers and their bells: interleavings forced from one process, with threads as the
//! sleeping side (the ring and its bells behave the same between processes).

use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// How long a sleeper waits before it gives up: far beyond any wake-up.
const PATIENCE: Duration = Duration::from_secs(5);

/// Waits (polling) until `counter` counts one sleeper.
fn until_one_sleeps(counter: &AtomicU32) {
    let deadline = Instant::now() + PATIENCE;
    while counter.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the sleeper never counted itself in");
        thread::yield_now();
    }
}

fn consumers_asleep(q: &Queue<u32>) -> &AtomicU32 {
    q.rx.rx.lane.ring().consumers_armed()
}

fn producers_asleep(q: &Queue<u32>) -> &AtomicU32 {
    q.tx.tx.lane.ring().producers_armed()
}

/// The items left in `q`.
fn rest(q: &Queue<u32>) -> Vec<u32> {
    std::iter::from_fn(|| q.try_get().ok()).collect()
}

/// A consumer sleeps; an item is put (its bell rung) and taken by another consumer before
/// the sleeper runs, which finds the ring empty and drains the bell; a second item is
/// put. The sleeper must be rung again: it was left asleep beside the item (until its
/// timeout) when the first ring also lowered the only mark that anyone slept.
#[test]
fn a_sleeping_consumer_is_rung_again_after_another_drained_its_bell() {
    for _ in 0..20 {
        let q = Queue::<u32>::new().unwrap();
        let sleeper = {
            let rx = q.receiver();
            thread::spawn(move || rx.get_timeout(PATIENCE))
        };
        until_one_sleeps(consumers_asleep(&q));
        q.put(1).unwrap();
        let taken_here = q.try_get().ok(); // usually before the sleeper has run
        q.put(2).unwrap();
        let slept = sleeper.join().unwrap().expect("the sleeper gets an item");
        let mut got: Vec<u32> = taken_here.into_iter().chain([slept]).chain(rest(&q)).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    }
}

/// The mirror: a producer sleeps for room; room is made (its bell rung), filled by
/// another producer, which then finds the queue full and drains the bell; room is made
/// again. The sleeping producer must be rung again.
#[test]
fn a_producer_waiting_for_room_is_rung_again_after_another_drained_its_bell() {
    for _ in 0..20 {
        let q = Queue::<u32>::bounded(1).unwrap();
        q.put(0).unwrap();
        let sleeper = {
            let tx = q.sender();
            thread::spawn(move || tx.put_timeout(10, PATIENCE).is_ok())
        };
        until_one_sleeps(producers_asleep(&q));
        let mut got = vec![q.get().unwrap()];
        let put_here = q.try_put(1).is_ok(); // usually before the sleeper has run
        // Full (which drains the room bell), or room if the sleeper ran meanwhile.
        let put_2 = q.try_put(2).is_ok();
        got.extend(q.try_get().ok()); // room again
        assert!(sleeper.join().unwrap(), "the sleeping producer puts its item");
        got.extend(rest(&q));
        got.sort_unstable();
        let mut expected = vec![0, 10];
        expected.extend(put_here.then_some(1));
        expected.extend(put_2.then_some(2));
        expected.sort_unstable();
        assert_eq!(got, expected);
    }
}
