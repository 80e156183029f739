//! W13 and W14: mixes — of task lengths (a fixed lognormal draw of 200 tasks, 1 to 500
//! ms) and of faults (20,000 tasks of which some abort, `_exit`, panic or run past the
//! timeout). What they measure is the scheduler's truth under batching: no task waits
//! behind a long one while a worker idles, and every task ends once with its own outcome.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use multiproc::pool::Pool;
use multiproc::{ProcessPoolExecutor, as_completed};

use crate::cases::{Outcome, Value};
use crate::fault_mix::{act, fault, is_own_outcome};
use crate::tasks::{w13_lengths, w13_task};

/// Makespan (s) and mean latency from submission to result (ms) of completion times
/// (s since the start, all submitted at the start).
fn w13_figures(done: &[f64]) -> Vec<Value> {
    let makespan = done.iter().copied().fold(0.0, f64::max);
    let mean = done.iter().sum::<f64>() / done.len() as f64;
    vec![Value::Num(makespan), Value::Num(mean * 1000.0)]
}

pub(crate) fn w13_imap_unordered(_quick: bool) -> Outcome {
    let pool = Pool::new(2)?;
    let n = w13_lengths().len();
    let t = Instant::now();
    let mut done = vec![0.0; n];
    for result in pool.imap_unordered(w13_task, 0..n as u64)? {
        done[result? as usize] = t.elapsed().as_secs_f64();
    }
    Ok(w13_figures(&done))
}

pub(crate) fn w13_submit(_quick: bool) -> Outcome {
    let ex = ProcessPoolExecutor::new(2)?;
    let n = w13_lengths().len();
    let t = Instant::now();
    let futures: Vec<_> =
        (0..n as u64).map(|i| ex.submit(w13_task, i)).collect::<Result<_, _>>()?;
    let mut done = vec![0.0; n];
    for future in as_completed(&futures, None) {
        done[future?.result()? as usize] = t.elapsed().as_secs_f64();
    }
    Ok(w13_figures(&done))
}

pub(crate) fn w14_pool(quick: bool) -> Outcome {
    let n: u64 = if quick { 2_000 } else { 20_000 };
    let timeout = Duration::from_secs(1);
    let pool = Pool::builder().processes(2).timeout(timeout).build()?;
    let t = Instant::now();
    let outcomes = pool.chunksize(1).map_results(act, 0..n)?;
    let took = t.elapsed().as_secs_f64();
    let wrong = (0..n).zip(&outcomes).filter(|(i, o)| !is_own_outcome(*i, o, timeout)).count();
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for i in 0..n {
        *kinds.entry(fault(i).name()).or_default() += 1;
    }
    let text = format!(
        "{} of {n} outcomes right ({} wrong), {:.0} tasks/s ({took:.1} s; {} aborts, {} _exits, \
         {} panics, {} timeouts)",
        n as usize - wrong,
        wrong,
        n as f64 / took,
        kinds.get("abort").unwrap_or(&0),
        kinds.get("exit").unwrap_or(&0),
        kinds.get("panic").unwrap_or(&0),
        kinds.get("sleep").unwrap_or(&0),
    );
    Ok(vec![Value::Text(text)])
}
