//! Waiting in parallel: `map(sleep, [0.1, 0.2, 0.3, 0.4])` on four workers takes as long
//! as the longest sleep (~0.4 s), not their sum (1.0 s); then `starmap` with
//! `(seconds, message)` tuples.
//!
//! Python twin: `Pool(4).map(time.sleep, [1, 2, 3, 4])` (~4 s, not 10 s) and
//! `pool.starmap(sleep_and_say, [(1, "a"), ...])`, scaled down to tenths of a second.
//!
//! Run: `cargo run --release --example pool_sleep_starmap`

use std::time::{Duration, Instant};

use multiproc::pool::Pool;

fn sleep(seconds: f64) -> f64 {
    std::thread::sleep(Duration::from_secs_f64(seconds));
    seconds
}

fn sleep_and_say(seconds: f64, message: String) -> String {
    std::thread::sleep(Duration::from_secs_f64(seconds));
    format!("{message} (after {seconds} s in pid {})", std::process::id())
}

fn main() -> anyhow::Result<()> {
    let pool = Pool::new(4)?;
    pool.map(sleep, [0.0; 4])?; // not timed: start the four workers

    let naps = [0.1, 0.2, 0.3, 0.4];
    let t = Instant::now();
    let slept = pool.map(sleep, naps)?;
    let took = t.elapsed().as_secs_f64();
    let total: f64 = slept.iter().sum();
    println!("map(sleep, {naps:?}): {took:.2} s for {total:.1} s of sleep, longest 0.4 s");
    anyhow::ensure!(slept == naps, "results come back in input order");
    anyhow::ensure!(took < 0.65, "the naps overlap: {took:.2} s is not ~0.4 s");

    let jobs = [(0.3, "slowest"), (0.1, "fastest"), (0.2, "middle")];
    let t = Instant::now();
    let said = pool.starmap(sleep_and_say, jobs.map(|(s, m)| (s, m.to_string())))?;
    for line in &said {
        println!("  {line}");
    }
    let took = t.elapsed().as_secs_f64();
    println!("starmap over {} tuples: {took:.2} s, results in input order", jobs.len());
    anyhow::ensure!(said[0].starts_with("slowest") && said[2].starts_with("middle"));
    anyhow::ensure!(took < 0.55, "the sleeps overlap: {took:.2} s is not less than 0.6 s");
    Ok(())
}
