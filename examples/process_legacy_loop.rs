//! Ten processes started in a loop, then joined: the classic "legacy method" of starting
//! work in Python before pools.
//!
//! Python twin:
//! `procs = [Process(target=work, args=(i,)) for i in range(10)]; [p.start() for p in procs]; [p.join() for p in procs]`
//!
//! Run: `cargo run --release --example process_legacy_loop`

use multiproc::{Process, current_process};

fn work(i: u64) -> String {
    let sum: u64 = (0..1_000_000u64).map(|k| std::hint::black_box(k * i % 7)).sum();
    format!("{} (pid {}) finished task {i}: {sum}", current_process().name, std::process::id())
}

fn main() -> anyhow::Result<()> {
    let mut processes: Vec<Process<String>> = (0..10).map(|i| Process::new(work, i)).collect();
    for p in &mut processes {
        p.start()?;
    }
    for p in &mut processes {
        println!("{}", p.join()?);
    }
    anyhow::ensure!(processes.iter().all(|p| p.exit_code().is_some_and(|s| s.success())));
    Ok(())
}
