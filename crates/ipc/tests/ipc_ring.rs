//! A ring between real processes: the writer is a forked child that exits, is killed, or
//! leaves a grandchild behind; what it published is read whole, in order, after its death.
//!
//! The tests fork in parallel; none relies on end-of-file to finish.

mod forking;

use std::thread;
use std::time::{Duration, Instant};

use forking::{fork_child, reap, wait_status};
use multiproc_ipc::{IpcError, Record, Ring, RingReader, RingWriter, SPIN, Wait, duplex};

/// Long enough for anything here to happen on a loaded machine; a wait that hits it fails
/// the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(20);

/// The bytes of record `i`: its length varies with `i`, every 97th is staged (above an
/// eighth of a 64 KiB ring), and its index comes first, so a mix-up or a tear shows.
fn payload(i: u64) -> Vec<u8> {
    let len = if i % 97 == 50 { 9000 + (i % 7) as usize * 5000 } else { 8 + (i % 61) as usize };
    let mut bytes: Vec<u8> = (0..len).map(|j| (i as usize * 7 + j) as u8).collect();
    bytes[..8].copy_from_slice(&i.to_le_bytes());
    bytes
}

fn push(writer: &mut RingWriter, i: u64) -> Result<(), IpcError> {
    writer.push((i % 16) as u8, std::iter::once(&payload(i)[..]))
}

/// Checks `record` is record `i`, whole.
fn check(record: Result<Record<'_>, IpcError>, i: u64) {
    let record = record.unwrap_or_else(|e| panic!("record {i}: {e}"));
    assert_eq!(u64::from(record.kind()), i % 16, "record {i}");
    assert!(record.bytes() == payload(i), "record {i} differs");
    assert_eq!(matches!(record, Record::Staged { .. }), i % 97 == 50, "record {i}");
}

/// Kills a process on drop (a grandchild is not ours to reap).
struct KillOnDrop(libc::pid_t);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: sends a signal; `self.0` is a process this test started.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

