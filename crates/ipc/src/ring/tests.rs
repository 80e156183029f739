//! The ring within one process: writer and reader on two threads, or taking turns.

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::{IpcError, SPIN, duplex};

/// A ring of `capacity` bytes with its writer and reader (the stager's channel inside).
fn pair(capacity: usize) -> (RingWriter, RingReader, Ring) {
    let ring = Ring::new(capacity).unwrap();
    let (a, b) = duplex().unwrap();
    let writer = RingWriter::new(ring.clone(), b.split().0);
    let reader = RingReader::new(ring.clone(), a.split().1);
    (writer, reader, ring)
}

/// The bytes of record `i`, `len` long: its index first, so a mix-up shows.
fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i.wrapping_mul(31).wrapping_add(j) % 251) as u8).collect()
}

/// Reads records until `count` were read, checking each against `payload`.
fn read_all(reader: &mut RingReader, lens: &[usize], mut pace: impl FnMut() -> usize) {
    let mut next = 0;
    while next < lens.len() {
        assert_eq!(reader.wait(Duration::ZERO, None), Wait::Ready);
        let mut records = reader.records();
        for record in records.by_ref().take(pace()) {
            let record = record.unwrap();
            assert_eq!(usize::from(record.kind()), next % 16);
            assert!(record.bytes() == payload(next, lens[next]), "record {next}");
            next += 1;
        }
    }
}

fn push_all(writer: &mut RingWriter, lens: &[usize]) -> Result<(), IpcError> {
    for (i, &len) in lens.iter().enumerate() {
        writer.push((i % 16) as u8, std::iter::once(&payload(i, len)[..]))?;
    }
    Ok(())
}

#[test]
fn auto_traits() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Ring>();
    send_sync::<RingWriter>();
    send::<RingReader>();
    send_sync::<RingCloser>();
    send::<Record<'static>>();
}

#[test]
fn capacity_is_a_power_of_two_of_at_least_4_kib() {
    assert_eq!(Ring::new(0).unwrap().capacity(), 4096);
    assert_eq!(Ring::new(4097).unwrap().capacity(), 8192);
    let err = Ring::new(usize::MAX).unwrap_err();
    assert!(matches!(err, IpcError::Io(e) if e.kind() == io::ErrorKind::InvalidInput));
}

#[test]
fn records_wrap_around_the_end_of_the_ring() {
    let (mut writer, mut reader, _) = pair(4096);
    let lens: Vec<usize> = (0..2000).map(|i| i % 97).collect();
    for chunk in (0..lens.len()).collect::<Vec<_>>().chunks(9) {
        for &i in chunk {
            writer.push((i % 16) as u8, std::iter::once(&payload(i, lens[i])[..])).unwrap();
        }
        let records: Vec<_> = reader.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), chunk.len());
        for (record, &i) in records.iter().zip(chunk) {
            assert_eq!(record.bytes(), payload(i, lens[i]));
        }
    }
}

#[test]
fn records_above_an_eighth_of_the_capacity_are_staged() {
    let (mut writer, mut reader, _) = pair(4096);
    let (small, large) = (payload(0, 512), payload(1, 513));
    writer.push(3, [&small[..256], &small[256..]].into_iter()).unwrap();
    writer.push(4, std::iter::once(&large[..])).unwrap();
    let records: Vec<_> = reader.records().collect::<Result<_, _>>().unwrap();
    assert!(matches!(&records[0], Record::Inline { kind: 3, bytes } if *bytes == &small[..]));
    assert!(matches!(&records[1], Record::Staged { kind: 4, message } if ***message == large[..]));
    assert!(format!("{:?}", records[1]).contains("staged: true"));
}

