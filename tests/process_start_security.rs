//! An authenticated start-up (issue 18): under every start method nothing is named that a
//! second process could connect to, and the worker marker in the environment cannot turn
//! a program into a worker for whoever launched it.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use multiproc::ipc::handoff;
use multiproc::{Context, StartMethod};

/// In the child: the worker marker its environment started with (the hook removes the
/// variable, not the bytes of the initial environment), and the unix sockets with a path
/// that its parent holds.
fn what_a_racer_could_find(_: ()) -> (String, Vec<String>) {
    let environ = std::fs::read("/proc/self/environ").unwrap_or_default();
    let marker = environ
        .split(|&b| b == 0)
        .filter_map(|var| var.strip_prefix(b"MULTIPROC_WORKER="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let parent = std::os::unix::process::parent_id();
    let held: Vec<String> = std::fs::read_dir(format!("/proc/{parent}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let unix = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let named = unix
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (inode, path) = (fields.get(6)?, fields.get(7)?);
            held.iter().any(|h| h == inode).then(|| (*path).to_owned())
        })
        .collect();
    (marker, named)
}

#[test]
fn the_start_up_names_nothing_a_second_process_could_connect_to() {
    for method in StartMethod::ALL {
        let mut p = Context::new(method).process(what_a_racer_could_find, ());
        p.start().unwrap();
        let (marker, named) = p.join().unwrap();
        // The marker names descriptors the child inherited, never a path.
        assert!(!marker.contains('/'), "{method}: the environment names a path: {marker:?}");
        assert!(named.is_empty(), "{method}: the parent holds named sockets: {named:?}");
    }
}

/// Run as a grandchild of `a_foreign_socket_does_not_make_a_worker` only: reaching the
/// test harness means the marker was refused before `main`... which must not happen, the
/// refusal exits first.
#[test]
fn foreign_socket_probe_entry() {
    if std::env::var_os("MULTIPROC_TEST_FOREIGN_PROBE").is_some() {
        println!("the harness ran");
    }
}

#[test]
fn a_foreign_socket_does_not_make_a_worker() {
    // An attacker's launcher: `sh` starts this binary as its own child with a marker
    // naming sh as the parent and a socket the attacker holds the other end of, for
    // either role a spawned child can have.
    for role in ["worker", "forkserver"] {
        let (tx, rx) = handoff::<(u32, String)>().unwrap();
        let mut cmd = Command::new("/bin/sh");
        let fd = tx.pass_to(&mut cmd).unwrap();
        let exe = std::env::current_exe().unwrap();
        let mut sh = cmd
            .arg("-c")
            .arg(r#"MULTIPROC_WORKER="3:$3:$$:$2:$2" "$1" --exact foreign_socket_probe_entry; exit $?"#)
            .arg("sh")
            .arg(&exe)
            .arg(fd.to_string())
            .arg(role)
            .env("MULTIPROC_TEST_FOREIGN_PROBE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(tx);
        // Nothing ever arrives on the attacker's end: the program sent nothing to it.
        let got = rx.accept(Duration::from_secs(30), || matches!(sh.try_wait(), Ok(None)));
        assert!(got.is_err(), "{role}: the program handed its channel over: {:?}", got.ok());
        let out = sh.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(70), "{role}: {:?} {stderr}", out.status.signal());
        assert!(stderr.contains("not by the parent"), "{role}: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("harness ran"), "{role}");
    }
}
