//! Where CPython hangs or loses data, under every start method: a holder of a lock,
//! semaphore or condition killed holding it (the next one gets `OwnerDied` and the lock),
//! a producer killed in the middle of its puts (no torn message, nobody else's lost), a
//! consumer waiting while every sender is killed (`Disconnected`, not a hang), a barrier
//! party killed before it arrives (`PartyDied`). Each test kills a real child with
//! SIGKILL; each would hang on CPython 3.13 (or, for the queue, read a torn message).

use std::time::Duration;

use multiproc::sync::{
    Barrier, BarrierError, Condition, Connection, Event, GetError, Lock, LockError, Pipe, Queue,
    QueueSender, RLock, RecvError, Semaphore, Value,
};
use multiproc::{Context, Process, StartMethod};

mod common;

/// Takes whatever `hold` takes, says so, and waits to be killed.
fn hold_until_killed<T>(hold: impl FnOnce() -> T, held: &Event) -> ! {
    let _kept = hold();
    held.set();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn hold_lock(args: (Lock, Event)) {
    hold_until_killed(|| args.0.lock().unwrap(), &args.1)
}

fn hold_rlock(args: (RLock, Event)) {
    hold_until_killed(|| (args.0.lock().unwrap(), args.0.lock().unwrap()), &args.1)
}

fn hold_semaphore(args: (Semaphore, Event)) {
    hold_until_killed(|| args.0.acquire().unwrap(), &args.1)
}

fn hold_condition(args: (Condition, Event)) {
    hold_until_killed(|| args.0.lock().unwrap(), &args.1)
}

/// Half-writes the value under its lock: what a holder killed mid-update leaves.
fn half_update(args: (Value<[u64; 2]>, Event)) {
    let (value, held) = args;
    hold_until_killed(
        || {
            let mut guard = value.lock().unwrap();
            guard[0] = 1; // ... and is killed before guard[1] = 1
            guard
        },
        &held,
    )
}

/// Starts `f(arg)` with `method`, waits until it holds, kills it, reaps it.
fn kill_holder<A>(method: StartMethod, f: fn((A, Event)), arg: A)
where
    A: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    let held = Event::new().unwrap();
    let mut p = Context::new(method).process(f, (arg, held.clone()));
    p.start().unwrap();
    assert!(held.wait_timeout(common::GUARD), "{method}: the child never held");
    p.kill().unwrap();
    assert!(p.join().is_err());
}

#[test]
fn a_lock_whose_holder_is_killed_passes_to_the_next_with_owner_died() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let lock = Lock::new().unwrap();
        kill_holder(method, hold_lock, lock.clone());
        let guard = match lock.lock() {
            Err(LockError::OwnerDied(guard)) => guard,
            other => panic!("{method}: {other:?}"),
        };
        drop(guard);
        assert!(lock.try_lock().is_ok(), "{method}: the lock works again");
    }
}

#[test]
fn a_waiter_blocked_on_the_lock_wakes_when_the_holder_dies() {
    let _serial = common::serial();
    let lock = Lock::new().unwrap();
    let held = Event::new().unwrap();
    let mut p = Process::new(hold_lock, (lock.clone(), held.clone()));
    p.start().unwrap();
    assert!(held.wait_timeout(common::GUARD));
    std::thread::scope(|s| {
        let waiter = s.spawn(|| lock.lock().map(drop).map_err(|e| e.is_owner_died()));
        p.kill().unwrap(); // the waiter is blocked (or about to be): no timeout involved
        assert_eq!(waiter.join().unwrap(), Err(true));
    });
    let _ = p.join();
}

#[test]
fn an_rlock_and_a_condition_whose_holder_is_killed_pass_on_too() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let rlock = RLock::new().unwrap();
        kill_holder(method, hold_rlock, rlock.clone());
        assert!(matches!(rlock.lock(), Err(LockError::OwnerDied(_))), "{method}");
        assert!(rlock.try_lock().is_ok());

        let cond = Condition::new().unwrap();
        kill_holder(method, hold_condition, cond.clone());
        assert!(matches!(cond.lock(), Err(LockError::OwnerDied(_))), "{method}");
        assert!(cond.try_lock().is_ok());
    }
}

#[test]
fn a_semaphore_unit_held_by_a_killed_process_comes_back() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let sem = Semaphore::new(1).unwrap();
        kill_holder(method, hold_semaphore, sem.clone());
        let unit = match sem.acquire() {
            Err(LockError::OwnerDied(unit)) => unit,
            other => panic!("{method}: {other:?}"),
        };
        drop(unit);
        assert_eq!(sem.value(), 1, "{method}");
    }
}

#[test]
fn a_semaphore_waiter_wakes_when_the_holder_dies() {
    let _serial = common::serial();
    let sem = Semaphore::new(1).unwrap();
    let held = Event::new().unwrap();
    let mut p = Process::new(hold_semaphore, (sem.clone(), held.clone()));
    p.start().unwrap();
    assert!(held.wait_timeout(common::GUARD));
    std::thread::scope(|s| {
        let waiter = s.spawn(|| sem.acquire().map(drop).map_err(|e| e.is_owner_died()));
        p.kill().unwrap();
        assert_eq!(waiter.join().unwrap(), Err(true));
    });
    let _ = p.join();
}