/// The child pushes `count` records and dies (`_exit(0)` or SIGKILL) before the parent
/// reads anything: every record is there, whole, including the staged ones.
fn records_outlive_their_writer(kill: bool) {
    let ring = Ring::new(64 << 10).expect("ring");
    let (parent, child) = duplex().expect("duplex");
    let count = 300;
    let pid = fork_child(|| {
        let mut writer = RingWriter::new(ring.clone(), child.split().0);
        for i in 0..count {
            push(&mut writer, i).expect("push");
        }
        if kill {
            // SAFETY: signals this very process.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    });
    let status = wait_status(pid);
    if kill {
        assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
    } else {
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
    }
    let mut reader = RingReader::new(ring, parent.split().1);
    assert_eq!(reader.wait(Duration::ZERO, Some(Instant::now())), Wait::Ready);
    reader.closer().close(); // the writer is gone: read everything at once
    let mut read = 0;
    for record in reader.records() {
        check(record, read);
        read += 1;
    }
    assert_eq!(read, count);
}

#[test]
fn records_outlive_a_writer_that_exited() {
    records_outlive_their_writer(false);
}

#[test]
fn records_outlive_a_writer_killed_by_sigkill() {
    records_outlive_their_writer(true);
}

/// The child pushes for ever; the parent reads along and kills it after `seen` records,
/// most likely in the middle of a push, then reads what is left: a prefix, every record
/// whole.
#[test]
fn a_writer_killed_while_pushing_leaves_a_prefix_of_whole_records() {
    for seen in [1, 777, 5000] {
        let ring = Ring::new(64 << 10).expect("ring");
        let (parent, child) = duplex().expect("duplex");
        let pid = fork_child(|| {
            let mut writer = RingWriter::new(ring.clone(), child.split().0);
            for i in 0.. {
                push(&mut writer, i).expect("push");
            }
        });
        let mut reader = RingReader::new(ring, parent.split().1);
        let mut read = 0;
        while read < seen {
            assert_eq!(reader.wait(SPIN, Some(Instant::now() + PATIENCE)), Wait::Ready);
            for record in reader.records() {
                check(record, read);
                read += 1;
            }
        }
        // SAFETY: sends a signal to this test's child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(libc::WIFSIGNALED(wait_status(pid)));
        reader.closer().close();
        for record in reader.records() {
            check(record, read);
            read += 1;
        }
        assert!(read >= seen);
        assert!(reader.records().next().is_none(), "nothing after the last whole record");
    }
}

/// A task's grandchild keeps the writer's memory and descriptors open after the worker
/// died, so no end-of-file ever comes: the reader's wait still ends, because the thread
/// that saw the worker exit closes the ring.
#[test]
fn closing_ends_a_wait_that_a_grandchild_would_keep_open() {
    let ring = Ring::new(4096).expect("ring");
    let (parent, child) = duplex().expect("duplex");
    let pid = fork_child(|| {
        let (tx, rx) = child.split();
        let mut writer = RingWriter::new(ring.clone(), tx);
        let grandchild = fork_child(|| {
            // SAFETY: `alarm` and `pause` only deal with signals: the test kills this
            // process, or SIGALRM does within a minute if the test failed first.
            unsafe { libc::alarm(60) };
            loop {
                // SAFETY: as above.
                unsafe { libc::pause() };
            }
        });
        writer.push(0, std::iter::once(&grandchild.to_le_bytes()[..])).expect("push");
        rx.recv().expect("the parent's word to exit");
    });
    let (tx, rx) = parent.split();
    let mut reader = RingReader::new(ring, rx);
    let closer = reader.closer();
    let watcher = thread::spawn(move || {
        let code = reap(pid);
        closer.close();
        code
    });
    assert_eq!(reader.wait(Duration::ZERO, Some(Instant::now() + PATIENCE)), Wait::Ready);
    let grandchild = {
        let record = reader.records().next().expect("a record").expect("whole");
        let bytes = <[u8; 4]>::try_from(record.bytes()).expect("a pid");
        KillOnDrop(libc::pid_t::from_le_bytes(bytes))
    };
    tx.send(b"exit").expect("send");
    assert_eq!(reader.wait(Duration::ZERO, Some(Instant::now() + PATIENCE)), Wait::Closed);
    assert_eq!(watcher.join().expect("watcher"), 0);
    assert!(reader.records().next().is_none());
    drop(grandchild);
}

/// The reader sleeps on the futex (no polling) and the writer in another process wakes it:
/// a round trip per record, the reply going back over the channel.
#[test]
fn a_reader_asleep_is_woken_by_a_writer_in_another_process() {
    let ring = Ring::new(4096).expect("ring");
    let (parent, child) = duplex().expect("duplex");
    let rounds = 500;
    let pid = fork_child(|| {
        let (tx, rx) = child.split();
        let mut writer = RingWriter::new(ring.clone(), tx);
        for i in 0..rounds {
            push(&mut writer, i).expect("push");
            assert_eq!(rx.recv().expect("reply").into_vec(), i.to_le_bytes());
        }
    });
    let (tx, rx) = parent.split();
    let mut reader = RingReader::new(ring, rx);
    for i in 0..rounds {
        assert_eq!(reader.wait(Duration::ZERO, Some(Instant::now() + PATIENCE)), Wait::Ready);
        let mut records = reader.records();
        check(records.next().expect("a record"), i);
        assert!(records.next().is_none());
        tx.send(&i.to_le_bytes()).expect("reply");
    }
    assert_eq!(reap(pid), 0);
}

/// A writer killed with a record still open: once the ring is closed, the reader gets
/// every record it published and then the open one, with every piece added before the
/// kill — and nothing when no record was open.
#[test]
fn a_record_left_open_by_a_killed_writer_is_read_up_to_its_last_piece() {
    for open_one in [true, false] {
        let ring = Ring::new(64 << 10).expect("ring");
        let (parent, child) = duplex().expect("duplex");
        let pid = fork_child(|| {
            let mut writer = RingWriter::new(ring.clone(), child.split().0);
            for i in 0..3 {
                push(&mut writer, i).expect("push");
            }
            if open_one {
                let mut record = writer.open(9).expect("open");
                for piece in [&b"alpha "[..], b"beta "] {
                    let added = record.append_with(|room| {
                        room[..piece.len()].copy_from_slice(piece);
                        Some(piece.len())
                    });
                    assert_eq!(added, Some(piece.len()));
                }
                std::mem::forget(record); // never closed: the process dies first
            }
            // SAFETY: signals this very process.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        });
        let status = wait_status(pid);
        assert!(libc::WIFSIGNALED(status), "{status:#x}");
        let mut reader = RingReader::new(ring, parent.split().1);
        // While the ring is open, only what was published.
        assert_eq!(reader.records().count(), 3);
        reader.closer().close();
        let rest: Vec<_> = reader.records().map(|r| r.expect("a record")).collect();
        match open_one {
            true => {
                assert_eq!(rest.len(), 1);
                assert_eq!((rest[0].kind(), rest[0].bytes()), (9, &b"alpha beta "[..]));
            }
            false => assert!(rest.is_empty(), "{rest:?}"),
        }
    }
}
