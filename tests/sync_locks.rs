//! Locks, semaphores, conditions, events and barriers across real processes, under every
//! start method, with the timeout of every blocking call.
//!
//! Behaviours re-expressed from CPython's `_TestLock` (`test_lock`, `test_rlock`),
//! `_TestSemaphore` (`test_semaphore`, `test_bounded_semaphore`, `test_timeout`),
//! `_TestCondition` (`test_notify`, `test_notify_all`, `test_waitfor`), `_TestEvent`
//! and `_TestBarrier` (`test_barrier`, `test_wait_return`, `test_abort`, `test_reset`,
//! `test_timeout`, `test_single_thread`), rewritten.

use std::time::Duration;

use multiproc::sync::{
    Barrier, BarrierError, BoundedSemaphore, Condition, Event, Lock, LockError, Queue, QueueSender,
    RLock, ReleaseError, Semaphore, Value,
};
use multiproc::{Context, StartMethod};

mod common;

/// Increments the counter 2 000 times, each under the lock, checking that nobody else is
/// inside meanwhile.
fn count(args: (Lock, Value<u64>, Value<u32>)) {
    let (lock, counter, inside) = args;
    for _ in 0..2000 {
        let _guard = lock.lock().unwrap();
        assert_eq!(inside.get(), 0, "two holders at once");
        inside.set(1);
        counter.set(counter.get() + 1);
        inside.set(0);
    }
}

#[test]
fn a_lock_excludes_other_processes() {
    let _serial = common::serial();
    let (lock, counter, inside) =
        (Lock::new().unwrap(), Value::new(0u64).unwrap(), Value::new(0u32).unwrap());
    let mut children: Vec<_> = StartMethod::ALL
        .into_iter()
        .map(|m| Context::new(m).process(count, (lock.clone(), counter.clone(), inside.clone())))
        .collect();
    for p in &mut children {
        p.start().unwrap();
    }
    for mut p in children {
        p.join().unwrap();
    }
    assert_eq!(counter.get(), 6000);
}

#[test]
fn a_lock_refuses_a_second_hold_on_one_thread_and_times_out_for_others() {
    let lock = Lock::new().unwrap();
    let guard = lock.lock().unwrap();
    assert!(matches!(lock.lock(), Err(LockError::WouldDeadlock)));
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(matches!(lock.try_lock(), Err(LockError::WouldBlock)));
            let timed = lock.lock_timeout(Duration::from_millis(20));
            assert!(matches!(timed, Err(LockError::TimedOut)));
        });
    });
    drop(guard);
    assert!(lock.lock_timeout(Duration::from_secs(5)).is_ok());
}

fn nest(lock: RLock) -> u32 {
    let a = lock.lock().unwrap();
    let b = lock.lock().unwrap();
    let c = lock.lock().unwrap();
    drop((c, b, a));
    u32::from(lock.try_lock().is_ok())
}

#[test]
fn an_rlock_nests_in_a_child() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let lock = RLock::new().unwrap();
        let mut p = Context::new(method).process(nest, lock.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 1, "{method}");
        assert!(lock.try_lock().is_ok());
    }
}

/// Holds a unit of the semaphore while it counts itself in and out.
fn bounded_work(args: (Semaphore, Lock, Value<u32>, Value<u32>)) {
    let (sem, lock, inside, most) = args;
    for _ in 0..50 {
        let _unit = sem.acquire().unwrap();
        {
            let _g = lock.lock().unwrap();
            let now = inside.get() + 1;
            inside.set(now);
            most.set(most.get().max(now));
        }
        std::thread::yield_now();
        let _g = lock.lock().unwrap();
        inside.set(inside.get() - 1);
    }
}

#[test]
fn a_semaphore_lets_in_at_most_its_value() {
    let _serial = common::serial();
    let sem = Semaphore::new(2).unwrap();
    let (lock, inside, most) =
        (Lock::new().unwrap(), Value::new(0u32).unwrap(), Value::new(0u32).unwrap());
    let mut children: Vec<_> = (0..4)
        .map(|i| {
            let args = (sem.clone(), lock.clone(), inside.clone(), most.clone());
            Context::new(StartMethod::ALL[i % 3]).process(bounded_work, args)
        })
        .collect();
    for p in &mut children {
        p.start().unwrap();
    }
    for mut p in children {
        p.join().unwrap();
    }
    assert!(most.get() <= 2, "{} holders at once", most.get());
    assert_eq!(sem.value(), 2);
}

