//! The seeds' CPU-bound map, with workers that are the ranks of an MPI job: the same
//! `Pool` API as a local pool, on as many machines as `mpirun` gives the job.
//!
//! Python twin: `mpi4py.futures` (`mpiexec -n 3 python -m mpi4py.futures script.py`).
//!
//! Run (Open MPI installed, see the README's "Scaling out"):
//! `cargo run --release --features mpi --example mpi_pool` — started by hand, it runs
//! itself as a 3-rank job under the supervisor; or launch it yourself:
//! `multiproc-mpirun -n 3 -- target/release/examples/mpi_pool`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use multiproc::mpi::supervisor::{Supervisor, launched};

/// A multiply loop the optimiser cannot remove (~0.15 s): task `n` returns a checksum.
fn work(n: u64) -> u64 {
    let mut x = n + 1;
    for i in 0..100_000_000u64 {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

/// Where a task ran: the host and process id of its rank.
fn whereami(_: u32) -> (String, u32) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    (host.trim().to_string(), std::process::id())
}

fn main() -> ExitCode {
    if !launched() {
        println!("not started by an MPI launcher: running myself as a job of 3 ranks");
        return Supervisor::new(3).timeout(Duration::from_secs(120)).relaunch();
    }
    // Rank 0 continues below; every other rank serves tasks inside `init` and exits there.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mpi_pool: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let world = multiproc::mpi::init()?;
    println!("rank 0 schedules; {} worker ranks:", world.workers().len());
    for w in world.workers() {
        println!("  {w}");
    }
    let pool = world.pool()?;
    let tasks: Vec<u64> = (0..12).collect();

    let t = Instant::now();
    let serial: Vec<u64> = tasks.iter().map(|&n| work(n)).collect();
    let serial_time = t.elapsed().as_secs_f64();
    println!("serial on rank 0:            {serial_time:.2} s");

    let t = Instant::now();
    let mapped = pool.map(work, tasks.iter().copied())?;
    let map_time = t.elapsed().as_secs_f64();
    println!("Pool.map over ranks:         {map_time:.2} s  ({:.1}x)", serial_time / map_time);

    let t = Instant::now();
    let mut unordered: Vec<u64> =
        pool.chunksize(4).imap_unordered(work, tasks.clone())?.collect::<Result<_, _>>()?;
    println!("imap_unordered(chunksize 4): {:.2} s", t.elapsed().as_secs_f64());

    anyhow::ensure!(mapped == serial, "map over ranks must return serial's results, in order");
    unordered.sort_unstable();
    let mut expected = serial;
    expected.sort_unstable();
    anyhow::ensure!(unordered == expected, "imap_unordered must return the same set");

    let mut seen = pool.map(whereami, 0..8)?;
    seen.sort();
    seen.dedup();
    println!("tasks ran on: {seen:?}");
    println!("All agree.");
    Ok(())
}
