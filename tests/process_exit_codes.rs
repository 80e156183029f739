//! How a child ends, under every start method: exit codes 0/1/7/255, SIGTERM and
//! SIGKILL, and a panicking target (message, location and backtrace in the parent; exit
//! code 1; "Process Process-N:" on the child's stderr, like Python).
//!
//! Re-expressed from CPython's `_TestProcess.test_exitcode` / `test_terminate` /
//! `test_kill`, rewritten.

use std::process::Command;
use std::time::{Duration, Instant};

use multiproc::{Context, ExitStatus, Process, ProcessError, StartMethod};

fn exit_with(code: i32) -> u8 {
    std::process::exit(code)
}

fn sleep_s(s: u64) -> u64 {
    std::thread::sleep(Duration::from_secs(s));
    s
}

fn boom(n: u32) -> u32 {
    if n > 0 {
        panic!("boom {n}");
    }
    n
}

#[test]
fn exit_codes_are_reported() {
    for method in StartMethod::ALL {
        for code in [0, 1, 7, 255] {
            let mut p = Context::new(method).process(exit_with, code);
            p.start().unwrap();
            let err = p.join().unwrap_err();
            assert_eq!(err.exit_status(), Some(ExitStatus::Code(code)), "{method}: {err}");
            assert_eq!(p.exit_code(), Some(ExitStatus::Code(code)));
            assert_eq!(p.exit_code().unwrap().code(), code);
        }
    }
}

#[test]
fn terminate_and_kill_end_the_child_promptly() {
    for method in StartMethod::ALL {
        for (signal, name) in [(libc::SIGTERM, "terminate"), (libc::SIGKILL, "kill")] {
            let mut p = Context::new(method).process(sleep_s, 60);
            p.start().unwrap();
            let t = Instant::now();
            if signal == libc::SIGTERM {
                p.terminate().unwrap()
            } else {
                p.kill().unwrap()
            }
            let err = p.join_timeout(Duration::from_secs(1)).unwrap_err();
            assert!(t.elapsed() < Duration::from_secs(1), "{method} {name}");
            assert_eq!(err.exit_status(), Some(ExitStatus::Signal(signal)), "{method} {name}");
            assert_eq!(p.exit_code().unwrap().code(), -signal);
            assert_eq!(
                p.exit_code().unwrap().to_string(),
                format!("-{signal} ({})", if signal == 9 { "SIGKILL" } else { "SIGTERM" })
            );
        }
    }
}

#[test]
fn a_panicking_target_reports_message_location_and_backtrace() {
    for method in StartMethod::ALL {
        let mut p = Context::new(method).process(boom, 3);
        p.start().unwrap();
        let err = p.join().unwrap_err();
        let ProcessError::Panicked(info) = &err else { panic!("{method}: {err:?}") };
        assert_eq!(info.message, "boom 3");
        let loc = info.location.as_ref().expect("a location");
        assert!(loc.file.ends_with("process_exit_codes.rs"), "{loc}");
        assert!(
            info.backtrace.contains("boom"),
            "backtrace names the function:\n{}",
            info.backtrace
        );
        assert!(err.to_string().contains("boom 3"));
        assert_eq!(p.exit_code(), Some(ExitStatus::Code(1)), "{method}");
    }
}

fn fails(_: ()) -> std::io::Result<u8> {
    Err(std::io::Error::other("disk on fire"))
}

/// Run as a child of `the_childs_stderr_names_the_process` only.
#[test]
fn stderr_probe_entry() {
    if std::env::var_os("MULTIPROC_TEST_STDERR_PROBE").is_none() {
        return;
    }
    let mut p = Process::new(boom, 5).with_name("Prober").unwrap();
    p.start().unwrap();
    assert!(p.join().is_err());
    let mut p = Process::new(fails, ()).with_name("Failer").unwrap();
    p.start().unwrap();
    assert!(p.join().is_err());
}

/// The probe's stderr with `RUST_BACKTRACE` set to `backtrace` (or unset).
fn probe_stderr(backtrace: Option<&str>) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "stderr_probe_entry", "--nocapture", "--test-threads=1"])
        .env("MULTIPROC_TEST_STDERR_PROBE", "1")
        .env_remove("RUST_BACKTRACE");
    if let Some(value) = backtrace {
        cmd.env("RUST_BACKTRACE", value);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn the_childs_stderr_names_the_process() {
    let stderr = probe_stderr(None);
    assert!(stderr.contains("Process Prober:"), "{stderr}");
    assert!(stderr.contains("boom 5"), "{stderr}");
    assert!(stderr.contains("Process Failer:\nError: disk on fire\n"), "{stderr}");
}

#[test]
fn a_panicking_child_prints_what_rust_prints() {
    // Unset: the message and location, and how to get a backtrace; none printed.
    let stderr = probe_stderr(None);
    let location = "panicked at tests/process_exit_codes.rs:";
    assert!(stderr.contains(&format!("Process Prober:\n{location}")), "{stderr}");
    assert!(stderr.contains(":\nboom 5\nnote: run with `RUST_BACKTRACE=1`"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
    // `1`: the short form, from the panic to the task, none of multiproc's own frames.
    let short = probe_stderr(Some("1"));
    assert!(short.contains("stack backtrace:\n"), "{short}");
    assert!(short.contains("boom"), "the task's own frame: {short}");
    assert!(!short.contains("panic.rs"), "the hook's frames are left out: {short}");
    assert!(!short.contains("before_main"), "the bootstrap's frames are left out: {short}");
    assert!(short.contains("RUST_BACKTRACE=full"), "{short}");
    // `full`: every frame.
    let full = probe_stderr(Some("full"));
    assert!(full.contains("before_main") && full.contains("boom"), "{full}");
}

#[test]
fn a_closure_that_panics_under_fork() {
    let mut p = Process::fork(|| -> u8 { panic!("closure down") });
    p.start().unwrap();
    let err = p.join().unwrap_err();
    assert_eq!(err.panic().map(|p| p.message.as_str()), Some("closure down"));
    assert_eq!(p.exit_code(), Some(ExitStatus::Code(1)));
}
