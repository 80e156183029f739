//! The same CPU-bound work run serially, on two threads and in two processes, timed.
//!
//! In Python, processes are how you get parallel CPU work past the GIL. Rust threads
//! already run in parallel, so here processes cost a little more than threads and buy
//! something else: isolation (a crash kills one worker), hard timeouts (a process can be
//! killed, a thread cannot), leak containment, and running non-thread-safe libraries in
//! parallel.
//!
//! Run: `cargo run --release --example threads_vs_processes`

use std::time::Instant;

use multiproc::Process;

fn burn(rounds: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..rounds {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

const ROUNDS: u64 = 150_000_000;

fn main() -> anyhow::Result<()> {
    let t = Instant::now();
    let serial = [burn(ROUNDS), burn(ROUNDS)];
    let serial_time = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let handles: Vec<_> = (0..2).map(|_| std::thread::spawn(|| burn(ROUNDS))).collect();
    let threads: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let thread_time = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut procs: Vec<_> = (0..2).map(|_| Process::new(burn, ROUNDS)).collect();
    for p in &mut procs {
        p.start()?;
    }
    let processes: Vec<u64> = procs.iter_mut().map(|p| p.join()).collect::<Result<_, _>>()?;
    let process_time = t.elapsed().as_secs_f64();

    anyhow::ensure!(threads == serial && processes == serial, "same work, same answers");
    println!("serial:        {serial_time:.2} s");
    println!("two threads:   {thread_time:.2} s");
    println!("two processes: {process_time:.2} s  (start-up cost included)");
    println!(
        "\nBoth run in parallel. Reach for processes when you need what threads cannot give:\n\
         a crash, abort or OOM that must not take the program down, a timeout that really\n\
         stops the work, memory that must be returned, or a C library that is not thread-safe."
    );
    Ok(())
}
