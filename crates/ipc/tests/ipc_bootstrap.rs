//! `BootstrapServer::accept`: gets the child's value, and never hangs when no value comes.

use std::env;
use std::io;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use multiproc_ipc::{BootstrapServer, IpcError, bootstrap_connect};

const ENV: &str = "MULTIPROC_IPC_TEST_BOOTSTRAP_VALUE";

fn spawn(entry: &str, name: &str) -> Child {
    Command::new(env::current_exe().expect("current exe"))
        .args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(ENV, name)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child")
}

/// Child entry: sends one value back.
#[test]
fn child_sends_value() {
    if let Ok(name) = env::var(ENV) {
        bootstrap_connect(&name, (42u64, String::from("hello"))).expect("connect");
    }
}

/// Child entry: exits without connecting.
#[test]
fn child_exits_without_connecting() {}

#[test]
fn accept_gets_the_value() {
    let (server, name) = BootstrapServer::<(u64, String)>::new().expect("server");
    let mut child = spawn("child_sends_value", &name);
    let got = server
        .accept(Duration::from_secs(30), || matches!(child.try_wait(), Ok(None)))
        .expect("accept");
    assert_eq!(got, (42, "hello".to_string()));
    assert!(child.wait().expect("reap").success());
}

#[test]
fn accept_ends_when_the_child_exits_without_connecting() {
    let (server, name) = BootstrapServer::<(u64, String)>::new().expect("server");
    let mut child = spawn("child_exits_without_connecting", &name);
    let start = Instant::now();
    let err = server
        .accept(Duration::from_secs(60), || matches!(child.try_wait(), Ok(None)))
        .expect_err("no value");
    assert!(err.is_disconnected(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    child.wait().expect("reap");
}

#[test]
fn accept_times_out() {
    let (server, _name) = BootstrapServer::<u64>::new().expect("server");
    let start = Instant::now();
    let err = server.accept(Duration::from_millis(200), || true).expect_err("nobody connects");
    let elapsed = start.elapsed();
    assert!(matches!(&err, IpcError::Io(e) if e.kind() == io::ErrorKind::TimedOut), "{err:?}");
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}
