//! The multiproc side of every case: one repetition each. A function builds and warms
//! what it needs (pools, executors — untimed), times the call under test, and returns one
//! value per figure of its case.

use std::error::Error;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use multiproc::executor::MapOptions;
use multiproc::pool::{Pool, TaskError};
use multiproc::{Bytes, Context, ProcessPoolExecutor, StartMethod, as_completed};

use crate::cases::{Outcome, Value};
use crate::child;
use crate::tasks::{fail, noop, payload_echo, payload_len, sleep_ms, spin, square};

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

pub(crate) fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok { Ok(()) } else { Err(what.into()) }
}

fn items(quick: bool) -> u64 {
    if quick { 100_000 } else { 1_000_000 }
}

// ---- W1, W2: throughput of tiny items -------------------------------------------------

pub(crate) fn w1_map(quick: bool) -> Outcome {
    let (n, pool) = (items(quick), warm_pool(2)?);
    let t = Instant::now();
    let out = pool.map(square, 0..n)?;
    let took = t.elapsed();
    check(out.len() as u64 == n, "W1: wrong number of results")?;
    Ok(per_sec(n, took))
}

pub(crate) fn w1_map_chunked(quick: bool) -> Outcome {
    let (n, pool) = (items(quick), warm_pool(2)?);
    let t = Instant::now();
    let out = pool.chunksize(10_000).map(square, 0..n)?;
    let took = t.elapsed();
    check(out.len() as u64 == n, "W1: wrong number of results")?;
    Ok(per_sec(n, took))
}

pub(crate) fn w1_executor_map(quick: bool) -> Outcome {
    let (n, ex) = (items(quick), warm_executor(2)?);
    let t = Instant::now();
    let options = MapOptions::default().chunksize(10_000);
    let out = ex.map_with(square, 0..n, options)?.collect::<Result<Vec<_>, _>>()?;
    let took = t.elapsed();
    check(out.len() as u64 == n, "W1: wrong number of results")?;
    Ok(per_sec(n, took))
}

pub(crate) fn w2_imap_unordered(quick: bool) -> Outcome {
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

pub(crate) fn w3_apply(quick: bool) -> Outcome {
    let pool = warm_pool(1)?;
    latencies(if quick { 1000 } else { 10_000 }, |i| pool.apply(noop, i))
}

pub(crate) fn w3_submit(quick: bool) -> Outcome {
    let ex = warm_executor(1)?;
    latencies(if quick { 1000 } else { 10_000 }, |i| {
        ex.submit(noop, i).map_err(|_| TaskError::NotRunning)?.result()
    })
}

pub(crate) fn w4_apply_async(quick: bool) -> Outcome {
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

pub(crate) fn w4_submit(quick: bool) -> Outcome {
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

/// W5 in a fresh process of this binary, as the CPython twin does in a fresh interpreter:
/// what a fork costs grows with the parent's memory, which the workloads run before would
/// otherwise set (differently on each side).
pub(crate) fn w5(method: StartMethod, quick: bool) -> Outcome {
    let median = child::fresh_w5(method, if quick { 20 } else { 200 })?;
    Ok(vec![Value::Num(median)])
}

/// Median ms of `n` `Process` start + join of a no-op with `method`, in this process.
pub(crate) fn w5_here(method: StartMethod, n: u64) -> Result<f64, Box<dyn Error>> {
    let ctx = Context::new(method);
    let mut millis = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        let mut p = ctx.process(noop, i);
        p.start()?;
        let got = p.join()?;
        millis.push(t.elapsed().as_secs_f64() * 1e3);
        check(got == i, "W5: wrong result")?;
    }
    millis.sort_by(f64::total_cmp);
    Ok(percentile(&millis, 50.0))
}

pub(crate) fn w5_fork(quick: bool) -> Outcome {
    w5(StartMethod::Fork, quick)
}

pub(crate) fn w5_spawn(quick: bool) -> Outcome {
    w5(StartMethod::Spawn, quick)
}

pub(crate) fn w5_forkserver(quick: bool) -> Outcome {
    w5(StartMethod::ForkServer, quick)
}

pub(crate) fn w6_pool(_quick: bool) -> Outcome {
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
/// echoing it (both ways, counted twice). Steady state: each of the pool's workers has
/// moved two payloads of the size each way before the clock starts (so have CPython's, in
/// its twin). The first large payloads of a fresh pool pay one-time costs on both sides:
/// a shared-memory region created and filled, fresh pages for the allocator's first
/// blocks of that size (about 18 ms instead of 4 ms at 16 MiB here).
pub(crate) fn w7(mib: usize, quick: bool) -> Outcome {
    let size = mib << 20;
    let calls = if quick { (8 / mib).max(1) } else { (64 / mib).max(2) };
    let pool = warm_pool(2)?;
    let buffers = || (0..calls).map(|_| Bytes::from(vec![7_u8; size])).collect::<Vec<_>>();
    let (to_len, to_echo) = (buffers(), buffers());
    let warm = pool.chunksize(1).map(payload_echo, vec![to_len[0].clone(); 4])?;
    check(warm.iter().all(|b| b.len() == size), "W7: wrong echo")?;
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

pub(crate) fn w7_1(quick: bool) -> Outcome {
    w7(1, quick)
}

pub(crate) fn w7_16(quick: bool) -> Outcome {
    w7(16, quick)
}

pub(crate) fn w7_128(quick: bool) -> Outcome {
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
pub(crate) fn w8_cpu(quick: bool) -> Outcome {
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
pub(crate) fn w9(workers: usize, ideal_units: u64, quick: bool) -> Outcome {
    let unit = if quick { 100 } else { 1000 };
    let pool = warm_pool(workers)?;
    let t = Instant::now();
    pool.chunksize(1).map(sleep_ms, [unit, 2 * unit, 3 * unit, 4 * unit])?;
    let took = t.elapsed().as_secs_f64();
    Ok(vec![Value::Num(took - (ideal_units * unit) as f64 / 1e3)])
}

pub(crate) fn w9_parallel(quick: bool) -> Outcome {
    w9(4, 4, quick)
}

pub(crate) fn w9_serial(quick: bool) -> Outcome {
    w9(1, 10, quick)
}

// ---- W10, W11: fresh child processes ----------------------------------------------------

/// Peak RSS growth (MiB) of a fresh process draining a lazy `imap` of 20 M items over
/// the same with 1 000 items, and the one peak over the other.
pub(crate) fn w10(api: &str, quick: bool) -> Outcome {
    let big = if quick { 200_000 } else { 20_000_000 };
    let peak = |n: u64| child::peak_rss_kib(api, n).map(|kib| kib as f64);
    let (large, small) = (peak(big)?, peak(1000)?);
    Ok(vec![Value::Num((large - small) / 1024.0), Value::Num(large / small)])
}

pub(crate) fn w10_imap(quick: bool) -> Outcome {
    w10("imap", quick)
}

pub(crate) fn w10_executor_map(quick: bool) -> Outcome {
    w10("executor", quick)
}

pub(crate) fn w11_map(quick: bool) -> Outcome {
    child::worker_death_outcomes("pool", quick)
}

pub(crate) fn w11_executor_map(quick: bool) -> Outcome {
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

pub(crate) fn w12_apply(_quick: bool) -> Outcome {
    let pool = warm_pool(2)?;
    Ok(describe(pool.apply(fail, 7)))
}

pub(crate) fn w12_submit(_quick: bool) -> Outcome {
    let ex = warm_executor(2)?;
    Ok(describe(ex.submit(fail, 7)?.result()))
}
