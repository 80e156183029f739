//! A pool started with `StartMethod::Fork` keeps working, replacing workers as it goes
//! (`max_tasks_per_child(1)`), while another thread of the parent lists its children
//! and itself (`active_children()`, `current_process()`, as in Python's
//! `multiprocessing`): a forked worker must not wait for a lock that only another thread
//! of the parent could release. (The pool's own threads take the same locks when they
//! start workers, so a `Fork` pool that replaces workers can get stuck without help.)
//!
//! This file holds one test: the listing thread runs for its whole duration.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use multiproc::pool::{AsyncResult, Pool, TaskError};
use multiproc::{StartMethod, active_children, current_process};

fn pid(_: u32) -> u32 {
    std::process::id()
}

#[test]
fn a_fork_pool_replaces_workers_while_children_are_listed() {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let lister = std::thread::spawn(move || {
        let mut n = 0u64;
        while !flag.load(Ordering::Relaxed) {
            n += active_children().len() as u64;
            n += u64::from(current_process().pid);
        }
        n
    });
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Fork)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let pending: Vec<AsyncResult<u32>> =
        (0..200).map(|i| pool.apply_async(pid, i).unwrap()).collect();
    let mut stuck = None;
    for (i, r) in pending.iter().enumerate() {
        match r.get_timeout(Duration::from_secs(10)) {
            Ok(_) => {}
            Err(TaskError::WaitTimedOut) => {
                stuck = Some(i);
                break;
            }
            Err(e) => panic!("task {i}: {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    lister.join().unwrap();
    if stuck.is_some() {
        // The pool cannot be joined: leave it to the end of the test process.
        std::mem::forget(pool);
    }
    assert_eq!(stuck, None, "a task never ran: its freshly forked worker is stuck");
}
