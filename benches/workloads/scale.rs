//! W20: a pool of many workers on a small machine — how soon it answers, how its workers
//! share the cores, and what each worker costs in memory.

use std::error::Error;
use std::time::Instant;

use multiproc::{Pool, StartMethod};

use crate::cases::{Outcome, Value};
use crate::measure::check;
use crate::tasks::{noop, sleep_ms};

/// `Pool(64)` (16 with `--quick`) under the fork server: construction → first result of
/// an `imap` over 256 items (ms); then one 200 ms nap per worker at once (seconds above
/// 200 ms); then the workers' total PSS per worker (KiB).
pub(crate) fn w20_pool64(quick: bool) -> Outcome {
    let workers = if quick { 16 } else { 64 };
    let t = Instant::now();
    let pool = Pool::builder().processes(workers).start_method(StartMethod::ForkServer).build()?;
    let mut results = pool.imap(noop, 0..256)?;
    let first = results.next().ok_or("W20: no result")??;
    let first_ms = t.elapsed().as_secs_f64() * 1e3;
    check(first == 0 && results.count() == 255, "W20: wrong results")?;
    let naps = vec![200; workers];
    let t = Instant::now();
    let slept = pool.chunksize(1).map(sleep_ms, naps)?;
    let above = t.elapsed().as_secs_f64() - 0.2;
    check(slept.len() == workers, "W20: wrong naps")?;
    let pids = pool.worker_pids();
    check(pids.len() == workers, "W20: workers missing")?;
    let pss = pids.iter().map(|&pid| pss_kib(pid)).sum::<Result<u64, _>>()?;
    Ok(vec![Value::Num(first_ms), Value::Num(above), Value::Num(pss as f64 / workers as f64)])
}

/// A process's proportional set size, KiB (`/proc/PID/smaps_rollup`).
fn pss_kib(pid: u32) -> Result<u64, Box<dyn Error>> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    let line = rollup.lines().find(|l| l.starts_with("Pss:")).ok_or("W20: no Pss line")?;
    let kib = line.split_whitespace().nth(1).ok_or("W20: no Pss value")?;
    Ok(kib.parse()?)
}