#[test]
fn held_staged_records_never_fall_back_and_extra_regions_are_not_kept() {
    let (mut writer, mut reader, _) = pair(4096);
    let lens = vec![100 << 10; 7];
    push_all(&mut writer, &lens).unwrap();
    let held: Vec<_> = reader.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(held.len(), 7, "more records than the pool has regions");
    assert!(held.iter().all(|r| matches!(r, Record::Staged { .. })));
    let messages: Vec<_> = held
        .into_iter()
        .map(|r| match r {
            Record::Staged { message, .. } => message,
            Record::Inline { .. } => unreachable!(),
        })
        .collect();
    for (i, message) in messages.iter().enumerate() {
        assert!(***message == payload(i, lens[i]));
    }
    assert_eq!(reader.receiver().mapped_regions(), 4, "regions beyond the bound are not kept");
    drop(messages);
    push_all(&mut writer, &lens[..1]).unwrap();
    assert!(matches!(reader.records().next(), Some(Ok(Record::Staged { .. }))));
    assert_eq!(reader.receiver().mapped_regions(), 4, "a pooled region was reused");
}

#[test]
fn a_full_ring_blocks_the_writer_until_the_reader_frees_room() {
    let (mut writer, mut reader, _) = pair(4096);
    let lens: Vec<usize> = (0..5000).map(|i| (i * 7) % 300).collect();
    let pushed = {
        let lens = lens.clone();
        thread::spawn(move || push_all(&mut writer, &lens))
    };
    read_all(&mut reader, &lens, || 3);
    pushed.join().unwrap().unwrap();
}

#[test]
fn an_open_ring_is_read_a_quarter_at_a_time_and_a_closed_one_at_once() {
    let (mut writer, mut reader, _) = pair(4096);
    push_all(&mut writer, &[100; 30]).unwrap(); // 30 records of 104 bytes in the ring
    assert_eq!(reader.records().count(), 10, "1,040 bytes: past a quarter of 4 KiB");
    assert_eq!(reader.wait(Duration::ZERO, None), Wait::Ready);
    assert_eq!(reader.records().count(), 10);
    push_all(&mut writer, &[100; 10]).unwrap();
    reader.closer().close();
    assert_eq!(reader.records().count(), 20, "everything left, once closed");
}

#[test]
fn records_yields_runs_with_by_ref_take() {
    let (mut writer, mut reader, _) = pair(4096);
    push_all(&mut writer, &[8; 10]).unwrap();
    let mut records = reader.records();
    assert_eq!(records.by_ref().take(4).count(), 4);
    assert_eq!(records.next().unwrap().unwrap().bytes(), payload(4, 8));
    assert_eq!(records.count(), 5);
    assert_eq!(reader.records().count(), 0);
}

#[test]
fn dropping_the_reader_fails_a_writer_that_waits_for_room() {
    let (mut writer, reader, _) = pair(4096);
    drop(reader);
    let chunk = [0u8; 400];
    let err = loop {
        if let Err(e) = writer.push(0, std::iter::once(&chunk[..])) {
            break e;
        }
    };
    assert!(err.is_disconnected(), "{err:?}");
}

#[test]
fn a_dropped_reader_wakes_a_writer_asleep_for_room() {
    let (mut writer, reader, _) = pair(4096);
    let chunk = [0u8; 400];
    let pushing = thread::spawn(move || {
        loop {
            if let Err(e) = writer.push(0, std::iter::once(&chunk[..])) {
                return e;
            }
        }
    });
    drop(reader);
    assert!(pushing.join().unwrap().is_disconnected());
}

#[test]
fn close_ends_waits_for_good_and_keeps_the_records() {
    let (mut writer, mut reader, _) = pair(4096);
    push_all(&mut writer, &[5, 6, 7]).unwrap();
    let closer = reader.closer();
    assert!(!reader.is_closed());
    closer.close();
    assert!(reader.is_closed());
    assert_eq!(reader.wait(Duration::ZERO, None), Wait::Closed);
    assert_eq!(reader.records().count(), 3);
    push_all(&mut writer, &[1]).unwrap();
    assert_eq!(reader.wait(SPIN, None), Wait::Closed, "closed stays closed");
}

#[test]
fn close_from_another_thread_wakes_a_sleeping_reader() {
    let (_writer, mut reader, _) = pair(4096);
    let closer = reader.closer();
    let closing = thread::spawn(move || closer.close());
    assert_eq!(reader.wait(Duration::ZERO, None), Wait::Closed);
    closing.join().unwrap();
}

