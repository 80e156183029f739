//! Process hygiene: children die within a second of their parent being SIGKILLed, and
//! what dropping an unjoined `Process` does (the child keeps running and is reaped when it
//! exits). Descriptor and zombie counts are in `process_no_leaks.rs`, alone in their
//! binary so that no other test moves the counts.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use multiproc::{Context, Process, StartMethod};

mod common;
use common::running;

#[test]
fn dropping_an_unjoined_process_leaves_it_running_then_reaps_it() {
    for method in StartMethod::ALL {
        let mut p = Context::new(method)
            .process(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 300);
        p.start().unwrap();
        let pid = p.pid().unwrap();
        drop(p);
        assert!(running(pid), "{method}: the child keeps running after the handle is dropped");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{method}: reaped after exit"
        );
    }
}

/// Sleeps `s` seconds.
fn sleep_secs(s: u64) {
    std::thread::sleep(Duration::from_secs(s));
}

/// Sleeps `s` seconds without the parent-death signal: only the liveness pipe can end it
/// early.
fn sleep_secs_without_pdeathsig(s: u64) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes an integer signal and has no memory effects.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0 as libc::c_ulong, 0, 0, 0) };
    sleep_secs(s);
}

/// Run as the middle process of `children_die_with_a_killed_parent` (and of
/// `children_die_with_a_killed_parent_by_the_liveness_pipe_alone`) only: starts one
/// long-sleeping child per start method, prints their pids, then waits to be killed.
#[test]
fn orphan_probe_entry() {
    let task = match std::env::var("MULTIPROC_TEST_ORPHAN_PROBE").as_deref() {
        Ok("pdeathsig") => sleep_secs,
        Ok("liveness") => sleep_secs_without_pdeathsig,
        _ => return,
    };
    let mut kids = Vec::new();
    for method in StartMethod::ALL {
        let mut p = Context::new(method).process(task, 60);
        p.start().unwrap();
        println!("child {}", p.pid().unwrap());
        kids.push(p);
    }
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn children_die_with_a_killed_parent() {
    kill_the_parent_and_count_survivors("pdeathsig");
}

#[test]
fn children_die_with_a_killed_parent_by_the_liveness_pipe_alone() {
    kill_the_parent_and_count_survivors("liveness");
}

/// Starts the orphan probe with `mode`, SIGKILLs it, and checks its children are all
/// gone within a second.
fn kill_the_parent_and_count_survivors(mode: &str) {
    let middle = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "orphan_probe_entry", "--nocapture", "--test-threads=1"])
        .env("MULTIPROC_TEST_ORPHAN_PROBE", mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    common::kill_the_parent_and_count_survivors(middle, mode);
}

#[test]
fn a_child_outlives_the_thread_that_started_it() {
    // The parent-death signal follows the thread that created a child: children of a
    // thread other than the main one are created by the launcher thread, which never exits.
    for method in StartMethod::ALL {
        let mut p = std::thread::spawn(move || {
            let mut p = Context::new(method).process(
                |ms: u64| {
                    std::thread::sleep(Duration::from_millis(ms));
                    ms
                },
                200,
            );
            p.start().unwrap();
            p
        })
        .join()
        .unwrap();
        assert_eq!(p.join().unwrap(), 200, "{method}: the child survived its starter's exit");
    }
}

#[test]
fn process_handles_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Process<u64>>();
}
