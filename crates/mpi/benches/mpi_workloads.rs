//! W1, W3 and W7 of `BENCHMARKS.md` with MPI ranks as the workers, beside a local pool of
//! as many workers in the same run (alternating repetitions), so that the figures say
//! what the MPI transport costs against local processes on the same machine.
//!
//! Run: `cargo bench -p multiproc-mpi --bench mpi_workloads [-- --quick]` (or through
//! `cargo xtask bench`). Started by cargo, it runs itself as a 3-rank job (rank 0 + 2
//! workers) under the supervisor.

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use multiproc::{Bytes, Pool};
use multiproc_mpi::supervisor::{Supervisor, launched};

fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

fn payload_len(b: Bytes) -> u64 {
    b.len() as u64
}

fn payload_echo(b: Bytes) -> Bytes {
    b
}

type Measure = fn(&Pool, bool) -> Result<f64, Box<dyn Error>>;

/// One figure: workload, variant, unit, whether higher is better, and how to measure it.
struct Case(&'static str, &'static str, &'static str, bool, Measure);

const CASES: &[Case] = &[
    Case("W1", "map, default chunksize", "items/s", true, w1_default),
    Case("W1", "map, chunksize 10000", "items/s", true, w1_chunked),
    Case("W3", "apply round trip, median", "us", false, w3_apply),
    Case("W7", "16 MiB -> len, apply", "GB/s", true, w7_len),
    Case("W7", "16 MiB echo, apply", "GB/s", true, w7_echo),
];

fn items(quick: bool) -> u64 {
    if quick { 100_000 } else { 1_000_000 }
}

fn w1(pool: &Pool, quick: bool, chunksize: Option<usize>) -> Result<f64, Box<dyn Error>> {
    let n = items(quick);
    let t = Instant::now();
    let out = match chunksize {
        Some(c) => pool.chunksize(c).map(square, 0..n)?,
        None => pool.map(square, 0..n)?,
    };
    let took = t.elapsed();
    if out.len() as u64 != n || out[3] != 9 {
        return Err("W1: wrong results".into());
    }
    Ok(n as f64 / took.as_secs_f64())
}

fn w1_default(pool: &Pool, quick: bool) -> Result<f64, Box<dyn Error>> {
    w1(pool, quick, None)
}

fn w1_chunked(pool: &Pool, quick: bool) -> Result<f64, Box<dyn Error>> {
    w1(pool, quick, Some(10_000))
}

fn w3_apply(pool: &Pool, quick: bool) -> Result<f64, Box<dyn Error>> {
    let mut micros = Vec::new();
    for i in 0..if quick { 500 } else { 5_000 } {
        let t = Instant::now();
        let got = pool.apply(square, i)?;
        micros.push(t.elapsed().as_secs_f64() * 1e6);
        if got != i * i {
            return Err("W3: wrong result".into());
        }
    }
    micros.sort_by(f64::total_cmp);
    Ok(micros[micros.len() / 2])
}

fn w7(pool: &Pool, quick: bool, echo: bool) -> Result<f64, Box<dyn Error>> {
    let size = 16 << 20;
    let calls = if quick { 1 } else { 4 };
    let buffers: Vec<Bytes> = (0..calls).map(|_| Bytes::from(vec![7_u8; size])).collect();
    let t = Instant::now();
    for buf in buffers {
        let ok = if echo {
            pool.apply(payload_echo, buf)?.len() == size
        } else {
            pool.apply(payload_len, buf)? == size as u64
        };
        if !ok {
            return Err("W7: wrong result".into());
        }
    }
    let moved = if echo { 2 * size * calls } else { size * calls };
    Ok(moved as f64 / t.elapsed().as_secs_f64() / 1e9)
}

fn w7_len(pool: &Pool, quick: bool) -> Result<f64, Box<dyn Error>> {
    w7(pool, quick, false)
}

fn w7_echo(pool: &Pool, quick: bool) -> Result<f64, Box<dyn Error>> {
    w7(pool, quick, true)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn num(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.3}"),
    }
}

/// The workloads asked for with `--workload W1,W7` (all when not given).
fn chosen() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    let list = args.iter().position(|a| a == "--workload").and_then(|i| args.get(i + 1));
    list.map_or_else(Vec::new, |l| l.split(',').map(|w| w.trim().to_ascii_uppercase()).collect())
}

fn run(quick: bool) -> Result<(), Box<dyn Error>> {
    let wanted = chosen();
    let cases: Vec<&Case> =
        CASES.iter().filter(|c| wanted.is_empty() || wanted.iter().any(|w| w == c.0)).collect();
    let world = multiproc_mpi::init()?;
    let workers = world.workers().len();
    let mpi = world.pool()?;
    let local = Pool::new(workers)?;
    for pool in [&mpi, &local] {
        pool.chunksize(1).map(square, 0..4 * workers as u64)?; // warm
    }
    let reps = if quick { 1 } else { 5 };
    let mut figures = vec![(Vec::new(), Vec::new()); cases.len()];
    let started = Instant::now();
    for _ in 0..reps {
        for (case, (on_mpi, on_local)) in cases.iter().zip(&mut figures) {
            on_mpi.push((case.4)(&mpi, quick)?);
            on_local.push((case.4)(&local, quick)?);
        }
    }
    println!(
        "\nMPI ranks vs local processes: {workers} workers each, {reps} repetition(s), \
         medians (ratio > 1: MPI better)"
    );
    println!(
        "{:<4} {:<26} {:<8} {:>12} {:>12} {:>7}",
        "id", "variant", "unit", "MPI", "local", "ratio"
    );
    for (case, (on_mpi, on_local)) in cases.iter().zip(&mut figures) {
        let (m, l) = (median(on_mpi), median(on_local));
        let ratio = if case.3 { m / l } else { l / m };
        println!(
            "{:<4} {:<26} {:<8} {:>12} {:>12} {:>7.2}",
            case.0,
            case.1,
            case.2,
            num(m),
            num(l),
            ratio
        );
    }
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    if !launched() {
        return Supervisor::new(3).timeout(Duration::from_secs(900)).relaunch();
    }
    let quick = std::env::args().any(|a| a == "--quick");
    match run(quick) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mpi_workloads: {e}");
            ExitCode::FAILURE
        }
    }
}
