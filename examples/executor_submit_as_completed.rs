//! Submit sleeps of 5, 4, 3, 2 and 1 (tenths of a second) and print them as they
//! complete; then `map` the same work and print in submission order.
//!
//! Python twin: the "new method" with `concurrent.futures.ProcessPoolExecutor`:
//! `futures = [ex.submit(sleep, s) for s in secs]; for f in as_completed(futures): ...`,
//! then `ex.map(sleep, secs)`.
//!
//! Run: `cargo run --release --example executor_submit_as_completed`

use std::time::{Duration, Instant};

use multiproc::{ProcessPoolExecutor, as_completed};

fn nap(tenths: u64) -> String {
    std::thread::sleep(Duration::from_millis(100 * tenths));
    format!("done sleeping {tenths}/10 s")
}

fn main() -> anyhow::Result<()> {
    let ex = ProcessPoolExecutor::new(5)?;
    let secs = [5, 4, 3, 2, 1];

    let t = Instant::now();
    let futures = secs.iter().map(|&s| ex.submit(nap, s)).collect::<Result<Vec<_>, _>>()?;
    let mut order = Vec::new();
    for f in as_completed(&futures, Some(Duration::from_secs(30))) {
        let message = f?.result()?;
        println!("{:>5.2} s  {message}", t.elapsed().as_secs_f64());
        order.push(message);
    }
    anyhow::ensure!(order.first().is_some_and(|m| m.contains(" 1/10")), "shortest nap first");

    let t = Instant::now();
    for message in ex.map(nap, secs)? {
        println!("{:>5.2} s  {} (map keeps submission order)", t.elapsed().as_secs_f64(), message?);
    }
    anyhow::ensure!(t.elapsed() < Duration::from_millis(1500), "five naps overlap");
    Ok(())
}
