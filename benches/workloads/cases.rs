//! The cases: every `BENCHMARKS.md` workload as one or more measured calls, each with the
//! figures it reports and the multiproc side of the measurement. The CPython side is the
//! function of the same key in `benches/python/workloads.py`.
//!
//! A case's function runs one repetition: it builds and warms what it needs (pools,
//! executors — untimed), times the call under test, and returns one value per figure.

use std::error::Error;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use multiproc::executor::MapOptions;
use multiproc::pool::{Pool, TaskError};
use multiproc::{Bytes, Context, ProcessPoolExecutor, StartMethod, as_completed};

use crate::child;
use crate::tasks::{fail, noop, payload_echo, payload_len, sleep_ms, spin, square};

/// What one repetition of a case yields: one value per figure.
pub(crate) type Outcome = Result<Vec<Value>, Box<dyn Error>>;

/// One measured value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A number in the figure's unit.
    Num(f64),
    /// A qualitative outcome (W11, W12).
    Text(String),
}

/// The unit of a figure, which also says which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    ItemsPerSec,
    TasksPerSec,
    Micros,
    Millis,
    GigabytesPerSec,
    Speedup,
    SecondsAboveIdeal,
    MibGrowth,
    Qualitative,
}

impl Unit {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Unit::ItemsPerSec => "items/s",
            Unit::TasksPerSec => "tasks/s",
            Unit::Micros => "µs",
            Unit::Millis => "ms",
            Unit::GigabytesPerSec => "GB/s",
            Unit::Speedup => "× serial",
            Unit::SecondsAboveIdeal => "s above ideal",
            Unit::MibGrowth => "MiB RSS growth",
            Unit::Qualitative => "outcome",
        }
    }

    /// Whether a larger value is better (throughputs, speedups).
    pub(crate) fn higher_is_better(self) -> bool {
        matches!(
            self,
            Unit::ItemsPerSec | Unit::TasksPerSec | Unit::GigabytesPerSec | Unit::Speedup
        )
    }

    /// The smallest value a ratio divides by: figures that can be ~0 (seconds above
    /// ideal, memory growth) are floored so the ratio stays finite and says "at least".
    pub(crate) fn floor(self) -> f64 {
        match self {
            Unit::SecondsAboveIdeal => 0.001,
            Unit::MibGrowth => 1.0,
            _ => f64::MIN_POSITIVE,
        }
    }
}

/// One reported figure of a case: a row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figure {
    /// The call as users write it, plus size or start method.
    pub(crate) variant: &'static str,
    pub(crate) unit: Unit,
}

/// One measured call of a workload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Case {
    /// The `BENCHMARKS.md` id: `W1` ... `W12`.
    pub(crate) id: &'static str,
    /// The key both sides know it by.
    pub(crate) key: &'static str,
    pub(crate) figures: &'static [Figure],
    /// Repetitions of each side in a full run (one with `--quick`).
    pub(crate) reps: usize,
    /// Run both sides at the same time: for sleep-bound cases, where waiting in turn
    /// would only double the wall time.
    pub(crate) together: bool,
    /// Left out of `--quick` runs.
    pub(crate) full_only: bool,
    /// One repetition of the multiproc side; the flag is `--quick`.
    pub(crate) run: fn(bool) -> Outcome,
}

const fn fig(variant: &'static str, unit: Unit) -> Figure {
    Figure { variant, unit }
}

const fn case(
    id: &'static str,
    key: &'static str,
    figures: &'static [Figure],
    run: fn(bool) -> Outcome,
) -> Case {
    Case { id, key, figures, reps: 5, together: false, full_only: false, run }
}

impl Case {
    const fn reps(mut self, reps: usize) -> Case {
        self.reps = reps;
        self
    }

    const fn together(mut self) -> Case {
        self.together = true;
        self
    }

    const fn full_only(mut self) -> Case {
        self.full_only = true;
        self
    }

    /// Whether the case reports outcomes (text) rather than numbers.
    pub(crate) fn is_qualitative(&self) -> bool {
        self.figures.iter().all(|f| f.unit == Unit::Qualitative)
    }
}

use Unit::*;

