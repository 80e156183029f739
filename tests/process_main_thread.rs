//! Children started from the main thread, which forks and spawns them itself instead of
//! handing the job to the launcher thread: they run, and they still die with their
//! parent when it is SIGKILLed.
//!
//! libtest runs every test on a thread of its own, never on the main thread, so this
//! binary has its own `main` (`harness = false`) and speaks just enough of libtest's
//! command line for `cargo test` and `cargo nextest` (`--list`, a name filter).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use multiproc::{Context, Process, StartMethod};

const TEST: &str = "children_of_the_main_thread_run_and_die_with_their_parent";
/// Set in the middle process of the test.
const PROBE: &str = "MULTIPROC_TEST_MAIN_THREAD_PROBE";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os(PROBE).is_some() {
        return probe();
    }
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("{TEST}: test");
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    if filters.iter().all(|f| TEST.contains(f.as_str())) {
        children_of_the_main_thread_run_and_die_with_their_parent();
        println!("test {TEST} ... ok");
    }
}

fn add_one(x: u64) -> u64 {
    x + 1
}

fn sleep_secs(s: u64) {
    std::thread::sleep(Duration::from_secs(s));
}

/// Whether `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat[stat.rfind(')').unwrap_or(0)..].starts_with(") Z"),
        Err(_) => false,
    }
}

fn children_of_the_main_thread_run_and_die_with_their_parent() {
    for method in StartMethod::ALL {
        let mut p = Context::new(method).process(add_one, 41);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 42, "{method}");
    }
    let base = 40;
    let mut p = Process::fork(move || base + 2);
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 42, "Process::fork");

    let mut middle = Command::new(std::env::current_exe().unwrap())
        .env(PROBE, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pids = Vec::new();
    for line in BufReader::new(middle.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(pid) = line.strip_prefix("child ") {
            pids.push(pid.trim().parse::<u32>().unwrap());
        }
        if line == "ready" {
            break;
        }
    }
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&p| running(p)));
    middle.kill().unwrap();
    middle.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while pids.iter().any(|&p| running(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let survivors: Vec<u32> = pids.iter().copied().filter(|&p| running(p)).collect();
    assert!(
        survivors.is_empty(),
        "children alive 1 s after their parent was killed: {survivors:?}"
    );
}

/// The middle process: starts one long-sleeping child per start method from its main
/// thread, prints their pids, then waits to be killed.
fn probe() {
    let mut kids = Vec::new();
    for method in StartMethod::ALL {
        let mut p = Context::new(method).process(sleep_secs, 60);
        p.start().unwrap();
        println!("child {}", p.pid().unwrap());
        kids.push(p);
    }
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
}
