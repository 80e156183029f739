//! `handoff` across `exec`: the child's value arrives over the descriptor it inherited, the
//! wait never hangs when no value comes, and a descriptor that is not an inherited handoff
//! from the parent is refused before anything is sent on it.

use std::env;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::parent_id;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use multiproc_ipc::{HandoffSender, IpcError, handoff};

const ENV: &str = "MULTIPROC_IPC_TEST_HANDOFF_FD";

/// Starts this test binary on `entry`, inheriting `tx`.
fn spawn(entry: &str, tx: &HandoffSender<(u64, String)>) -> Child {
    let mut cmd = Command::new(env::current_exe().expect("current exe"));
    let fd = tx.pass_to(&mut cmd).expect("pass the handoff");
    cmd.args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(ENV, fd.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child")
}

fn inherited() -> Option<i32> {
    env::var(ENV).ok().map(|fd| fd.parse().expect("a descriptor"))
}

/// Child entry: sends one value back.
#[test]
fn child_sends_value() {
    if let Some(fd) = inherited() {
        let tx = HandoffSender::from_inherited(fd, parent_id()).expect("inherited handoff");
        tx.send((42u64, String::from("hello"))).expect("send");
    }
}

/// Child entry: exits without sending.
#[test]
fn child_exits_without_sending() {}

#[test]
fn accept_gets_the_value() {
    let (tx, rx) = handoff::<(u64, String)>().expect("handoff");
    let mut child = spawn("child_sends_value", &tx);
    drop(tx);
    let got = rx
        .accept(Duration::from_secs(30), || matches!(child.try_wait(), Ok(None)))
        .expect("accept");
    assert_eq!(got, (42, "hello".to_string()));
    assert!(child.wait().expect("reap").success());
}

#[test]
fn accept_ends_when_the_child_exits_without_sending() {
    let (tx, rx) = handoff::<(u64, String)>().expect("handoff");
    let mut child = spawn("child_exits_without_sending", &tx);
    drop(tx);
    let start = Instant::now();
    let err = rx
        .accept(Duration::from_secs(60), || matches!(child.try_wait(), Ok(None)))
        .expect_err("no value");
    assert!(err.is_disconnected(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    child.wait().expect("reap");
}

#[test]
fn accept_times_out() {
    let (_tx, rx) = handoff::<u64>().expect("handoff");
    let start = Instant::now();
    let err = rx.accept(Duration::from_millis(200), || true).expect_err("nobody sends");
    let elapsed = start.elapsed();
    assert!(matches!(&err, IpcError::Io(e) if e.kind() == io::ErrorKind::TimedOut), "{err:?}");
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn a_socket_of_another_kind_is_refused() {
    let (ours, _theirs) = UnixDatagram::pair().expect("a datagram pair");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&ours);
    let err = HandoffSender::<u64>::from_inherited(fd, std::process::id()).expect_err("refused");
    assert!(matches!(err, IpcError::Protocol(_)), "{err:?}");
}
