//! Fault isolation: in one `map`, a task aborts its worker, another panics and a third
//! hangs past the pool's timeout. Each fails alone, with its own typed error; the
//! other tasks finish, and the pool replaces the workers it lost.
//!
//! Python twin: `Pool.map` where one task calls `os.abort()`. CPython's `Pool` replaces
//! the worker but that `map` never returns; `ProcessPoolExecutor` fails every pending
//! task with `BrokenProcessPool`; neither has a per-task timeout.
//!
//! Run: `cargo run --release --example fault_isolation`

use std::time::{Duration, Instant};

use multiproc::pool::{Pool, TaskError};

fn task(n: u32) -> u32 {
    match n {
        3 => std::process::abort(),
        5 => panic!("task {n} gave up"),
        7 => std::thread::sleep(Duration::from_secs(5)),
        _ => {}
    }
    n * 10
}

fn main() -> anyhow::Result<()> {
    let pool = Pool::builder().processes(2).timeout(Duration::from_millis(500)).build()?;

    let t = Instant::now();
    let outcomes = pool.chunksize(1).map_results(task, 0..10)?;
    for (n, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Ok(v) => println!("task {n}: {v}"),
            Err(e) => println!("task {n}: FAILED: {e}"),
        }
    }
    println!(
        "all ten accounted for in {:.2} s (a hang would have taken 5 s)",
        t.elapsed().as_secs_f64()
    );

    let failed = |n: usize| outcomes[n].as_ref().err();
    anyhow::ensure!(
        matches!(failed(3), Some(TaskError::WorkerDied { .. })),
        "abort: {:?}",
        outcomes[3]
    );
    anyhow::ensure!(matches!(failed(5), Some(TaskError::Panicked(_))), "panic: {:?}", outcomes[5]);
    anyhow::ensure!(
        matches!(failed(7), Some(TaskError::TimedOut { .. })),
        "hang: {:?}",
        outcomes[7]
    );
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    anyhow::ensure!(ok == 7, "the seven other tasks succeed, got {ok}");

    // The pool is whole again: both workers were replaced and take new work.
    anyhow::ensure!(pool.map(task, [1, 2, 4])? == [10, 20, 40]);
    println!("the pool still works: map(task, [1, 2, 4]) -> [10, 20, 40]");
    Ok(())
}
