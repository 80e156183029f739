//! The worker bootstrap and function identity: the fork-bomb guard, a forged binary
//! fingerprint, a forged type fingerprint and a forged (target, trampoline) pair — each a
//! typed error, and nothing forged is ever called.

use std::path::PathBuf;
use std::process::Command;

use multiproc::codec::BinaryFingerprint;
use multiproc::{Context, Function, Process, ProcessError, StartError, StartMethod};

/// Creates the file named by its argument: proof that the target ran.
fn touch(path: String) -> bool {
    std::fs::write(path, b"called").is_ok()
}

/// What a forger would rather run: same types as `touch`, another file.
fn forged_target(path: String) -> bool {
    std::fs::write(format!("{path}.forged"), b"called").is_ok()
}

fn scratch(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "multiproc-{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ))
}

#[test]
fn a_forged_binary_fingerprint_is_refused_before_any_call() {
    for method in StartMethod::ALL {
        let path = scratch(&format!("binary-{method}"));
        let _ = std::fs::remove_file(&path);
        let mut p = Context::new(method)
            .process(touch, path.to_string_lossy().into_owned())
            .forge_binary_fingerprint(BinaryFingerprint(0xDEAD));
        let err = p.start().unwrap_err();
        assert!(
            matches!(err, ProcessError::Start(StartError::BinaryMismatch { .. })),
            "{method}: {err:?}"
        );
        assert!(err.to_string().contains("different binary"), "{err}");
        assert!(!path.exists(), "{method}: the target ran despite the mismatch");
    }
}

#[test]
fn a_forged_type_fingerprint_fails_without_calling() {
    for method in StartMethod::ALL {
        let path = scratch(&format!("types-{method}"));
        let _ = std::fs::remove_file(&path);
        let mut p = Context::new(method)
            .process(touch, path.to_string_lossy().into_owned())
            .forge_type_fingerprint(42);
        p.start().unwrap();
        let err = p.join().unwrap_err();
        assert!(
            matches!(&err, ProcessError::Rejected(why) if why.contains("type fingerprint mismatch")),
            "{method}: {err:?}"
        );
        assert!(!path.exists(), "{method}: the target ran despite the mismatch");
    }
}

#[test]
fn a_forged_function_pair_is_refused_without_calling() {
    let other = Function::new(forged_target).id();
    type Forge = fn(&mut multiproc::codec::FnId, i64);
    let forgeries: [(&str, Forge); 2] = [
        ("another target", |id, offset| id.target = offset),
        ("a plain function as trampoline", |id, offset| id.trampoline = offset),
    ];
    for method in StartMethod::ALL {
        for (what, forge) in forgeries {
            let path = scratch(&format!("pair-{method}-{}", what.len()));
            let forged = PathBuf::from(format!("{}.forged", path.display()));
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(&forged);
            let mut p = Context::new(method)
                .process(touch, path.to_string_lossy().into_owned())
                .forge_function_id(|id| forge(id, other.target));
            p.start().unwrap();
            let err = p.join().unwrap_err();
            assert!(
                matches!(&err, ProcessError::Rejected(why) if why.contains("not paired by the parent")),
                "{method}, {what}: {err:?}"
            );
            assert!(!path.exists() && !forged.exists(), "{method}, {what}: something was called");
        }
    }
}

/// Run as a child of `a_worker_that_missed_the_bootstrap_refuses_to_spawn` only.
#[test]
fn guard_probe_entry() {
    if std::env::var_os("MULTIPROC_TEST_GUARD_PROBE").is_none() {
        return;
    }
    let mut p = Process::new(|x: u8| x, 1);
    let _ = p.start();
    println!("the guard did not stop this process");
}

#[test]
fn a_worker_that_missed_the_bootstrap_refuses_to_spawn() {
    // The child carries the worker marker but its hook is disabled, as in a binary that
    // never linked it: its `main` (the test harness) runs, and its first attempt to
    // start a process must stop it with a message saying what to add.
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "guard_probe_entry", "--nocapture", "--test-threads=1"])
        .env("MULTIPROC_TEST_GUARD_PROBE", "1")
        .env("MULTIPROC_TEST_DISABLE_BOOTSTRAP_HOOK", "1")
        .env("MULTIPROC_WORKER", format!("2:worker:{}:3:/nonexistent", std::process::id()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(70), "{stderr}");
    assert!(stderr.contains("never reached the worker bootstrap"), "{stderr}");
    assert!(stderr.contains("multiproc::bootstrap()"), "{stderr}");
    assert!(!stdout.contains("did not stop"), "{stdout}");
}

#[test]
fn a_worker_marker_for_another_parent_is_refused() {
    // A stale marker (another parent's pid) must not turn a process into a worker.
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "guard_probe_entry"])
        .env("MULTIPROC_WORKER", "2:worker:1:3:/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(70));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to start a worker"));
}