#[test]
fn a_value_half_written_by_a_killed_holder_is_reported_for_repair() {
    let _serial = common::serial();
    let value = Value::new([0u64; 2]).unwrap();
    kill_holder(StartMethod::ForkServer, half_update, value.clone());
    match value.lock() {
        Err(LockError::OwnerDied(mut guard)) => {
            assert_eq!(*guard, [1, 0], "the half update is visible");
            *guard = [0, 0]; // repaired
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(value.get(), [0, 0]);
}

/// An item whose body is a function of its sequence number: a torn item would not check.
fn item(seq: u32, len: usize) -> (u32, multiproc::Bytes) {
    let body: Vec<u8> =
        (0..len).map(|i| (seq as usize).wrapping_mul(31).wrapping_add(i) as u8).collect();
    (seq, body.into())
}

fn produce_until_killed(args: (QueueSender<(u32, multiproc::Bytes)>, Event)) {
    let (tx, started) = args;
    for seq in 0.. {
        tx.put(item(seq, 256 << 10)).unwrap();
        if seq == 20 {
            started.set();
        }
    }
}

fn produce_small(tx: QueueSender<(u32, multiproc::Bytes)>) {
    for seq in 0..1000 {
        tx.put(item(seq, 16)).unwrap();
    }
}

#[test]
fn a_producer_killed_mid_put_tears_nothing_and_loses_nobody_elses_items() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let (tx, rx) = Queue::new().unwrap().split();
        let started = Event::new().unwrap();
        let ctx = Context::new(method);
        let mut big = ctx.process(produce_until_killed, (tx.clone(), started.clone()));
        let mut small = ctx.process(produce_small, tx);
        big.start().unwrap();
        small.start().unwrap();
        assert!(started.wait_timeout(common::GUARD));
        big.kill().unwrap(); // most likely in the middle of a 256 KiB put
        let _ = big.join();
        small.join().unwrap();
        let (mut next_big, mut next_small) = (0, 0);
        loop {
            match rx.get() {
                Ok((seq, body)) if body.len() == 16 => {
                    assert_eq!((seq, body), item(next_small, 16), "{method}");
                    next_small += 1;
                }
                Ok((seq, body)) => {
                    assert_eq!((seq, body), item(next_big, 256 << 10), "{method}: torn or lost");
                    next_big += 1;
                }
                Err(GetError::Disconnected) => break,
                Err(e) => panic!("{method}: {e}"),
            }
        }
        assert!(next_big > 20, "{method}");
        assert_eq!(next_small, 1000, "{method}: another producer's items were lost");
    }
}

fn say_ready_then_sleep(args: (QueueSender<u8>, Event)) {
    let (_tx, ready) = args;
    ready.set();
    std::thread::sleep(Duration::from_secs(3600));
}

#[test]
fn a_consumer_waiting_on_a_queue_gets_disconnected_when_every_sender_is_killed() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let (tx, rx) = Queue::<u8>::new().unwrap().split();
        let ready = Event::new().unwrap();
        let mut p = Context::new(method).process(say_ready_then_sleep, (tx, ready.clone()));
        p.start().unwrap();
        assert!(ready.wait_timeout(common::GUARD));
        std::thread::scope(|s| {
            let consumer = s.spawn(|| rx.get());
            p.kill().unwrap();
            assert!(matches!(consumer.join().unwrap(), Err(GetError::Disconnected)), "{method}");
        });
        let _ = p.join();
    }
}

fn hold_pipe_end(args: (Connection<u8>, Event)) {
    let (_end, ready) = args;
    ready.set();
    std::thread::sleep(Duration::from_secs(3600));
}

#[test]
fn a_receiver_on_a_pipe_gets_disconnected_when_the_other_end_is_killed() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let (here, there) = Pipe::<u8>::new().unwrap();
        let ready = Event::new().unwrap();
        let mut p = Context::new(method).process(hold_pipe_end, (there, ready.clone()));
        p.start().unwrap();
        assert!(ready.wait_timeout(common::GUARD));
        std::thread::scope(|s| {
            let receiver = s.spawn(|| here.recv());
            p.kill().unwrap();
            assert!(matches!(receiver.join().unwrap(), Err(RecvError::Disconnected)), "{method}");
        });
        let _ = p.join();
    }
}

/// Passes once, then stops arriving (says so) and waits to be killed.
fn pass_once_then_stall(args: (Barrier, Event)) {
    let (b, stalled) = args;
    b.wait().unwrap();
    stalled.set();
    std::thread::sleep(Duration::from_secs(3600));
}

/// Passes once, then waits for the second pass.
fn pass_twice(b: Barrier) -> String {
    b.wait().unwrap();
    format!("{:?}", b.wait())
}

#[test]
fn a_barrier_party_killed_before_it_arrives_breaks_the_barrier_for_the_others() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let b = Barrier::new(3).unwrap();
        let stalled = Event::new().unwrap();
        let ctx = Context::new(method);
        let mut staller = ctx.process(pass_once_then_stall, (b.clone(), stalled.clone()));
        let mut other = ctx.process(pass_twice, b.clone());
        staller.start().unwrap();
        other.start().unwrap();
        b.wait().unwrap();
        assert!(stalled.wait_timeout(common::GUARD));
        let pid = staller.pid().unwrap() as libc::pid_t;
        let killer = std::thread::spawn(move || {
            // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        // This thread waits (or is about to) for the party that is being killed.
        assert!(matches!(b.wait(), Err(BarrierError::PartyDied)), "{method}");
        killer.join().unwrap();
        assert_eq!(other.join().unwrap(), "Err(PartyDied)", "{method}");
        let _ = staller.join();
        assert!(b.is_broken());
    }
}
