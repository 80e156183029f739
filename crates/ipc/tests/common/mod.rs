//! Shared by the exec-based tests: a child is this very test binary, re-run on one test.

use std::env;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use multiproc_ipc::{BootstrapServer, Channel, bootstrap_connect, duplex};

/// Carries the bootstrap server's name to the child; its absence means "not a child".
pub const BOOTSTRAP_ENV: &str = "MULTIPROC_IPC_TEST_BOOTSTRAP";

/// Starts a child running the `#[test]` named `entry` and accepts the channel it sends back.
pub fn spawn_child(entry: &str) -> (Child, Channel) {
    let (server, name) = BootstrapServer::<Channel>::new().expect("bootstrap server");
    let mut child = Command::new(env::current_exe().expect("current exe"))
        .args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(BOOTSTRAP_ENV, name)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child");
    let channel = server
        .accept(Duration::from_secs(30), || matches!(child.try_wait(), Ok(None)))
        .expect("the child connects back");
    (child, channel)
}

/// Child entry: connects back, then echoes every frame until the parent goes away.
#[test]
fn child_echo() {
    let Ok(name) = env::var(BOOTSTRAP_ENV) else {
        return;
    };
    let (mine, theirs) = duplex().expect("duplex");
    bootstrap_connect(&name, theirs).expect("connect to parent");
    while let Ok(frame) = mine.recv() {
        if mine.send(&frame).is_err() {
            break;
        }
    }
}
