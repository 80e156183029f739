//! Awaiting futures from an async runtime: several at once, without parking a thread per
//! future. `multiproc::Future` implements `std::future::Future`, so any runtime works;
//! this one uses the `futures` crate's small executor (a dev-dependency only).
//!
//! Python twin: `asyncio.get_running_loop().run_in_executor(ProcessPoolExecutor(), f, x)`.
//!
//! Run: `cargo run --release --example executor_async`

use std::time::Instant;

use futures::executor::block_on;
use futures::future::join_all;
use multiproc::{ProcessPoolExecutor, TaskError};

fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n != 1 {
        n = if n.is_multiple_of(2) { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

fn picky(n: u64) -> u64 {
    assert!(n != 0, "zero has no Collatz sequence");
    n
}

fn main() -> anyhow::Result<()> {
    let ex = ProcessPoolExecutor::new(2)?;
    let t = Instant::now();
    let futures = (1..=20u64).map(|n| ex.submit(collatz_steps, n * 1_000_003));
    let futures = futures.collect::<Result<Vec<_>, _>>()?;
    let steps: Vec<u32> = block_on(async {
        join_all(futures).await.into_iter().collect::<Result<Vec<u32>, TaskError>>()
    })?;
    println!("awaited 20 futures at once in {:?}: steps {steps:?}", t.elapsed());
    anyhow::ensure!(steps.len() == 20 && steps[0] == collatz_steps(1_000_003));

    let failed = block_on(ex.submit(picky, 0)?);
    println!("an awaited failure is a value too: {}", failed.as_ref().unwrap_err());
    anyhow::ensure!(failed.unwrap_err().panic().is_some());
    Ok(())
}
