//! A process is killed while it holds a lock, half-way through an update. CPython's other
//! processes would wait for ever; here the next one to lock gets `OwnerDied` with the
//! lock, repairs what was left half-done, and two processes then add under it.
//!
//! Python twin: `Value('q', 0)` incremented under `get_lock()`, with a holder that dies.
//!
//! Run: `cargo run --release --example lock_shared_counter`

use multiproc::Process;
use multiproc::sync::{Event, Lock, LockError, Value};

/// A counter and its shadow, which agree between updates.
type State = (Lock, Value<[u64; 2]>);

fn add(state: State) {
    let (lock, counter) = state;
    for _ in 0..10_000 {
        let _guard = lock.lock().unwrap();
        let [n, shadow] = counter.get();
        counter.set([n + 1, shadow + 1]);
    }
}

fn die_holding(args: (State, Event)) {
    let ((lock, counter), holding) = args;
    let _guard = lock.lock().unwrap();
    let [n, shadow] = counter.get();
    counter.set([n + 1, shadow]); // half of the update...
    holding.set();
    std::thread::sleep(std::time::Duration::from_secs(3600)); // ...and killed here
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let state: State = (Lock::new()?, Value::new([0u64; 2])?);
    let holding = Event::new()?;
    let mut doomed = Process::new(die_holding, (state.clone(), holding.clone()));
    doomed.start()?;
    holding.wait();
    doomed.kill()?; // while it holds the lock
    println!("the holder was killed: {:?}", doomed.join().unwrap_err());
    match state.0.lock() {
        Err(LockError::OwnerDied(_guard)) => {
            let [n, shadow] = state.1.get();
            println!("OwnerDied: counter {n}, shadow {shadow}; repairing");
            state.1.set([shadow, shadow]);
        }
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    let mut adders: Vec<_> = (0..2).map(|_| Process::new(add, state.clone())).collect();
    for p in &mut adders {
        p.start()?;
    }
    for p in &mut adders {
        p.join()?;
    }
    let [n, shadow] = state.1.get();
    println!("counter {n}, shadow {shadow}");
    assert_eq!((n, shadow), (20_000, 20_000));
    Ok(())
}
