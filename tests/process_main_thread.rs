//! Children started from the main thread, which forks and spawns them itself instead of
//! handing the job to the launcher thread: they run, and they still die with their
//! parent when it is SIGKILLed.
//!
//! libtest runs every test on a thread of its own, never on the main thread, so this
//! binary has its own `main` (`harness = false`) and speaks just enough of libtest's
//! command line for `cargo test` and `cargo nextest` (`--list`, a name filter).

use std::process::{Command, Stdio};
use std::time::Duration;

use multiproc::{Context, Process, StartMethod};

mod common;

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

    let middle = Command::new(std::env::current_exe().unwrap())
        .env(PROBE, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    common::kill_the_parent_and_count_survivors(middle, "main thread");
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
