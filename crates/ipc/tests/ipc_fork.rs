//! Channels and shared words inherited across `fork`: each side uses its own end.
//!
//! The two tests fork in parallel, so a child may hold copies of the other test's
//! descriptors for a moment; neither relies on end-of-file to finish.

mod forking;

use std::time::{Duration, Instant};

use forking::{fork_child, reap};
use multiproc_ipc::{SharedWords, duplex};

#[test]
fn channel_inherited_across_fork() {
    let (parent, child) = duplex().expect("duplex");
    let pid = fork_child(move || {
        loop {
            let frame = child.recv().expect("child recv");
            if &*frame == b"bye" {
                break;
            }
            let mut reply = frame.into_vec();
            reply.reverse();
            child.send(&reply).expect("child send");
        }
    });
    for len in [0usize, 5, 100 << 10, 3 << 20] {
        let frame: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        parent.send(&frame).expect("send");
        let back = parent.recv().expect("recv");
        let mut expected = frame;
        expected.reverse();
        assert!(*back == expected[..], "len {len}");
    }
    parent.send(b"bye").expect("send bye");
    assert_eq!(reap(pid), 0);
}

#[test]
fn shared_words_across_fork() {
    let words = SharedWords::new(3).expect("shared words");
    let view = words.clone();
    let pid = fork_child(move || {
        for i in 1..=1000 {
            view.store(0, i);
        }
        view.store(1, 42);
        let start = Instant::now();
        while view.load(2) == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "parent never answered");
            std::hint::spin_loop();
        }
    });
    let start = Instant::now();
    while words.load(1) != 42 {
        assert!(start.elapsed() < Duration::from_secs(10), "child never stored");
        std::thread::yield_now();
    }
    assert_eq!(words.load(0), 1000);
    words.store(2, 1);
    assert_eq!(reap(pid), 0);
}
