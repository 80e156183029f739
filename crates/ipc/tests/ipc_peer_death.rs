//! A child killed mid-conversation is a prompt `Disconnected` on both `recv` and `send`.

mod common;

use std::time::{Duration, Instant};

#[test]
fn killed_child_is_disconnected_promptly() {
    let (mut child, channel) = common::spawn_child("common::child_echo");
    channel.send(b"are you there").expect("send");
    assert_eq!(&*channel.recv().expect("recv"), b"are you there");
    let big = vec![9u8; 2 << 20];
    channel.send(&big).expect("send large");
    assert_eq!(&*channel.recv().expect("recv large"), &big[..]);

    child.kill().expect("SIGKILL");
    let start = Instant::now();
    let err = channel.recv().expect_err("recv after kill");
    assert!(err.is_disconnected(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());

    let err = channel.send(b"anyone?").expect_err("send after kill");
    assert!(err.is_disconnected(), "{err:?}");
    let err = channel.send(&big).expect_err("large send after kill");
    assert!(err.is_disconnected(), "{err:?}");
    let status = child.wait().expect("reap");
    assert!(!status.success());
}
