//! One error story for every call that runs tasks: each answers `TaskError` — a closed
//! pool is `NotRunning` whether the call waits (`apply`, `map`) or not (`apply_async`,
//! `imap`, `submit`); chunk size 0 is refused by every call that takes one
//! (`ZeroChunksize`, as Python's "Chunksize must be 1+"); a wait that runs out is
//! `WaitTimedOut` for `get_timeout`, `result_timeout`, `next_timeout` alike, and `IMap`'s
//! `next` and `next_timeout` answer the same type; `WorkerDied` names a signal as a signal;
//! a pool's worker pids are the processes that run its tasks.
//!
//! CPython's twins: `_TestPool.test_map_chunksize` (chunksize 0 raises), `test_terminate`'s
//! "Pool not running", `test_async_timeout`, rewritten.

use std::time::Duration;

use multiproc::{ExitStatus, IMap, MapOptions, Pool, PoolError, ProcessPoolExecutor, TaskError};

mod common;
use common::{Gate, gated, square, wait_until};

#[test]
fn chunk_size_zero_is_refused_by_every_call_that_takes_one() {
    let pool = Pool::new(1).unwrap();
    let zero = pool.chunksize(0);
    assert_eq!(zero.map(square, 0..4), Err(TaskError::ZeroChunksize));
    assert_eq!(zero.map_results(square, 0..4).unwrap_err(), TaskError::ZeroChunksize);
    assert_eq!(zero.map_async(square, 0..4).unwrap_err(), TaskError::ZeroChunksize);
    assert_eq!(zero.starmap(|a: u64, b: u64| a + b, [(1, 2)]), Err(TaskError::ZeroChunksize));
    assert_eq!(zero.imap(square, 0..4).unwrap_err(), TaskError::ZeroChunksize);
    assert_eq!(zero.imap_unordered(square, 0..4).unwrap_err(), TaskError::ZeroChunksize);
    assert_eq!(
        zero.imap_star(|a: u64, b: u64| a + b, [(1, 2)]).unwrap_err(),
        TaskError::ZeroChunksize
    );
    assert_eq!(TaskError::ZeroChunksize.to_string(), "chunk size must be at least 1");
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let options = MapOptions::default().chunksize(0);
    assert_eq!(ex.map_with(square, 0..4, options).unwrap_err(), TaskError::ZeroChunksize);
    // Chunk size 1 and up still work.
    assert_eq!(pool.chunksize(1).map(square, 0..3), Ok(vec![0, 1, 4]));
}

#[test]
fn not_running_is_one_error_whether_the_call_waits_or_not() {
    let pool = Pool::new(1).unwrap();
    pool.close();
    assert_eq!(pool.apply(square, 1), Err(TaskError::NotRunning));
    assert_eq!(pool.apply_async(square, 1).unwrap_err(), TaskError::NotRunning);
    assert_eq!(pool.map(square, 0..2), Err(TaskError::NotRunning));
    assert_eq!(pool.map_async(square, 0..2).unwrap_err(), TaskError::NotRunning);
    assert_eq!(pool.imap(square, 0..2).unwrap_err(), TaskError::NotRunning);
    assert_eq!(pool.apply_star(|a: u8, b: u8| a + b, (1, 2)), Err(TaskError::NotRunning));
    assert_eq!(pool.submit_with(square, 1, |_| ()).unwrap_err(), TaskError::NotRunning);
    pool.join().unwrap();
    let ex = ProcessPoolExecutor::new(1).unwrap();
    ex.shutdown(true, false);
    assert_eq!(ex.submit(square, 1).unwrap_err(), TaskError::NotRunning);
    assert_eq!(ex.submit_star(|a: u8, b: u8| a + b, (1, 2)).unwrap_err(), TaskError::NotRunning);
    assert_eq!(ex.map(square, 0..2).unwrap_err(), TaskError::NotRunning);
    // Building is the other family of errors, shared by both.
    assert_eq!(Pool::new(0).unwrap_err(), PoolError::NoProcesses);
    assert_eq!(ProcessPoolExecutor::new(0).unwrap_err(), PoolError::NoProcesses);
}

#[test]
fn every_wait_that_runs_out_is_wait_timed_out_and_the_task_goes_on() {
    let pool = Pool::new(2).unwrap();
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let (g1, g2, g3) = (Gate::new("wait-1"), Gate::new("wait-2"), Gate::new("wait-3"));
    let r = pool.apply_async(gated, g1.arg()).unwrap();
    let mut it: IMap<String, u64, _> = pool.imap(gated, [g2.arg()]).unwrap();
    let f = ex.submit(gated, g3.arg()).unwrap();
    let short = Duration::from_millis(20);
    assert_eq!(r.get_timeout(short), Err(TaskError::WaitTimedOut));
    assert_eq!(it.next_timeout(short), Some(Err(TaskError::WaitTimedOut)));
    assert_eq!(f.result_timeout(short), Err(TaskError::WaitTimedOut));
    assert_eq!(f.exception_timeout(short), Err(TaskError::WaitTimedOut));
    for g in [&g1, &g2, &g3] {
        g.open();
    }
    assert_eq!(r.get_timeout(common::GUARD), Ok(7));
    // `next` and `next_timeout` answer the same type.
    let next: Option<Result<u64, TaskError>> = it.next_timeout(common::GUARD);
    assert_eq!(next, Some(Ok(7)));
    let end: Option<Result<u64, TaskError>> = it.next();
    assert_eq!(end, None);
    assert_eq!(f.result(), Ok(7));
}

#[test]
fn worker_died_reads_a_signal_as_a_signal_and_a_code_as_a_code() {
    let pool = Pool::new(1).unwrap();
    let err = pool.apply(|_: ()| -> u8 { std::process::abort() }, ()).unwrap_err();
    assert!(err.to_string().ends_with(": killed by signal 6 (SIGABRT)"), "{err}");
    let err = pool.apply(|code: i32| -> u8 { std::process::exit(code) }, 3).unwrap_err();
    assert!(err.to_string().ends_with(": exit code 3"), "{err}");
    assert_eq!(ExitStatus::Signal(9).describe(), "killed by signal 9 (SIGKILL)");
    // Python's `exitcode` form stays where Python shows it.
    assert_eq!(ExitStatus::Signal(9).to_string(), "-9 (SIGKILL)");
}

#[test]
fn a_pools_worker_pids_are_the_processes_that_run_its_tasks() {
    let pool = Pool::new(2).unwrap();
    let ran: Vec<u32> = pool.chunksize(1).map(|_: u8| std::process::id(), 0..50).unwrap();
    wait_until("both workers are up", || pool.worker_pids().len() == 2);
    let pids = pool.worker_pids();
    assert!(!pids.contains(&std::process::id()));
    assert!(ran.iter().all(|pid| pids.contains(pid)), "{ran:?} not all in {pids:?}");
}
