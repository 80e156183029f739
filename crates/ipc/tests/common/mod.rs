//! Shared by the exec-based tests: a child is this very test binary, re-run on one test.

use std::env;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use multiproc_ipc::{Channel, HandoffSender, duplex, handoff};

/// Carries the number of the handoff descriptor the child inherits; its absence means
/// "not a child".
pub const BOOTSTRAP_ENV: &str = "MULTIPROC_IPC_TEST_BOOTSTRAP";

/// Starts a child running the `#[test]` named `entry` and accepts the channel it sends back.
pub fn spawn_child(entry: &str) -> (Child, Channel) {
    let (tx, rx) = handoff::<Channel>().expect("handoff");
    let mut cmd = Command::new(env::current_exe().expect("current exe"));
    let fd = tx.pass_to(&mut cmd).expect("pass the handoff");
    let mut child = cmd
        .args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(BOOTSTRAP_ENV, fd.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child");
    drop(tx);
    let channel = rx
        .accept(Duration::from_secs(30), || matches!(child.try_wait(), Ok(None)))
        .expect("the child hands its channel back");
    (child, channel)
}

/// Child entry: hands its channel back, then echoes every frame until the parent goes away.
#[test]
fn child_echo() {
    let Ok(fd) = env::var(BOOTSTRAP_ENV) else {
        return;
    };
    let (mine, theirs) = duplex().expect("duplex");
    let fd = fd.parse().expect("a descriptor");
    let tx = HandoffSender::<Channel>::from_inherited(fd, std::os::unix::process::parent_id())
        .expect("the inherited handoff");
    tx.send(theirs).expect("send to parent");
    while let Ok(frame) = mine.recv() {
        if mine.send(&frame).is_err() {
            break;
        }
    }
}
