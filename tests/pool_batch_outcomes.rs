//! Batching never changes what a task's outcome is, under every start method:
//! - a worker that dies fails only the item it was running: items of its chunk that had
//!   finished are delivered (not run again), those it had not started run elsewhere, once,
//!   and are not charged for the death;
//! - a finished item's result reaches the caller while later items of the same chunk are
//!   still running (it is not held back until the chunk ends);
//! - every kind of answer (values of any size, errors, panics, values that cannot be
//!   encoded, a death) reaches its own item, however the batch's answers are written.
//!
//! Each item logs its index when it starts, so the tests see how often each ran.

use multiproc::pool::{Pool, TaskError};
use multiproc::{ExitStatus, StartMethod};
use serde::ser::Error as _;
use serde::{Deserialize, Serialize, Serializer};

mod common;
use common::{Gate, RunLog, gated, log_run, serial};

/// Logs `i`, then aborts for the listed items, else returns `i * 10`.
fn abort_on((i, log, aborts): (u64, String, Vec<u64>)) -> u64 {
    log_run(&log, i);
    if aborts.contains(&i) {
        std::process::abort();
    }
    i * 10
}

#[test]
fn a_death_in_a_chunk_fails_only_the_item_running() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = Pool::builder().processes(1).start_method(method).build().unwrap();
        let log = RunLog::new("neighbours");
        let aborts = vec![1, 2, 3];
        let items: Vec<_> = (0..10).map(|i| (i, log.arg(), aborts.clone())).collect();
        let got = pool.chunksize(10).map_results(abort_on, items).unwrap();
        for (i, outcome) in (0..10u64).zip(&got) {
            if aborts.contains(&i) {
                let Err(TaskError::WorkerDied { status, .. }) = outcome else {
                    panic!("{method}: item {i}: {outcome:?}")
                };
                assert_eq!(*status, Some(ExitStatus::Signal(libc::SIGABRT)), "{method}: item {i}");
            } else {
                assert_eq!(*outcome, Ok(i * 10), "{method}: item {i}");
            }
        }
        let runs = log.runs();
        for i in 0..10 {
            assert_eq!(runs.get(&i), Some(&1), "{method}: item {i} ran {:?} times", runs.get(&i));
        }
    }
}

/// `x` at once, or (for a gate) `gated`'s 7 once the gate opens.
fn quick_or_gated(x: (u64, Option<String>)) -> u64 {
    match x {
        (x, None) => x,
        (_, Some(gate)) => gated(gate),
    }
}

#[test]
fn a_finished_result_arrives_while_its_chunk_still_runs() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = Pool::builder().processes(1).start_method(method).build().unwrap();
        let gate = Gate::new(&format!("held-back-{method}"));
        let items = vec![(0, None), (1, None), (2, Some(gate.arg())), (3, None)];
        let mut results = pool.chunksize(4).imap(quick_or_gated, items).unwrap();
        // Items 0 and 1 ran before the gated item 2, in the same chunk: their results come
        // while item 2 waits (a `next` that waited for the chunk would hang here).
        assert_eq!(results.next(), Some(Ok(0)), "{method}");
        assert_eq!(results.next(), Some(Ok(1)), "{method}");
        gate.wait_started();
        gate.open();
        assert_eq!(results.collect::<Vec<_>>(), [Ok(7), Ok(3)], "{method}");
    }
}

/// Bytes that encode as themselves, except 13 of them, which refuse to be encoded.
#[derive(Debug, PartialEq, Deserialize)]
struct Reply(Vec<u8>);

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.len() == 13 {
            return Err(S::Error::custom("13 bytes refuse to be encoded"));
        }
        self.0.serialize(s)
    }
}

/// What item `i` of [`mixed_reply`] does.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Ends its worker.
    Dies,
    /// Returns an error.
    Fails,
    Panics,
    /// Returns a value that cannot be encoded.
    Unencodable,
    /// Returns this many bytes.
    Value(usize),
}

/// Mostly a few bytes; among them, values too large for a record of answers (and one
/// staged in shared memory), values that cannot be encoded, errors, panics, and one
/// worker's death.
fn kind(i: u64) -> Kind {
    match i {
        2_222 => Kind::Dies,
        777 => Kind::Value(3 << 20),
        _ if i % 50 == 3 => Kind::Value(100 << 10),
        _ if i % 41 == 5 => Kind::Fails,
        _ if i % 43 == 7 => Kind::Panics,
        _ if i % 47 == 9 => Kind::Unencodable,
        _ => Kind::Value((i % 12) as usize),
    }
}

/// Does what [`kind`] says for item `i`.
fn mixed_reply(i: u64) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
    match kind(i) {
        Kind::Dies => std::process::abort(),
        Kind::Fails => Err(format!("item {i} fails").into()),
        Kind::Panics => panic!("item {i} panics"),
        Kind::Unencodable => Ok(Reply(vec![9; 13])),
        Kind::Value(len) => Ok(Reply(vec![i as u8; len])),
    }
}

#[test]
fn every_kind_of_answer_in_one_long_batch_stays_with_its_item() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = Pool::builder().processes(2).start_method(method).build().unwrap();
        // Chunks of 2 000 items: whichever way the pool batches them (by the items' pace)
        // and the workers write their answers (a block of many, a record alone, a staged
        // one), each answer goes to its own item. (The worker's loop over a batch claimed
        // whole is also tested alone, in `multiproc-process`'s `serve` tests.)
        let got = pool.chunksize(2_000).map_results(mixed_reply, 0..4_000u64).unwrap();
        assert_eq!(got.len(), 4_000, "{method}");
        for (i, outcome) in (0..4_000u64).zip(got) {
            match (kind(i), outcome) {
                (Kind::Dies, Err(TaskError::WorkerDied { status, .. })) => {
                    assert_eq!(status, Some(ExitStatus::Signal(libc::SIGABRT)), "{method}: {i}")
                }
                (Kind::Fails, Err(TaskError::Failed(info))) => {
                    assert_eq!(info.message(), format!("item {i} fails"), "{method}: {i}")
                }
                (Kind::Panics, Err(TaskError::Panicked(info))) => {
                    assert_eq!(info.message, format!("item {i} panics"), "{method}: {i}")
                }
                (Kind::Unencodable, Err(TaskError::Codec(e))) => {
                    assert!(e.to_string().contains("13 bytes refuse"), "{method}: {i}: {e}")
                }
                (Kind::Value(len), Ok(reply)) => {
                    assert!(reply == Reply(vec![i as u8; len]), "{method}: item {i}: {len} bytes")
                }
                (kind, outcome) => panic!("{method}: item {i}: {kind:?} answered {outcome:?}"),
            }
        }
        pool.close();
        pool.join().unwrap();
    }
}