#[test]
fn a_wait_ends_at_its_deadline() {
    let (_writer, mut reader, _) = pair(4096);
    let deadline = Instant::now() + Duration::from_millis(1);
    assert_eq!(reader.wait(Duration::from_micros(100), Some(deadline)), Wait::TimedOut);
    assert_eq!(reader.wait(Duration::ZERO, Some(Instant::now())), Wait::TimedOut);
}

#[test]
fn sleeping_sides_wake_each_other_in_a_ping_pong() {
    let (mut ping, mut ping_reader, _) = pair(4096);
    let (mut pong, mut pong_reader, _) = pair(4096);
    let rounds = 2000;
    let echo = thread::spawn(move || {
        for _ in 0..rounds {
            assert_eq!(ping_reader.wait(Duration::ZERO, None), Wait::Ready);
            let bytes: Vec<u8> =
                ping_reader.records().flat_map(|r| r.unwrap().bytes().to_vec()).collect();
            pong.push(0, std::iter::once(&bytes[..])).unwrap();
        }
    });
    for i in 0..rounds {
        let sent = (i as u64).to_le_bytes();
        ping.push(1, std::iter::once(&sent[..])).unwrap();
        assert_eq!(pong_reader.wait(Duration::ZERO, None), Wait::Ready);
        let back: Vec<_> = pong_reader.records().map(|r| r.unwrap().bytes().to_vec()).collect();
        assert_eq!(back, [sent.to_vec()]);
    }
    echo.join().unwrap();
}

#[test]
fn a_record_above_the_pool_bound_gets_a_region_of_its_own() {
    let (mut writer, mut reader, _) = pair(4096);
    let len = crate::regions::MAX_POOL_BYTES + 4096 + 3;
    let mut big = vec![0u8; len]; // untouched pages cost nothing until written
    for at in [0, len / 2, len - 1] {
        big[at] = 0xa5;
    }
    writer.push(9, [&b"head"[..], &big].into_iter()).unwrap();
    let record = reader.records().next().unwrap().unwrap();
    assert!(matches!(&record, Record::Staged { kind: 9, .. }));
    assert_eq!(record.bytes().len(), len + 4);
    assert!(record.bytes()[4..] == big[..]);
    assert_eq!(reader.receiver().mapped_regions(), 0, "the receiver did not keep it");
}

#[test]
#[should_panic(expected = "record kind 16 is above 15")]
fn kinds_above_15_panic() {
    let (mut writer, _reader, _) = pair(4096);
    let _ = writer.push(16, std::iter::empty());
}

#[test]
fn a_ring_travels_inside_a_message() {
    let (mut writer, reader, ring) = pair(4096);
    drop(reader);
    let (tx, rx) = ipc_channel::ipc::channel::<Ring>().unwrap();
    tx.send(ring).unwrap();
    let there = rx.recv().unwrap();
    let (a, _b) = duplex().unwrap();
    push_all(&mut writer, &[3]).unwrap();
    let mut second = RingReader::new(there, a.split().1);
    assert_eq!(second.records().next().unwrap().unwrap().bytes(), payload(0, 3));
}

/// Once the writer is gone, the reader reads past the published head only the record the
/// writer began there in pieces: bytes of an earlier lap that look like an open record are
/// not one, and a record closed but not yet published when the writer died is read whole.
#[test]
fn only_the_record_the_writer_began_is_read_past_the_head() {
    use super::header::{Tag, encode};
    // The word at the published head: a record header of 4 bytes, then "abcd".
    let forge = |ring: &Ring, tag: Tag| {
        let head = ring.memory().head().load(Ordering::Acquire);
        let at = crate::sys::RING_HEADER + (head % ring.capacity() as u64) as usize;
        let bytes = u64::from(u32::from_le_bytes(*b"abcd"));
        scribble(ring, &[(at, u64::from(encode(tag, 3, 4)) | (bytes << 32))]);
    };
    for (begun, tag, salvaged) in
        [(false, Tag::Open, false), (true, Tag::Open, true), (true, Tag::Inline, true)]
    {
        let (mut writer, mut reader, ring) = pair(4096);
        push_all(&mut writer, &[10, 20]).unwrap();
        if begun {
            let mut record = writer.open(3).unwrap();
            record.spare()[..4].copy_from_slice(b"abcd");
            record.add(4);
            std::mem::forget(record); // the writer dies with it open
        }
        forge(&ring, tag); // as left by an earlier lap, or by a close before the publish
        reader.closer().close();
        let records: Vec<_> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2 + usize::from(salvaged), "begun {begun}, {tag:?}");
        if salvaged {
            assert_eq!((records[2].kind(), records[2].bytes()), (3, &b"abcd"[..]));
        }
    }
}