/// Every case, in the order the suite runs them.
pub(crate) const CASES: &[Case] = &[
    case("W1", "W1.map", &[fig("pool map", ItemsPerSec)], w1_map),
    case("W1", "W1.map_chunked", &[fig("pool map chunksize 10000", ItemsPerSec)], w1_map_chunked),
    case(
        "W1",
        "W1.executor_map",
        &[fig("executor map chunksize 10000", ItemsPerSec)],
        w1_executor_map,
    ),
    case(
        "W2",
        "W2.imap_unordered",
        &[fig("imap_unordered chunksize 1000", ItemsPerSec)],
        w2_imap_unordered,
    ),
    case("W3", "W3.apply", &[fig("apply median", Micros), fig("apply p99", Micros)], w3_apply),
    case(
        "W3",
        "W3.submit",
        &[fig("submit().result() median", Micros), fig("submit().result() p99", Micros)],
        w3_submit,
    ),
    case("W4", "W4.apply_async", &[fig("apply_async", TasksPerSec)], w4_apply_async),
    case("W4", "W4.submit", &[fig("submit + as_completed", TasksPerSec)], w4_submit),
    case("W5", "W5.fork", &[fig("Process start+join, fork", Millis)], w5_fork),
    case("W5", "W5.spawn", &[fig("Process start+join, spawn", Millis)], w5_spawn),
    case("W5", "W5.forkserver", &[fig("Process start+join, forkserver", Millis)], w5_forkserver),
    case(
        "W6",
        "W6.pool",
        &[fig("pool new → first map result", Millis), fig("pool new → shut down", Millis)],
        w6_pool,
    ),
    case(
        "W7",
        "W7.1",
        &[fig("apply 1 MiB len", GigabytesPerSec), fig("apply 1 MiB echo", GigabytesPerSec)],
        w7_1,
    ),
    case(
        "W7",
        "W7.16",
        &[fig("apply 16 MiB len", GigabytesPerSec), fig("apply 16 MiB echo", GigabytesPerSec)],
        w7_16,
    ),
    case(
        "W7",
        "W7.128",
        &[fig("apply 128 MiB len", GigabytesPerSec), fig("apply 128 MiB echo", GigabytesPerSec)],
        w7_128,
    )
    .full_only(),
    case(
        "W8",
        "W8.cpu",
        &[
            fig("pool map", Speedup),
            fig("imap_unordered chunksize 4", Speedup),
            fig("pool map, 1 worker", Speedup),
            fig("pool map, 3 workers", Speedup),
            fig("pool map, 4 workers", Speedup),
        ],
        w8_cpu,
    ),
    case("W9", "W9.parallel", &[fig("pool map sleep, 4 workers", SecondsAboveIdeal)], w9_parallel)
        .together(),
    case(
        "W9",
        "W9.serial",
        &[fig("pool map sleep, 1 worker (serial)", SecondsAboveIdeal)],
        w9_serial,
    )
    .together(),
    case("W10", "W10.imap", &[fig("imap chunksize 1000", MibGrowth)], w10_imap),
    case(
        "W10",
        "W10.executor_map",
        &[fig("executor map chunksize 1000", MibGrowth)],
        w10_executor_map,
    ),
    case(
        "W11",
        "W11.map",
        &[
            fig("pool map, a task calls exit(1)", Qualitative),
            fig("pool map, a task SIGKILLs its worker", Qualitative),
        ],
        w11_map,
    )
    .reps(1),
    case(
        "W11",
        "W11.executor_map",
        &[
            fig("executor map, a task calls exit(1)", Qualitative),
            fig("executor map, a task SIGKILLs its worker", Qualitative),
        ],
        w11_executor_map,
    )
    .reps(1),
    case("W12", "W12.apply", &[fig("apply, the task panics/raises", Qualitative)], w12_apply)
        .reps(1),
    case(
        "W12",
        "W12.submit",
        &[fig("submit().result(), the task panics/raises", Qualitative)],
        w12_submit,
    )
    .reps(1),
];

// ---- fixtures -----------------------------------------------------------------------

/// A pool of `n` workers that have each run a task.
fn warm_pool(n: usize) -> Result<Pool, Box<dyn Error>> {
    let pool = Pool::new(n)?;
    pool.chunksize(1).map(noop, 0..4 * n as u64)?;
    Ok(pool)
}

