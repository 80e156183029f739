//! `Pool::insights` and `ProcessPoolExecutor::insights` account for every task (done or
//! failed, by the worker that ran it) and every restart (with its cause), and each
//! worker's start-up, initializer, working and waiting times add up within the wall
//! clock. Python's twin is mpire's `insights`; CPython's pools have none.

use std::time::Duration;

use multiproc::pool::{Insights, RestartCause};
use multiproc::{ExitStatus, Pool, ProcessPoolExecutor, TaskError};

mod common;
use common::square;

/// Item 13 kills its worker (exit code 7); items 3, 23 and 33 return `Err`.
fn mixed(i: u32) -> Result<u32, std::fmt::Error> {
    match i {
        13 => std::process::exit(7),
        i if i % 10 == 3 => Err(std::fmt::Error),
        i => Ok(i),
    }
}

fn setup(_: ()) {}

/// Each worker's times fit in the pool's life.
fn assert_times_fit(insights: &Insights) {
    for (i, w) in insights.workers.iter().enumerate() {
        let lived = w.startup + w.initializer + w.working + w.waiting;
        assert!(lived <= insights.wall, "worker {i}: {lived:?} > {:?}\n{insights}", insights.wall);
    }
}

fn totals(insights: &Insights) -> (u64, u64, u64) {
    let done = insights.workers.iter().map(|w| w.tasks_done).sum();
    let failed = insights.workers.iter().map(|w| w.tasks_failed).sum();
    let restarts = insights.workers.iter().map(|w| w.restart_count()).sum();
    (done, failed, restarts)
}

#[test]
fn every_task_and_the_death_of_a_worker_are_accounted() {
    let pool = Pool::builder().processes(2).initializer(setup, ()).build().unwrap();
    // Both workers up first: one worker can otherwise run all 40 items (and die at 13)
    // before the other has started, and a worker still starting has no pid yet.
    common::wait_until("both workers are up", || pool.worker_pids().len() == 2);
    let out = pool.chunksize(1).map_results(mixed, 0..40).unwrap();
    assert!(matches!(out[13], Err(TaskError::WorkerDied { .. })), "{:?}", out[13]);
    assert_eq!(out.iter().filter(|r| r.is_err()).count(), 4);
    let insights = pool.insights();
    assert_eq!(totals(&insights), (36, 4, 1), "\n{insights}");
    let restarts: Vec<_> = insights.workers.iter().flat_map(|w| w.restarts.clone()).collect();
    assert_eq!(restarts, [(RestartCause::Died(Some(ExitStatus::Code(7))), 1)]);
    assert_times_fit(&insights);
    // The worker that did not die is still there, with its pid (the replacement may
    // still be starting, and has none yet).
    let survivor = insights.workers.iter().find(|w| w.restarts.is_empty()).unwrap();
    assert!(survivor.pid.is_some(), "\n{insights}");
    let table = insights.to_string();
    assert!(table.contains("1 died (7)"), "{table}");
}

#[test]
fn retired_and_timed_out_workers_are_restarts_with_their_causes() {
    // One worker of at most three items: items 0-2, 3-5 and 6-7 run on three workers.
    let pool = Pool::builder().processes(1).max_tasks_per_child(3).build().unwrap();
    assert_eq!(pool.chunksize(1).map(square, 0..8u64).unwrap().len(), 8);
    let insights = pool.insights();
    assert_eq!(insights.workers[0].restarts, [(RestartCause::MaxTasks, 2)], "\n{insights}");
    assert_eq!(totals(&insights), (8, 0, 2));
    assert_times_fit(&insights);

    let pool = Pool::builder().processes(1).timeout(Duration::from_millis(300)).build().unwrap();
    let out = pool.chunksize(1).map_results(common::sleep_ms, [1, 3_600_000, 2]).unwrap();
    assert!(matches!(out[1], Err(TaskError::TimedOut { .. })), "{out:?}");
    let insights = pool.insights();
    assert_eq!(insights.workers[0].restarts, [(RestartCause::TimedOut, 1)], "\n{insights}");
    assert_eq!(totals(&insights), (2, 1, 1));
    assert_times_fit(&insights);
}

#[test]
fn the_slowest_tasks_are_named_by_their_index() {
    let pool = Pool::new(2).unwrap();
    let naps = [1u64, 1, 250, 1, 1, 1];
    pool.chunksize(1).map(common::sleep_ms, naps).unwrap();
    let insights = pool.insights();
    let slowest = insights.slowest[0];
    assert_eq!((slowest.index, slowest.items), (2, 1), "\n{insights}");
    assert!(slowest.duration >= Duration::from_millis(250), "\n{insights}");
    assert_eq!(totals(&insights), (6, 0, 0));
    assert!(insights.outside_task_code.is_some_and(|s| (0.0..=1.0).contains(&s)));
    assert_times_fit(&insights);
}

#[test]
fn the_executor_has_the_same_insights() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let futures: Vec<_> = (0..20u64).map(|i| ex.submit(square, i).unwrap()).collect();
    for f in &futures {
        f.result().unwrap();
    }
    let insights = ex.insights();
    assert_eq!(insights.workers.len(), 2);
    assert_eq!(totals(&insights), (20, 0, 0), "\n{insights}");
    assert_times_fit(&insights);
}
