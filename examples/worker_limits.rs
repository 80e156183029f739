//! Per-worker limits: a leaky task recycled by memory, a runaway allocation stopped by the
//! memory cap, and a CPU-bound loop stopped by its CPU-time limit. Each is a typed
//! outcome, and the pool goes on.
//!
//! Python twin: billiard's (Celery's) `Pool(max_memory_per_child=...)` for the recycling;
//! for the caps, `resource.setrlimit` in an initializer, after which an allocation past
//! the cap is a bare `MemoryError` or a dead worker, and a CPU-bound loop a `SIGXCPU`.
//!
//! Run: `cargo run --release --example worker_limits`

use std::time::Duration;

use multiproc::{Limit, Pool, TaskError};

/// Keeps `mib` MiB for the rest of the worker's life; returns the worker's pid.
fn leak(mib: usize) -> u32 {
    // black_box: an optimiser may drop an allocation nothing reads.
    std::mem::forget(std::hint::black_box(vec![1u8; mib << 20]));
    std::process::id()
}

fn allocate(gib: usize) -> usize {
    std::hint::black_box(vec![1u8; gib << 30]).len()
}

fn spin(_: ()) -> u64 {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder()
        .processes(2)
        .max_memory_per_child(64 << 20)
        .memory_limit(256 << 20)
        .cpu_time_limit(Duration::from_millis(200))
        .core_dumps(false)
        .build()?;

    let first = pool.apply(leak, 100)?; // delivered, then its worker retires
    let next = pool.apply(leak, 1)?;
    println!("a task left 100 MiB behind in worker {first}; the next ran in worker {next}");
    assert_ne!(first, next);

    match pool.apply(allocate, 1) {
        Err(e @ TaskError::LimitExceeded { limit: Limit::Memory, .. }) => println!("1 GiB: {e}"),
        other => return Err(format!("expected the memory limit, got {other:?}").into()),
    }
    match pool.apply(spin, ()) {
        Err(e @ TaskError::LimitExceeded { limit: Limit::CpuTime, .. }) => println!("spin: {e}"),
        other => return Err(format!("expected the CPU-time limit, got {other:?}").into()),
    }
    let squares = pool.map(|x: u64| x * x, 0..10)?;
    println!("and the pool goes on: {squares:?}");
    assert_eq!(squares[9], 81);
    Ok(())
}
