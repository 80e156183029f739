//! See the work: a CPU-bound `imap_unordered` with a progress bar on stderr (items/s, time
//! left, failed items apart; nothing when stderr is not a terminal), then where the
//! pool's time went, worker by worker.
//!
//! Python twin: `for r in tqdm(pool.imap_unordered(work, xs), total=len(xs))`, then
//! mpire's `pool.print_insights()`.
//!
//! Run: `cargo run --release --features progress --example progress_and_insights`

use multiproc::pool::Pool;

/// A multiply loop the optimiser cannot remove (~20 ms); task 17 fails.
fn work(n: u64) -> Result<u64, std::fmt::Error> {
    if n == 17 {
        return Err(std::fmt::Error);
    }
    let mut x = n + 1;
    for i in 0..10_000_000u64 {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    Ok(x)
}

fn setup(_: ()) {}

fn main() -> anyhow::Result<()> {
    let pool = Pool::builder().processes(2).initializer(setup, ()).build()?;

    // The bar moves as results arrive; the failed task is counted apart.
    let (mut ok, mut failed) = (0, 0);
    for r in pool.progress().imap_unordered(work, 0..120)? {
        match r {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    println!("{ok} tasks done, {failed} failed");
    anyhow::ensure!((ok, failed) == (119, 1), "every task ends once");

    // Where the time went: start-up, initializer, working, waiting, the slowest tasks.
    let insights = pool.insights();
    println!("{insights}");
    let done: u64 = insights.workers.iter().map(|w| w.tasks_done).sum();
    let lost: u64 = insights.workers.iter().map(|w| w.tasks_failed).sum();
    anyhow::ensure!((done, lost) == (119, 1), "the insights account for every task");
    Ok(())
}
