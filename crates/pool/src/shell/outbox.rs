//! [`Outbox`]: one worker's sends, in the order the plan decided them, whatever thread
//! carries each out.
//!
//! The plan decides sends under the pool's lock; threads carry them out after releasing
//! it, so two sends to one worker could race. Each send gets a ticket when it is decided
//! (under the lock, so tickets follow the plan's order) and waits for its turn. A send
//! never waits for the worker to read, so a turn never waits long, and no thread waits
//! for one while holding the pool's lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use multiproc_codec::{Args, Control, FrameBuf, TaskFramer};

use crate::backend::FrameSender;
use crate::plan::Batch;

#[derive(Debug, Default)]
struct Turn {
    /// The ticket whose turn it is.
    next: u64,
    /// Frames batches at send (its buffers are reused).
    framer: TaskFramer,
}

/// One worker's sends, in ticket order.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    issued: AtomicU64,
    turn: Mutex<Turn>,
    cond: Condvar,
}

impl Outbox {
    /// The ticket of a send just decided (call under the pool's lock).
    pub(super) fn issue(&self) -> u64 {
        self.issued.fetch_add(1, Ordering::Relaxed)
    }

    /// Waits for `ticket`'s turn, then sends `batch` framed (or, for `None`, a request to
    /// shut down). A worker that is gone is left to its reader, which sees the loss.
    pub(super) fn send(&self, ticket: u64, tx: &dyn FrameSender, batch: Option<&Batch<Args>>) {
        let mut turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        while turn.next != ticket {
            turn = self.cond.wait(turn).unwrap_or_else(|e| e.into_inner());
        }
        match batch {
            Some(b) => match turn.framer.frame(b.stamp, b.func, b.revocable, &b.args) {
                Ok(parts) => {
                    let _ = tx.send_tasks(&parts, &b.items);
                }
                // Runs are bounded when submitted and batches merge only small runs: a
                // batch always fits a frame.
                Err(e) => unreachable!("a batch fits a frame: {e}"),
            },
            None => {
                let mut fb = FrameBuf::new();
                let _ = tx.send(&[fb.control(&Control::Shutdown)]);
            }
        }
        turn.next += 1;
        self.cond.notify_all();
    }
}
