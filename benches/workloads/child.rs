//! Fresh child processes of this bench binary, for the workloads that need one: W5 (a
//! parent whose memory no earlier workload has grown: fork copies its page tables), W10
//! (a peak RSS that no earlier workload has raised) and W11 (a pool whose worker dies,
//! with a hard timeout around it). The binary is re-executed as `workloads --child ...`.

use std::error::Error;
use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use multiproc::executor::MapOptions;
use multiproc::pool::{Pool, TaskError};
use multiproc::{ProcessPoolExecutor, StartMethod};

use crate::cases::{Outcome, Value};
use crate::measure;
use crate::tasks::{die_on_3, square};

/// The first argument that makes the binary a child.
pub(crate) const FLAG: &str = "--child";

// ---- parent side --------------------------------------------------------------------

/// W5 in a fresh child: the median ms of `n` start + join with `method`.
pub(crate) fn fresh_w5(method: StartMethod, n: u64) -> Result<f64, Box<dyn Error>> {
    let out = Command::new(std::env::current_exe()?)
        .args([FLAG, "w5", method.name(), &n.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("W5 child ({method}) failed: {}", out.status).into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim().parse().map_err(|e| format!("W5 child printed {text:?}: {e}"))?)
}

/// W10 in a fresh child: its VmHWM in KiB after draining `n` items through `api`
/// (`imap` or `executor`).
pub(crate) fn peak_rss_kib(api: &str, n: u64) -> Result<u64, Box<dyn Error>> {
    let out = Command::new(std::env::current_exe()?)
        .args([FLAG, "w10", api, &n.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("W10 child ({api}, {n} items) failed: {}", out.status).into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim().parse().map_err(|e| format!("W10 child printed {text:?}: {e}"))?)
}

/// W11 in two fresh children at once (`exit(1)`, SIGKILL): what each reported within
/// the timeout (20 s, 3 s with `--quick`), or that it hung.
pub(crate) fn worker_death_outcomes(api: &str, quick: bool) -> Outcome {
    let timeout = Duration::from_secs(if quick { 3 } else { 20 });
    let mut children = Vec::new();
    for how in ["exit", "kill"] {
        let child = Command::new(std::env::current_exe()?)
            .args([FLAG, "w11", api, how])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        children.push(child);
    }
    let deadline = Instant::now() + timeout;
    let mut texts = Vec::new();
    for mut child in children {
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let text = match status {
            None => {
                let _ = child.kill();
                let _ = child.wait();
                format!("hang: no outcome within {} s (killed)", timeout.as_secs())
            }
            Some(status) => {
                let mut out = String::new();
                if let Some(mut stdout) = child.stdout.take() {
                    stdout.read_to_string(&mut out)?;
                }
                let out = out.trim();
                if out.is_empty() {
                    format!("child ended ({status}) with no outcome")
                } else {
                    out.to_owned()
                }
            }
        };
        texts.push(Value::Text(text));
    }
    Ok(texts)
}

// ---- child side -----------------------------------------------------------------------

/// The child's `main`: `--child w5 fork|spawn|forkserver N`, `--child w10 imap|executor N`
/// or `--child w11 pool|executor exit|kill`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["w5", method, n] => w5(method, n),
        ["w10", api, n] => n.parse().map_err(Into::into).and_then(|n| w10(api, n)),
        ["w11", api, how] => w11(api, *how == "kill"),
        _ => Err(format!("unknown child mode {words:?}").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("workloads child: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the median ms of `n` start + join with the start method named `method`.
fn w5(method: &str, n: &str) -> Result<(), Box<dyn Error>> {
    let method = StartMethod::ALL
        .into_iter()
        .find(|m| m.name() == method)
        .ok_or_else(|| format!("unknown start method {method:?}"))?;
    println!("{}", measure::w5_here(method, n.parse()?)?);
    Ok(())
}

/// Drains `imap(square, 0..n, chunksize 1000)` (or the executor's `map`) with a 0.5 s
/// pause after the first result, then prints this process's peak RSS in KiB.
fn w10(api: &str, n: u64) -> Result<(), Box<dyn Error>> {
    let pause = Duration::from_millis(500);
    let mut count = 0_u64;
    if api == "imap" {
        let pool = Pool::new(2)?;
        for (i, result) in pool.chunksize(1000).imap(square, 0..n)?.enumerate() {
            result?;
            if i == 0 {
                std::thread::sleep(pause);
            }
            count += 1;
        }
    } else {
        let ex = ProcessPoolExecutor::new(2)?;
        let options = MapOptions::default().chunksize(1000);
        for (i, result) in ex.map_with(square, 0..n, options)?.enumerate() {
            result?;
            if i == 0 {
                std::thread::sleep(pause);
            }
            count += 1;
        }
    }
    if count != n {
        return Err(format!("W10: {count} results of {n}").into());
    }
    println!("{}", vmhwm_kib()?);
    Ok(())
}

/// This process's peak resident set size in KiB (`VmHWM` in /proc/self/status).
fn vmhwm_kib() -> Result<u64, Box<dyn Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or("no VmHWM")?;
    Ok(line.split_whitespace().nth(1).ok_or("bad VmHWM line")?.parse()?)
}

/// Maps 10 items where item 3 ends its worker; prints what arrived.
fn w11(api: &str, kill: bool) -> Result<(), Box<dyn Error>> {
    let items: Vec<(u64, bool)> = (0..10).map(|i| (i, kill)).collect();
    let t = Instant::now();
    if api == "pool" {
        let pool = Pool::new(2)?;
        let map = match pool.map(die_on_3, items.clone()) {
            Ok(values) => format!("{} of 10 results", values.len()),
            Err(err) => format!("Err({})", short(&err)),
        };
        let map_took = t.elapsed().as_secs_f64();
        let each = pool.map_results(die_on_3, items)?;
        let ok = each.iter().filter(|r| r.is_ok()).count();
        let failed: Vec<String> = each
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("item {i} {}", short(e))))
            .collect();
        println!(
            "map → {map} after {map_took:.2} s (all-or-first-error); \
             map_results → {ok} of 10 results + {}; pool still usable",
            failed.join(", ")
        );
    } else {
        let ex = ProcessPoolExecutor::new(2)?;
        let (mut ok, mut failed) = (0, Vec::new());
        for (i, result) in ex.map(die_on_3, items)?.enumerate() {
            match result {
                Ok(_) => ok += 1,
                Err(e) => failed.push(format!("item {i} {}", short(&e))),
            }
        }
        let took = t.elapsed().as_secs_f64();
        println!("{ok} of 10 results + {} after {took:.2} s", failed.join(", "));
    }
    Ok(())
}

/// A task error in a few words.
fn short(err: &TaskError) -> String {
    match err {
        TaskError::WorkerDied { status: Some(status), .. } => {
            format!("TaskError::WorkerDied (exit {status})")
        }
        TaskError::WorkerDied { status: None, .. } => "TaskError::WorkerDied".to_owned(),
        other => format!("{other}"),
    }
}
