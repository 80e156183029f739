//! CPU-bound work: twelve tasks run serially, with `Pool::map`, and with
//! `imap_unordered` in chunks of four, timed; all three must agree.
//!
//! Python twin: the classic "Starting multiprocessing test" script —
//! `Pool().map(work, range(12))` against a plain loop.
//!
//! Run: `cargo run --release --example pool_map_cpu_bound`

use std::time::Instant;

use multiproc::cpu_count;
use multiproc::pool::Pool;

/// A multiply loop the optimiser cannot remove (~0.15 s): task `n` returns a checksum.
fn work(n: u64) -> u64 {
    let mut x = n + 1;
    for i in 0..100_000_000u64 {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

fn main() -> anyhow::Result<()> {
    println!("Starting multiprocessing test ({} CPUs)", cpu_count());
    let tasks: Vec<u64> = (0..12).collect();

    let t = Instant::now();
    let serial: Vec<u64> = tasks.iter().map(|&n| work(n)).collect();
    let serial_time = t.elapsed().as_secs_f64();
    println!("serial:                     {serial_time:.2} s");

    let pool = Pool::new(cpu_count())?;
    pool.map(work, [0])?; // not timed: the workers are up and warm

    let t = Instant::now();
    let mapped = pool.map(work, tasks.iter().copied())?;
    let map_time = t.elapsed().as_secs_f64();
    println!("Pool.map:                   {map_time:.2} s  ({:.1}x)", serial_time / map_time);

    let t = Instant::now();
    let mut unordered = Vec::new();
    for (i, r) in pool.chunksize(4).imap_unordered(work, tasks.clone())?.enumerate() {
        unordered.push(r?);
        println!("  result {:>2} arrived after {:.2} s", i + 1, t.elapsed().as_secs_f64());
    }
    let unordered_time = t.elapsed().as_secs_f64();
    println!("imap_unordered(chunksize 4): {unordered_time:.2} s  (results in chunks of 4)");

    anyhow::ensure!(mapped == serial, "map must return serial's results, in order");
    unordered.sort_unstable();
    let mut expected = serial.clone();
    expected.sort_unstable();
    anyhow::ensure!(unordered == expected, "imap_unordered must return the same set");
    println!("All three agree.");
    Ok(())
}
