//! Frames of every size go parent -> child -> parent over one duplex channel, in real processes.

mod common;

use multiproc_ipc::DEFAULT_SHM_THRESHOLD;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn frames_of_every_size_round_trip_both_ways() {
    let (mut child, channel) = common::spawn_child("common::child_echo");
    let sizes = [
        0,
        1,
        16,
        4096,
        DEFAULT_SHM_THRESHOLD,
        DEFAULT_SHM_THRESHOLD + 1,
        1 << 20,
        20 << 20,
        0,
        20 << 20,
        7,
    ];
    for (seed, len) in sizes.into_iter().enumerate() {
        let frame = pattern(len, seed as u8);
        channel.send(&frame).expect("send");
        let back = channel.recv().expect("recv");
        assert_eq!(back.len(), len);
        assert!(*back == frame[..], "frame of {len} bytes came back changed");
    }
    drop(channel);
    let status = child.wait().expect("reap child");
    assert!(status.success(), "child: {status}");
}

#[test]
fn many_small_frames_in_flight() {
    let (mut child, channel) = common::spawn_child("common::child_echo");
    for round in 0..50u32 {
        for i in 0..100u32 {
            channel.send(&(round * 1000 + i).to_le_bytes()).expect("send");
        }
        for i in 0..100u32 {
            let back = channel.recv().expect("recv");
            assert_eq!(*back, (round * 1000 + i).to_le_bytes());
        }
    }
    drop(channel);
    assert!(child.wait().expect("reap").success());
}