/// An executor of `n` workers that have each run a task.
fn warm_executor(n: usize) -> Result<ProcessPoolExecutor, Box<dyn Error>> {
    let ex = ProcessPoolExecutor::new(n)?;
    ex.map(noop, 0..4 * n as u64)?.collect::<Result<Vec<_>, _>>()?;
    Ok(ex)
}

fn per_sec(count: u64, took: Duration) -> Vec<Value> {
    vec![Value::Num(count as f64 / took.as_secs_f64())]
}

fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok { Ok(()) } else { Err(what.into()) }
}

fn items(quick: bool) -> u64 {
    if quick { 100_000 } else { 1_000_000 }
}

// ---- W1, W2: throughput of tiny items -------------------------------------------------

fn w1_map(quick: bool) -> Outcome {
    let (n, pool) = (items(quick), warm_pool(2)?);
    let t = Instant::now();
    let out = pool.map(square, 0..n)?;
    let took = t.elapsed();
    check(out.len() as u64 == n, "W1: wrong number of results")?;
    Ok(per_sec(n, took))
}

fn w1_map_chunked(quick: bool) -> Outcome {
    let (n, pool) = (items(quick), warm_pool(2)?);
    let t = Instant::now();
    let out = pool.chunksize(10_000).map(square, 0..n)?;
    let took = t.elapsed();
    check(out.len() as u64 == n, "W1: wrong number of results")?;
    Ok(per_sec(n, took))
}

fn w1_executor_map(quick: bool) -> Outcome {
    let (n, ex) = (items(quick), warm_executor(2)?);
    let t = Instant::now();
    let options = MapOptions::default().chunksize(10_000);
    let out = ex.map_with(square, 0..n, options)?.collect::<Result<Vec<_>, _>>()?;
    let took = t.elapsed();
    check(out.len() as u64 == n, "W1: wrong number of results")?;
    Ok(per_sec(n, took))
}

fn w2_imap_unordered(quick: bool) -> Outcome {
    let (n, pool) = (items(quick), warm_pool(2)?);
    let t = Instant::now();
    let mut count = 0;
    for result in pool.chunksize(1000).imap_unordered(square, 0..n)? {
        result?;
        count += 1;
    }
    let took = t.elapsed();
    check(count == n, "W2: wrong number of results")?;
    Ok(per_sec(n, took))
}

// ---- W3, W4: latency and throughput of single tasks -----------------------------------

/// Median and p99 of `n` sequential round trips, in µs.
fn latencies(n: u64, mut call: impl FnMut(u64) -> Result<u64, TaskError>) -> Outcome {
    let mut micros = Vec::with_capacity(n as usize);
    for i in 0..n {
        let t = Instant::now();
        let got = call(i)?;
        micros.push(t.elapsed().as_secs_f64() * 1e6);
        check(got == i, "W3: wrong result")?;
    }
    micros.sort_by(f64::total_cmp);
    Ok(vec![Value::Num(percentile(&micros, 50.0)), Value::Num(percentile(&micros, 99.0))])
}

/// The `p`th percentile of sorted values, nearest rank (as the Python twin).
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let last = sorted.len().saturating_sub(1);
    let index = ((p / 100.0 * last as f64).round() as usize).min(last);
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

fn w3_apply(quick: bool) -> Outcome {
    let pool = warm_pool(1)?;
    latencies(if quick { 1000 } else { 10_000 }, |i| pool.apply(noop, i))
}

fn w3_submit(quick: bool) -> Outcome {
    let ex = warm_executor(1)?;
    latencies(if quick { 1000 } else { 10_000 }, |i| {
        ex.submit(noop, i).map_err(|_| TaskError::NotRunning)?.result()
    })
}

fn w4_apply_async(quick: bool) -> Outcome {
    let (n, pool) = (if quick { 10_000 } else { 100_000 }, warm_pool(2)?);
    let t = Instant::now();
    let handles = (0..n).map(|i| pool.apply_async(noop, i)).collect::<Result<Vec<_>, _>>()?;
    let mut total = 0;
    for handle in handles {
        total += handle.get()?;
    }
    let took = t.elapsed();
    check(total == n * (n - 1) / 2, "W4: wrong results")?;
    Ok(per_sec(n, took))
}

