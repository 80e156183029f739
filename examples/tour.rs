//! The tour: what multiproc does today, layer by layer, in a few seconds.
//!
//! Python twin: a first session with `multiprocessing.Process`.
//!
//! Run: `cargo run --release --example tour`

use std::time::{Duration, Instant};

use multiproc::{Context, Process, ProcessError, StartMethod, cpu_count, current_process};

fn square(x: u64) -> u64 {
    x * x
}

fn crash(_: ()) -> u64 {
    std::process::abort()
}

fn panics(n: u32) -> u32 {
    panic!("task {n} gave up")
}

fn main() -> anyhow::Result<()> {
    println!(
        "== multiproc tour ({} CPUs, I am {})",
        cpu_count(),
        current_process().name
    );

    println!("\n1. A function in another process, its value back from join():");
    let mut p = Process::new(square, 12);
    p.start()?;
    println!(
        "   square(12) = {} computed by pid {:?}",
        p.join()?,
        p.pid().unwrap()
    );

    println!("\n2. Three start methods, timed (start + join of a tiny task):");
    for method in StartMethod::ALL {
        let ctx = Context::new(method);
        let mut warm = ctx.process(square, 1);
        warm.start()?;
        warm.join()?;
        let t = Instant::now();
        for i in 0..20 {
            let mut p = ctx.process(square, i);
            p.start()?;
            p.join()?;
        }
        println!(
            "   {:<10} {:>7.3} ms per process",
            method.name(),
            t.elapsed().as_secs_f64() * 50.0
        );
    }

    println!("\n3. A crash stays in its process:");
    let mut p = Process::new(crash, ());
    p.start()?;
    match p.join() {
        Err(ProcessError::Exited(status)) => {
            println!("   abort() in the child -> exit code {status}; we carry on")
        }
        other => anyhow::bail!("expected an exit status, got {other:?}"),
    }

    println!("\n4. A panic comes back as a value, with its location:");
    let mut p = Process::new(panics, 7);
    p.start()?;
    if let Err(ProcessError::Panicked(info)) = p.join() {
        println!("   {info}");
    }

    println!("\n5. A child that hangs can be killed (threads cannot):");
    let mut p = Process::new(|s: u64| std::thread::sleep(Duration::from_secs(s)), 3600);
    p.start()?;
    if p.join_timeout(Duration::from_millis(100))?.is_none() {
        p.kill()?;
        println!(
            "   still running after 100 ms -> killed: {}",
            p.join().unwrap_err()
        );
    }

    println!("\nNext: Pool and ProcessPoolExecutor land in later layers (see the README).");
    Ok(())
}
