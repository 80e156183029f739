//! A pool started with `StartMethod::Fork` while another thread of the parent is inside
//! a panic hook (printing a panic and its backtrace takes a while) must still run tasks:
//! the forked worker must not wait for a lock that only the parent's panicking thread
//! could release.
//!
//! This file holds one test: it replaces the process-wide panic hook.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use multiproc::StartMethod;
use multiproc::pool::{Pool, TaskError};

mod common;
use common::square;

#[test]
fn a_fork_pool_works_while_another_thread_is_panicking() {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let hook_rx = release_rx.clone();
    let entered_tx = Mutex::new(entered_tx);
    // A panic hook that takes its time, as the default one does while it resolves and
    // prints a backtrace.
    std::panic::set_hook(Box::new(move |_| {
        let _ = entered_tx.lock().unwrap_or_else(|e| e.into_inner()).send(());
        let _ =
            hook_rx.lock().unwrap_or_else(|e| e.into_inner()).recv_timeout(Duration::from_secs(60));
    }));
    let panicking = std::thread::spawn(|| panic!("a slow panic elsewhere in the program"));
    entered_rx.recv().unwrap();

    // Another thread is inside the panic hook now.
    let pool = Pool::builder().processes(2).start_method(StartMethod::Fork).build().unwrap();
    let got = pool.apply_async(square, 7).unwrap().get_timeout(Duration::from_secs(10));
    let mapped = pool.map_async(square, 0..10).unwrap().get_timeout(Duration::from_secs(10));

    let _ = release_tx.send(());
    assert!(panicking.join().is_err());
    let _ = std::panic::take_hook();
    // Drop on another thread, so a stuck pool fails this test instead of blocking it.
    let (dropped_tx, dropped_rx) = mpsc::channel();
    std::thread::spawn(move || {
        drop(pool);
        let _ = dropped_tx.send(());
    });
    assert_ne!(got, Err(TaskError::WaitTimedOut), "a task of a forked worker never ran");
    assert_eq!(got, Ok(49));
    assert_eq!(mapped, Ok((0..10).map(square).collect::<Vec<_>>()));
    assert!(dropped_rx.recv_timeout(Duration::from_secs(10)).is_ok(), "dropping the pool hangs");
}