fn w4_submit(quick: bool) -> Outcome {
    let (n, ex) = (if quick { 10_000 } else { 100_000 }, warm_executor(2)?);
    let t = Instant::now();
    let futures = (0..n).map(|i| ex.submit(noop, i)).collect::<Result<Vec<_>, _>>()?;
    let mut total = 0;
    for future in as_completed(&futures, None) {
        total += future?.result()?;
    }
    let took = t.elapsed();
    check(total == n * (n - 1) / 2, "W4: wrong results")?;
    Ok(per_sec(n, took))
}

// ---- W5, W6: starting processes and pools ----------------------------------------------

/// Median ms of `Process` start + join of a no-op.
fn w5(method: StartMethod, quick: bool) -> Outcome {
    let ctx = Context::new(method);
    let mut millis = Vec::new();
    for i in 0..if quick { 20 } else { 200 } {
        let t = Instant::now();
        let mut p = ctx.process(noop, i);
        p.start()?;
        let got = p.join()?;
        millis.push(t.elapsed().as_secs_f64() * 1e3);
        check(got == i, "W5: wrong result")?;
    }
    millis.sort_by(f64::total_cmp);
    Ok(vec![Value::Num(percentile(&millis, 50.0))])
}

fn w5_fork(quick: bool) -> Outcome {
    w5(StartMethod::Fork, quick)
}

fn w5_spawn(quick: bool) -> Outcome {
    w5(StartMethod::Spawn, quick)
}

fn w5_forkserver(quick: bool) -> Outcome {
    w5(StartMethod::ForkServer, quick)
}

fn w6_pool(_quick: bool) -> Outcome {
    let t = Instant::now();
    let pool = Pool::new(2)?;
    let out = pool.map(noop, [0, 1])?;
    let first = t.elapsed();
    pool.close();
    pool.join()?;
    let down = t.elapsed();
    check(out == [0, 1], "W6: wrong results")?;
    Ok(vec![Value::Num(first.as_secs_f64() * 1e3), Value::Num(down.as_secs_f64() * 1e3)])
}

// ---- W7: payloads -----------------------------------------------------------------

/// GB/s of payload through `apply`: to a task returning the length (one way), and to one
/// echoing it (both ways, counted twice).
fn w7(mib: usize, quick: bool) -> Outcome {
    let size = mib << 20;
    let calls = if quick { (8 / mib).max(1) } else { (32 / mib).max(1) };
    let pool = warm_pool(2)?;
    let buffers = || (0..calls).map(|_| Bytes::from(vec![7_u8; size])).collect::<Vec<_>>();
    let (to_len, to_echo) = (buffers(), buffers());
    let t = Instant::now();
    for buf in to_len {
        check(pool.apply(payload_len, buf)? == size as u64, "W7: wrong length")?;
    }
    let len_rate = (size * calls) as f64 / t.elapsed().as_secs_f64() / 1e9;
    let t = Instant::now();
    for buf in to_echo {
        check(pool.apply(payload_echo, buf)?.len() == size, "W7: wrong echo")?;
    }
    let echo_rate = (2 * size * calls) as f64 / t.elapsed().as_secs_f64() / 1e9;
    Ok(vec![Value::Num(len_rate), Value::Num(echo_rate)])
}

fn w7_1(quick: bool) -> Outcome {
    w7(1, quick)
}

fn w7_16(quick: bool) -> Outcome {
    w7(16, quick)
}

fn w7_128(quick: bool) -> Outcome {
    w7(128, quick)
}

// ---- W8, W9: CPU-bound and sleeping tasks -------------------------------------------

/// Loop count for one W8 task: ~0.25 s (0.03 s with `--quick`), calibrated once.
fn spin_count(quick: bool) -> u64 {
    static SECONDS_PER_STEP: OnceLock<f64> = OnceLock::new();
    let per_step = *SECONDS_PER_STEP.get_or_init(|| {
        let probe = 20_000_000;
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                spin(probe);
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        best / probe as f64
    });
    let target = if quick { 0.03 } else { 0.25 };
    ((target / per_step) as u64).max(1)
}

