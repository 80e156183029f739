//! Two one-second sleeps, first one after the other, then in two processes at once:
//! about 2 s, then about 1 s.
//!
//! Python twin: the "synchronous vs multiprocessing" opener of every multiprocessing
//! tutorial (`time.sleep(1)` twice, then two `Process(target=sleep)`).
//!
//! Run: `cargo run --release --example process_sync_vs_processes`

use std::time::{Duration, Instant};

use multiproc::Process;

fn nap(seconds: f64) -> String {
    std::thread::sleep(Duration::from_secs_f64(seconds));
    format!("slept {seconds} s in pid {}", std::process::id())
}

fn main() -> anyhow::Result<()> {
    let t = Instant::now();
    nap(1.0);
    nap(1.0);
    let serial = t.elapsed();
    println!("serially:         {:.2} s", serial.as_secs_f64());

    let t = Instant::now();
    let mut first = Process::new(nap, 1.0);
    let mut second = Process::new(nap, 1.0);
    first.start()?;
    second.start()?;
    println!("{}", first.join()?);
    println!("{}", second.join()?);
    let parallel = t.elapsed();
    println!("in two processes: {:.2} s", parallel.as_secs_f64());

    anyhow::ensure!(parallel < serial, "two processes should beat two serial sleeps");
    Ok(())
}
