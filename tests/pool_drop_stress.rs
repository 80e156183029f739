//! No drop, `terminate`, `close` + `join` or executor shutdown hangs: thousands of create /
//! submit / stop cycles of pools with a per-task timeout (whose watchdog once missed its
//! wake-up and blocked a drop for good, 1 to 3 times in 2,000), each stopped right after a
//! result, in each of the ways a pool stops, under every start method. A guard thread
//! fails the test if a cycle does not end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use multiproc::pool::Pool;
use multiproc::{ProcessPoolExecutor, StartMethod};

mod common;
use common::{GUARD, serial, square};

/// Cycles per start method: a fork server starts a worker in about a millisecond, spawn
/// re-executes the test binary each time.
fn cycles(method: StartMethod) -> usize {
    match method {
        StartMethod::Spawn => 150,
        _ => 1_000,
    }
}

fn pool(method: StartMethod) -> Pool {
    Pool::builder()
        .processes(1)
        .start_method(method)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[test]
fn thousands_of_pools_stop_without_hanging() {
    let _serial = serial();
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let counter = Arc::clone(&done);
    std::thread::spawn(move || {
        for method in StartMethod::ALL {
            for cycle in 0..cycles(method) {
                match cycle % 4 {
                    0 => {
                        let pool = pool(method);
                        assert_eq!(pool.apply(square, 3), Ok(9));
                        drop(pool);
                    }
                    1 => {
                        let pool = pool(method);
                        assert_eq!(pool.apply(square, 3), Ok(9));
                        pool.terminate();
                        pool.join().unwrap();
                    }
                    2 => {
                        let pool = pool(method);
                        assert_eq!(pool.apply(square, 3), Ok(9));
                        pool.close();
                        pool.join().unwrap();
                    }
                    _ => {
                        let ex = ProcessPoolExecutor::from(pool(method));
                        assert_eq!(ex.submit(square, 3).unwrap().result(), Ok(9));
                        ex.shutdown(true, false);
                    }
                }
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        let _ = tx.send(());
    });
    // Progress is checked every guard period: a cycle that blocks stops the count.
    let mut seen = 0;
    loop {
        match rx.recv_timeout(GUARD) {
            Ok(()) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = done.load(Ordering::Relaxed);
                assert!(now > seen, "no cycle ended in {GUARD:?}: one hangs (after {now})");
                seen = now;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("a cycle failed"),
        }
    }
}