/// A writer that dies before it writes anything leaves nothing to read, not an empty
/// record made of the ring's zeroed memory.
#[test]
fn a_writer_gone_before_its_first_record_leaves_nothing() {
    let (_writer, mut reader, _ring) = pair(4096);
    reader.closer().close();
    assert!(reader.records().next().is_none());
}

/// A record lent to the caller is the reader's own copy: a writer that rewrites the ring
/// (the record's bytes, its header, the head) while the caller holds the record changes
/// nothing the caller reads.
#[test]
fn a_record_read_does_not_change_when_the_writer_rewrites_the_ring() {
    let (mut writer, mut reader, ring) = pair(4096);
    push_all(&mut writer, &[40, 24]).unwrap();
    let mut records = reader.records();
    let first = records.next().unwrap().unwrap();
    let words: Vec<_> = (0..(512 + 4096) / 8).map(|i| (8 * i, u64::MAX)).collect();
    scribble(&ring, &words[..64]); // the header: head, tail, bells
    scribble(&ring, &words[64..]); // every record
    assert_eq!(first.bytes(), payload(0, 40));
    let second = records.next().unwrap().unwrap();
    assert_eq!((first.bytes(), second.bytes()), (&payload(0, 40)[..], &payload(1, 24)[..]));
}

/// Writes `words` (offset in bytes, value) straight into the ring's memory, as a writer
/// that ignores the protocol would.
fn scribble(ring: &Ring, words: &[(usize, u64)]) {
    let map = ring.memory().map();
    for &(offset, value) in words {
        map.word((offset % map.len()) / 8).store(value, Ordering::Relaxed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random record sizes (inline and staged), a small ring that wraps often, a reader
    /// that reads random runs: every record read once, in order, byte for byte.
    #[test]
    fn records_arrive_once_in_order_whatever_the_sizes_and_pacing(
        lens in prop::collection::vec(prop_oneof![8 => 0usize..200, 2 => 200usize..=512, 1 => 513usize..3000], 1..400),
        pacing in prop::collection::vec(1usize..40, 1..20),
    ) {
        let (mut writer, mut reader, _) = pair(4096);
        let pushed = {
            let lens = lens.clone();
            thread::spawn(move || push_all(&mut writer, &lens))
        };
        let mut paces = pacing.iter().copied().cycle();
        read_all(&mut reader, &lens, || paces.next().unwrap_or(1));
        pushed.join().unwrap().unwrap();
        prop_assert_eq!(reader.records().count(), 0);
    }

    /// Whatever a writer leaves in the ring's memory (head and tail included), reading
    /// yields whole records or a protocol error, never a panic or a read out of bounds.
    #[test]
    fn arbitrary_ring_memory_reads_as_records_or_protocol_errors(
        valid in prop::collection::vec(0usize..600, 0..40),
        words in prop::collection::vec((0usize..(512 + 4096), any::<u64>()), 0..64),
        head in prop::option::of(prop_oneof![0u64..8192, any::<u64>()]),
    ) {
        let (mut writer, mut reader, ring) = pair(4096);
        push_all(&mut writer, &valid[..valid.len().min(6)]).unwrap();
        scribble(&ring, &words);
        if let Some(head) = head {
            ring.memory().head().store(head, Ordering::Release);
        }
        for _ in 0..3 {
            let _ = reader.wait(Duration::ZERO, Some(Instant::now()));
            for record in reader.records() {
                match record {
                    Ok(record) => prop_assert!(record.bytes().len() < (1 << 26)),
                    Err(IpcError::Protocol(_)) => {}
                    Err(other) => prop_assert!(false, "not a protocol error: {other:?}"),
                }
            }
        }
    }
}