#[test]
fn semaphore_counts_timeouts_and_bounds() {
    let sem = Semaphore::new(2).unwrap();
    let a = sem.acquire().unwrap();
    let b = sem.try_acquire().unwrap();
    assert_eq!(sem.value(), 0);
    assert!(matches!(sem.try_acquire(), Err(LockError::WouldBlock)));
    assert!(matches!(sem.acquire_timeout(Duration::from_millis(20)), Err(LockError::TimedOut)));
    drop(a);
    assert_eq!(sem.value(), 1);
    sem.release().unwrap();
    sem.release().unwrap(); // beyond the initial value: Python allows it
    assert_eq!(sem.value(), 3);
    drop(b);
    assert_eq!(sem.value(), 4);

    let bounded = BoundedSemaphore::new(1).unwrap();
    assert!(matches!(bounded.release(), Err(ReleaseError::TooManyReleases)));
    bounded.acquire().unwrap().forget();
    assert_eq!(bounded.value(), 0);
    bounded.release().unwrap();
    assert!(matches!(bounded.release(), Err(ReleaseError::TooManyReleases)));
}

/// Waits on the condition for the value to reach `target`, and reports.
fn wait_for_value(args: (Condition, Value<u32>, u32, QueueSender<String>)) -> bool {
    let (cond, value, target, ready) = args;
    let mut guard = cond.lock().unwrap();
    ready.put("waiting".into()).unwrap(); // while holding the lock: the parent locks after our wait
    guard.wait_for(|| value.get() >= target, Some(common::GUARD)).unwrap()
}

#[test]
fn a_condition_wakes_waiters_in_other_processes() {
    let _serial = common::serial();
    let (cond, value) = (Condition::new().unwrap(), Value::new(0u32).unwrap());
    let (ready_tx, ready_rx) = Queue::new().unwrap().split();
    let mut waiters: Vec<_> = StartMethod::ALL
        .into_iter()
        .map(|m| {
            let args = (cond.clone(), value.clone(), 1, ready_tx.clone());
            let mut p = Context::new(m).process(wait_for_value, args);
            p.start().unwrap();
            p
        })
        .collect();
    for _ in 0..3 {
        assert_eq!(ready_rx.get().unwrap(), "waiting");
    }
    {
        let guard = cond.lock().unwrap(); // every waiter is inside `wait` now
        value.set(1);
        guard.notify(1);
        guard.notify(2);
    }
    for p in &mut waiters {
        assert!(p.join().unwrap());
    }
}

#[test]
fn condition_waits_time_out() {
    let cond = Condition::new().unwrap();
    let mut guard = cond.lock().unwrap();
    assert!(!guard.wait_timeout(Duration::from_millis(20)).unwrap());
    assert!(!guard.wait_for(|| false, Some(Duration::from_millis(20))).unwrap());
    assert!(guard.wait_for(|| true, None).unwrap());
    guard.notify_all(); // nobody waits: harmless
}

fn set_event(e: Event) {
    e.set();
}

#[test]
fn an_event_set_in_a_child_wakes_the_parent() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let e = Event::new().unwrap();
        assert!(!e.is_set());
        assert!(!e.wait_timeout(Duration::from_millis(10)));
        let mut p = Context::new(method).process(set_event, e.clone());
        p.start().unwrap();
        e.wait();
        assert!(e.is_set() && e.wait_timeout(Duration::ZERO));
        e.clear();
        assert!(!e.is_set());
        p.join().unwrap();
    }
}

/// Passes the barrier ten times; the arrival indices it got.
fn pass(b: Barrier) -> Vec<u32> {
    (0..10).map(|_| b.wait().unwrap()).collect()
}

#[test]
fn a_barrier_lets_parties_of_several_processes_pass_in_lockstep() {
    let _serial = common::serial();
    let b = Barrier::new(4).unwrap();
    let mut children: Vec<_> = StartMethod::ALL
        .into_iter()
        .map(|m| {
            let mut p = Context::new(m).process(pass, b.clone());
            p.start().unwrap();
            p
        })
        .collect();
    let mine = pass(b.clone());
    let mut all = vec![mine];
    for p in &mut children {
        all.push(p.join().unwrap());
    }
    for round in 0..10 {
        let mut indices: Vec<u32> = all.iter().map(|v| v[round]).collect();
        indices.sort_unstable();
        assert_eq!(indices, [0, 1, 2, 3], "pass {round}");
    }
    assert!(!b.is_broken());
}

#[test]
fn barrier_timeout_abort_and_reset() {
    let b = Barrier::new(2).unwrap();
    assert_eq!(Barrier::new(1).unwrap().wait().unwrap(), 0, "one party never waits");
    assert!(matches!(b.wait_timeout(Duration::from_millis(20)), Err(BarrierError::TimedOut)));
    assert!(b.is_broken());
    assert!(matches!(b.wait(), Err(BarrierError::Broken)));
    b.reset().unwrap();
    assert!(!b.is_broken());
    std::thread::scope(|s| {
        let other = s.spawn(|| b.wait());
        assert!(b.wait().is_ok());
        assert!(other.join().unwrap().is_ok());
    });
    b.abort().unwrap();
    assert!(matches!(b.wait(), Err(BarrierError::Broken)));
    assert_eq!(b.parties(), 2);
}