/// Speedup over a serial loop of 12 tasks: `map` and `imap_unordered(chunksize 4)` on 2
/// workers, then `map` on 1, 3 and 4 workers (for the chart).
fn w8_cpu(quick: bool) -> Outcome {
    let n = spin_count(quick);
    let tasks = vec![n; 12];
    let t = Instant::now();
    for &task in &tasks {
        spin(task);
    }
    let serial = t.elapsed().as_secs_f64();
    let speedup = |workers: usize, unordered: bool| -> Result<Value, Box<dyn Error>> {
        let pool = warm_pool(workers)?;
        let t = Instant::now();
        if unordered {
            for result in pool.chunksize(4).imap_unordered(spin, tasks.clone())? {
                result?;
            }
        } else {
            pool.map(spin, tasks.clone())?;
        }
        Ok(Value::Num(serial / t.elapsed().as_secs_f64()))
    };
    Ok(vec![
        speedup(2, false)?,
        speedup(2, true)?,
        speedup(1, false)?,
        speedup(3, false)?,
        speedup(4, false)?,
    ])
}

/// Seconds above the ideal of `map(sleep, [1, 2, 3, 4] s)` (tenths with `--quick`).
fn w9(workers: usize, ideal_units: u64, quick: bool) -> Outcome {
    let unit = if quick { 100 } else { 1000 };
    let pool = warm_pool(workers)?;
    let t = Instant::now();
    pool.chunksize(1).map(sleep_ms, [unit, 2 * unit, 3 * unit, 4 * unit])?;
    let took = t.elapsed().as_secs_f64();
    Ok(vec![Value::Num(took - (ideal_units * unit) as f64 / 1e3)])
}

fn w9_parallel(quick: bool) -> Outcome {
    w9(4, 4, quick)
}

fn w9_serial(quick: bool) -> Outcome {
    w9(1, 10, quick)
}

// ---- W10, W11: fresh child processes ----------------------------------------------------

/// Peak RSS growth (MiB) of a fresh process draining a lazy `imap` of 20 M items over
/// the same with 1 000 items.
fn w10(api: &str, quick: bool) -> Outcome {
    let big = if quick { 200_000 } else { 20_000_000 };
    let peak = |n: u64| child::peak_rss_kib(api, n);
    let growth_kib = peak(big)? as f64 - peak(1000)? as f64;
    Ok(vec![Value::Num(growth_kib / 1024.0)])
}

fn w10_imap(quick: bool) -> Outcome {
    w10("imap", quick)
}

fn w10_executor_map(quick: bool) -> Outcome {
    w10("executor", quick)
}

fn w11_map(quick: bool) -> Outcome {
    child::worker_death_outcomes("pool", quick)
}

fn w11_executor_map(quick: bool) -> Outcome {
    child::worker_death_outcomes("executor", quick)
}

// ---- W12: a failing task ---------------------------------------------------------------

/// How a panic reaches the caller, in words.
fn describe(result: Result<u64, TaskError>) -> Vec<Value> {
    let text = match result {
        Ok(v) => format!("no error: returned {v}"),
        Err(TaskError::Panicked(p)) => {
            let location = match &p.location {
                Some(l) => {
                    let file = l.file.rsplit('/').next().unwrap_or(&l.file);
                    format!("yes ({file}:{})", l.line)
                }
                None => "no".to_owned(),
            };
            let frames = p.backtrace.lines().filter(|l| l.trim_start().contains(": ")).count();
            let backtrace = if p.backtrace.is_empty() {
                "no".to_owned()
            } else {
                format!("yes ({frames} frames, PanicInfo::backtrace)")
            };
            format!(
                "Err(TaskError::Panicked(PanicInfo)); message {:?}; location {location}; \
                 remote backtrace {backtrace}",
                p.message
            )
        }
        Err(other) => format!("Err({other:?}) (not a panic)"),
    };
    vec![Value::Text(text)]
}

fn w12_apply(_quick: bool) -> Outcome {
    let pool = warm_pool(2)?;
    Ok(describe(pool.apply(fail, 7)))
}

fn w12_submit(_quick: bool) -> Outcome {
    let ex = warm_executor(2)?;
    Ok(describe(ex.submit(fail, 7)?.result()))
}
