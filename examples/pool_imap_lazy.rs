//! `imap` over an input far larger than memory — 10^12 numbers, generated lazily — of
//! which we take only the results we need. The pool reads its input only as results are
//! taken, so the parent's memory stays flat however long the input is.
//!
//! Python twin: `for r in pool.imap(f, itertools.count()): ...` then `break`. (CPython's
//! task-handler thread reads the input as fast as it can, so there an endless generator
//! grows the parent without bound.)
//!
//! Run: `cargo run --release --example pool_imap_lazy`

use std::time::Instant;

use multiproc::pool::Pool;

fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n > 1 {
        n = if n.is_multiple_of(2) { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

/// This process's resident memory in KiB, from /proc/self/status.
fn rss_kib() -> anyhow::Result<i64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"));
    let kib = line.and_then(|l| l.split_whitespace().nth(1)).map(str::parse).transpose()?;
    kib.ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/self/status"))
}

fn main() -> anyhow::Result<()> {
    let pool = Pool::new(2)?;
    let input = 1..=1_000_000_000_000u64; // 10^12 numbers: 8 TB if collected first
    let results = pool.chunksize(256).imap(collatz_steps, input)?;

    let t = Instant::now();
    let (mut longest, mut rss_first) = ((0, 0), 0);
    for (n, steps) in (1..=1_000_000u64).zip(results) {
        let steps = steps?;
        if steps > longest.1 {
            longest = (n, steps);
        }
        if [10_000, 250_000, 500_000, 1_000_000].contains(&n) {
            let rss = rss_kib()?;
            rss_first = if n == 10_000 { rss } else { rss_first };
            println!("{n:>9} results taken: VmRSS {rss:>6} KiB ({:+} KiB)", rss - rss_first);
            anyhow::ensure!(rss - rss_first < 8 * 1024, "the parent grew by 8 MiB or more");
        }
    }
    // The zip stopped after a million results and dropped the iterator: no more input
    // is read, and the 10^12 - 10^6 numbers left are never generated.
    let (n, steps) = longest;
    println!(
        "longest Collatz run from n <= 10^6: n = {n}, {steps} steps ({:.2} s)",
        t.elapsed().as_secs_f64()
    );
    anyhow::ensure!(longest == (837_799, 524), "the known answer (Project Euler 14)");
    Ok(())
}
