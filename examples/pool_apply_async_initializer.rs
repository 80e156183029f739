//! An initializer that runs once in every worker, then the same work four ways: a
//! serial loop, `map`, `apply` in a loop (blocking: one task at a time) and
//! `apply_async` (submit all, then collect).
//!
//! Python twin: `Pool(2, initializer=init, initargs=(...,))` with `map`, `apply` and
//! `apply_async(...).get()` against a plain loop.
//!
//! Run: `cargo run --release --example pool_apply_async_initializer`

use std::time::Instant;

use multiproc::current_process;
use multiproc::pool::Pool;

fn announce(greeting: String) {
    let me = current_process();
    println!("  initializer: {greeting} from {} (pid {})", me.name, me.pid);
}

/// ~0.1 s of arithmetic the optimiser cannot remove.
fn work(n: u64) -> u64 {
    let mut x = n;
    for i in 0..70_000_000u64 {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

fn main() -> anyhow::Result<()> {
    let inputs: Vec<u64> = (1..=8).collect();
    let timed = |label: &str, f: &mut dyn FnMut() -> anyhow::Result<Vec<u64>>| {
        let t = Instant::now();
        let out = f()?;
        println!("{label:<28} {:.2} s", t.elapsed().as_secs_f64());
        anyhow::Ok(out)
    };

    let serial = timed("serial loop", &mut || Ok(inputs.iter().map(|&n| work(n)).collect()))?;

    let pool = Pool::builder().processes(2).initializer(announce, "ready".to_string()).build()?;
    pool.map(work, [0, 0])?; // not timed: both workers start and run the initializer

    let mapped = timed("map", &mut || Ok(pool.map(work, inputs.clone())?))?;
    let applied = timed("apply, one at a time", &mut || {
        Ok(inputs.iter().map(|&n| pool.apply(work, n)).collect::<Result<_, _>>()?)
    })?;
    let asynced = timed("apply_async, then get", &mut || {
        let pending: Vec<_> =
            inputs.iter().map(|&n| pool.apply_async(work, n)).collect::<Result<_, _>>()?;
        Ok(pending.into_iter().map(|r| r.get()).collect::<Result<_, _>>()?)
    })?;

    anyhow::ensure!(mapped == serial && applied == serial && asynced == serial);
    println!("All four agree; apply waits for each task, apply_async and map overlap them.");
    Ok(())
}
