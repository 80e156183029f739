//! The tour: what multiproc does today, layer by layer, in a few seconds.
//!
//! Python twin: a first session with `multiprocessing.Process`, then `Pool`, then
//! `concurrent.futures.ProcessPoolExecutor`.
//!
//! Run: `cargo run --release --example tour`

use std::time::{Duration, Instant};

use multiproc::prelude::*;

fn square(x: u64) -> u64 {
    x * x
}

fn crash(_: ()) -> u64 {
    std::process::abort()
}

fn panics(n: u32) -> u32 {
    panic!("task {n} gave up")
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn exit_on_13(x: u64) -> u64 {
    if x == 13 {
        std::process::exit(1)
    }
    x
}

fn main() -> anyhow::Result<()> {
    println!("== multiproc tour ({} CPUs, I am {})", cpu_count(), current_process().name);

    println!("\n1. A function in another process, its value back from join():");
    let mut p = Process::new(square, 12);
    p.start()?;
    println!("   square(12) = {} computed by pid {:?}", p.join()?, p.pid().unwrap());

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
        println!("   still running after 100 ms -> killed: {}", p.join().unwrap_err());
    }

    println!("\n6. A Pool starts its workers once; map keeps the input order:");
    let pool = Pool::new(2)?;
    let squares = pool.map(square, 1..=10)?;
    println!("   map(square, 1..=10) = {squares:?}");
    anyhow::ensure!(squares == (1..=10u64).map(square).collect::<Vec<_>>());

    println!("\n7. imap_unordered yields each result as soon as it is ready:");
    let done: Vec<u64> =
        pool.imap_unordered(nap, [300, 100, 10, 200])?.collect::<Result<_, _>>()?;
    println!("   naps of [300, 100, 10, 200] ms came back as {done:?}");
    anyhow::ensure!(done.len() == 4 && done[0] != 300, "the slowest nap is not first");

    println!("\n8. A crash inside a map fails only its own item:");
    let outcomes = pool.map_results(exit_on_13, 10..16)?;
    let arrived: Vec<u64> = outcomes.iter().filter_map(|o| o.as_ref().ok().copied()).collect();
    let failed = outcomes[3].as_ref().err();
    println!("   item 13: {}", failed.map_or("no error?".to_string(), ToString::to_string));
    println!("   the rest arrived: {arrived:?}; the worker was replaced");
    anyhow::ensure!(arrived == [10, 11, 12, 14, 15] && failed.is_some_and(|e| e.is_worker_death()));

    println!("\n9. The executor: futures, completion order, and a worker kill that hurts no one:");
    let ex = ProcessPoolExecutor::new(2)?;
    let futures = [300, 10, 150].map(|ms| ex.submit(nap, ms));
    let futures = futures.into_iter().collect::<Result<Vec<_>, _>>()?;
    let order: Vec<u64> = as_completed(&futures, None)
        .map(|f| f.map(|f| f.result()))
        .collect::<Result<Result<_, _>, _>>()??;
    println!("   submitted naps [300, 10, 150] ms, completed as {order:?}");
    let hung = ex.submit(nap, 3_600_000)?;
    while !hung.running() {
        std::thread::yield_now();
    }
    println!("   a running future cancelled by killing its worker: {}", hung.cancel_and_kill());
    println!("   ...and the executor goes on: 6 * 7 = {}", ex.submit(|x: u64| x * 7, 6)?.result()?);
    anyhow::ensure!(order[0] == 10 && hung.cancelled());

    println!("\nNext: examples/README.md, simple -> advanced.");
    Ok(())
}
