//! The ring's memory: cursors, windows, and a writer that ignores the protocol.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::*;

fn memory(capacity: usize) -> RingMemory {
    let map = Arc::new(Mapping::zeroed(RING_HEADER + capacity).unwrap());
    RingMemory::new(map, capacity).unwrap()
}

#[test]
fn shapes_are_checked() {
    let map = Arc::new(Mapping::zeroed(RING_HEADER + 64).unwrap());
    assert!(RingMemory::new(map.clone(), 128).is_none(), "too small a mapping");
    assert!(RingMemory::new(map.clone(), 48).is_none(), "not a power of two");
    assert!(RingMemory::new(map.clone(), 4).is_none(), "below one record");
    assert!(RingMemory::new(map, 64).is_some());
}

#[test]
fn written_records_are_read_after_publishing() {
    let mem = memory(64);
    let mut w = WriteCursor::new(mem.clone());
    let mut r = ReadCursor::new(mem);
    w.write(7, 5, 16, [&b"ab"[..], b"cde"].into_iter());
    assert_eq!(r.published().unwrap().end(), 0, "not published yet");
    assert!(!r.has_published());
    w.publish();
    let window = r.published().unwrap();
    assert_eq!((window.end(), window.header(0)), (16, Some(7)));
    assert_eq!(window.bytes(4, 5), Some(&b"abcde"[..]));
    assert_eq!(window.bytes(4, 13), None, "past the published end");
    assert_eq!(window.header(2), None, "misaligned");
    assert_eq!(w.room(), 48);
    r.free_to(16);
    assert_eq!(w.refresh(), 64);
}

#[test]
fn a_window_never_runs_past_the_end_of_the_data() {
    let mem = memory(64);
    let mut w = WriteCursor::new(mem.clone());
    let mut r = ReadCursor::new(mem);
    w.write(1, 52, 56, std::iter::empty());
    w.write(2, 0, 8, std::iter::empty());
    w.publish();
    r.free_to(56);
    w.refresh();
    w.write(3, 4, 8, [&b"wrap"[..]].into_iter());
    w.publish();
    let window = r.published().unwrap();
    assert_eq!(window.header(64), Some(3));
    assert_eq!(window.until_end(56), 8);
    assert!(window.bytes(56, 8).is_some() && window.bytes(56, 16).is_none(), "no crossing");
    assert_eq!(window.bytes(68, 4), Some(&b"wrap"[..]));
}

#[test]
fn parts_of_every_small_size_are_copied_exactly() {
    let mem = memory(4096);
    let mut w = WriteCursor::new(mem.clone());
    let mut r = ReadCursor::new(mem);
    let bytes: Vec<u8> = (1..=40).collect();
    for n in 0..=40 {
        for split in [0, 1, n / 3, n / 2, n] {
            let (a, b) = bytes[..n].split_at(split.min(n));
            let size = (n as u64 + 4).next_multiple_of(RECORD_ALIGN);
            if size > w.to_end() {
                w.write(0, 0, w.to_end(), std::iter::empty());
            }
            w.write(9, n, size, [a, b].into_iter());
            w.publish();
            let window = r.published().unwrap();
            let start = window.end() - size; // the record just published
            assert_eq!(window.bytes(start + 4, n as u64), Some(&bytes[..n]), "{n} at {split}");
            let end = window.end();
            r.free_to(end);
            w.refresh();
        }
    }
}

#[test]
fn a_head_beyond_one_capacity_is_refused() {
    let mem = memory(64);
    mem.head().store(72, Ordering::Release);
    assert_eq!(ReadCursor::new(mem.clone()).published().unwrap_err(), 72);
    mem.tail().store(200, Ordering::Release);
    assert_eq!(WriteCursor::new(mem).room(), 0, "an unbelievable tail leaves no room");
}

/// A child process stores arbitrary words all over the ring (head, bells, data) while
/// this process reads it: the reader yields records or protocol errors, nothing else.
/// (Here because it forks: the scribbling is outside this process, so the reader's
/// in-place reads race it only as they would race a hostile writer.)
#[test]
fn a_writer_scribbling_during_reads_only_causes_protocol_errors() {
    let (a, b) = crate::duplex().unwrap();
    let ring = crate::Ring::new(4096).unwrap();
    let mut writer = crate::RingWriter::new(ring.clone(), b.split().0);
    for i in 0..20u8 {
        // 2 KiB in the ring at most, and every fifth record staged.
        let len = if i % 5 == 4 { 600 } else { usize::from(i) * 13 };
        writer.push(i % 16, std::iter::repeat_n(&[i][..], len)).unwrap();
    }
    let map = ring.memory().map().clone();
    #[expect(clippy::disallowed_methods, reason = "the hostile writer is a forked child")]
    // SAFETY: the child only does atomic stores and arithmetic, then `_exit`s: no
    // allocation, no lock, nothing the parent's other threads could hold.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let words = map.len() / 8;
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let word = if x.is_multiple_of(4) { 0 } else { (x >> 8) as usize % words };
            let value = if x.is_multiple_of(3) { x % 8192 } else { x.rotate_left(17) };
            map.word(word).store(value, Ordering::Relaxed);
        }
        // SAFETY: ends the child without running the test harness's destructors.
        unsafe { libc::_exit(0) };
    }
    let mut reader = crate::RingReader::new(ring, a.split().1);
    let (mut records, mut errors) = (0u64, 0u64);
    let status = loop {
        let soon = std::time::Instant::now() + std::time::Duration::from_micros(200);
        let _ = reader.wait(std::time::Duration::ZERO, Some(soon));
        for record in reader.records() {
            match record {
                Ok(record) => {
                    records += record.bytes().iter().map(|&b| u64::from(b)).sum::<u64>().min(1)
                }
                Err(crate::IpcError::Protocol(_)) => errors += 1,
                Err(other) => panic!("not a protocol error: {other:?}"),
            }
        }
        let mut status = 0;
        // SAFETY: `pid` is this test's child; `status` is a valid place for its status.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            break status;
        }
    };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
    assert!(records + errors > 0);
}

#[test]
#[should_panic(expected = "does not fit")]
fn writing_past_the_room_panics() {
    let mut w = WriteCursor::new(memory(64));
    w.write(0, 60, 64, std::iter::empty());
    w.write(0, 0, 8, std::iter::empty());
}
