//! A soak under a fault mix, scaled down from `BENCHMARKS.md`'s W14 (which `cargo xtask
//! bench` runs full size): thousands of tasks on two workers, chunk size 1, a per-task
//! timeout, about 1% of them ending their worker (half `abort`, half `_exit` with a code of
//! their own), 1% panicking, 0.5% sleeping past the timeout, the rest returning a value.
//! Every task must end exactly once with the outcome of what it did — its own value, its
//! own panic, `WorkerDied` with its own signal or exit code, `TimedOut` — and run exactly
//! once (each task appends its index to a log before doing anything else), through `Pool`
//! and through `ProcessPoolExecutor`, under every start method.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use multiproc::pool::{Pool, TaskError};
use multiproc::{ProcessPoolExecutor, StartMethod};

mod common;
use common::fault_mix::{act, fault, is_own_outcome};
use common::serial;

const TASKS: u64 = 3_000;
const TIMEOUT: Duration = Duration::from_millis(300);

/// Logs its index, then does what the fault mix says.
fn task((i, log): (u64, String)) -> u64 {
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).expect("the log exists");
    f.write_all(format!("{i}\n").as_bytes()).expect("the log is writable");
    drop(f);
    act(i)
}

/// Checks every outcome against what its task did, and that each task ran once.
fn check(what: &str, outcomes: &[Result<u64, TaskError>], log: &std::path::Path) {
    assert_eq!(outcomes.len() as u64, TASKS, "{what}");
    for (i, outcome) in (0..TASKS).zip(outcomes) {
        let ok = is_own_outcome(i, outcome, TIMEOUT);
        assert!(ok, "{what}: task {i} ({:?}) ended {outcome:?}", fault(i));
    }
    let mut runs: HashMap<u64, u32> = HashMap::new();
    for line in std::fs::read_to_string(log).unwrap().lines() {
        *runs.entry(line.parse().unwrap()).or_default() += 1;
    }
    for i in 0..TASKS {
        assert_eq!(runs.get(&i).copied(), Some(1), "{what}: task {i} ran {:?} times", runs.get(&i));
    }
}

fn log_file(name: &str, method: StartMethod) -> std::path::PathBuf {
    let path = std::env::temp_dir()
        .join(format!("multiproc-soak-{}-{name}-{method}.log", std::process::id()));
    std::fs::write(&path, b"").unwrap();
    path
}

fn pool(method: StartMethod) -> Pool {
    Pool::builder().processes(2).start_method(method).timeout(TIMEOUT).build().unwrap()
}

#[test]
fn every_task_of_a_fault_mix_ends_once_with_its_own_outcome() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let log = log_file("pool", method);
        let arg = log.to_str().unwrap().to_owned();
        let pool = pool(method);
        let items: Vec<(u64, String)> = (0..TASKS).map(|i| (i, arg.clone())).collect();
        let outcomes = pool.chunksize(1).map_results(task, items).unwrap();
        check(&format!("{method} map"), &outcomes, &log);
        std::fs::remove_file(&log).unwrap();
    }
}

#[test]
fn every_future_of_a_fault_mix_ends_once_with_its_own_outcome() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let log = log_file("executor", method);
        let arg = log.to_str().unwrap().to_owned();
        let ex = ProcessPoolExecutor::from(pool(method));
        let futures: Vec<_> =
            (0..TASKS).map(|i| ex.submit(task, (i, arg.clone())).unwrap()).collect();
        let outcomes: Vec<Result<u64, TaskError>> =
            futures.into_iter().map(|f| f.result()).collect();
        check(&format!("{method} submit"), &outcomes, &log);
        std::fs::remove_file(&log).unwrap();
    }
}
