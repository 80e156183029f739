//! Taking work back: the unstarted items of a busy worker go to an idle one (or end, when
//! their job was cancelled).
//!
//! The plan asks for a take-back ([`Action::Revoke`]); the shell bumps the epoch of the
//! worker's claim word and reports how many items the worker had claimed
//! ([`Plan::on_revoked`]). The items from there on are queued again. The worker skips
//! them as it comes to them, and says so ([`Plan::on_skipped`]): at exactly the claim
//! the parent saw, then at the first item of each later frame of the old epoch.
//!
//! The claim word is shared memory, which a task in the worker can write over. So the
//! plan checks what the worker says against what it took back: until the worker has said
//! that it stopped where the parent took the work back, it is sent nothing new (its
//! answers could not be told from those of the new work); and a skip of items that were
//! not taken back means the word was written over: the worker is killed, and the items it
//! skipped go to the next worker, with no one blamed.

use super::slot::TakeBack;
use super::{Action, Encoded, Phase, Plan, TAKE_BACK_AGE_NS, Unexpected};
use multiproc_process::progress::unpack_claim;

impl<E: Encoded> Plan<E> {
    pub(super) fn revoke(&mut self, worker: usize) {
        let slot = &mut self.slots[worker];
        // While a take-back is not acknowledged, every item the worker holds was claimed.
        if !slot.revoking && slot.stop_due.is_none() && slot.phase != Phase::Down {
            slot.revoking = true;
            let incarnation = slot.incarnation;
            self.actions.push_back(Action::Revoke { worker, incarnation });
        }
    }

    /// The worker answered a take-back: it will not start items from sequence number
    /// `claimed` on (`None`: it cannot take work back). They are queued again, those of
    /// cancelled jobs fail as cancelled. Returns how many items were cancelled.
    pub(crate) fn on_revoked(
        &mut self,
        worker: usize,
        incarnation: u64,
        claimed: Option<u64>,
        now: u64,
    ) -> usize {
        let slot = &mut self.slots[worker];
        if slot.incarnation != incarnation || !slot.revoking {
            return 0;
        }
        slot.revoking = false;
        let Some(claimed) = claimed else {
            slot.nothing_to_take = true;
            return 0;
        };
        // The worker skips every frame of the old epoch it has not started.
        let epoch = slot.epoch;
        slot.epoch = slot.epoch.wrapping_add(1);
        // Below what it answered, the claim word was written over (it answered only what
        // it had claimed): nothing can be known to be unstarted, so nothing is taken. The
        // worker finds the word wrong at its next claim and says so (see `on_skipped`).
        if claimed < slot.received || claimed >= slot.next_seq {
            slot.nothing_to_take = true;
            return 0;
        }
        slot.stop_due = Some(TakeBack { epoch, claimed });
        let taken = slot.take_from(claimed);
        let cancelled = self.requeue(taken);
        self.pump(now);
        cancelled
    }

    /// The worker skipped the items of a frame from claim `from` on (its epoch and the
    /// sequence number of the first item skipped). `Err` if they were not taken back:
    /// the caller kills the worker, and [`on_lost`](Self::on_lost) queues again what it
    /// had not started, blaming no one when its answers ended where it stopped.
    pub(crate) fn on_skipped(
        &mut self,
        worker: usize,
        incarnation: u64,
        from: u64,
        now: u64,
    ) -> Result<(), Unexpected> {
        let slot = &mut self.slots[worker];
        if slot.incarnation != incarnation || self.terminated {
            return Ok(());
        }
        let (epoch, seq) = unpack_claim(from);
        if let Some(due) = slot.stop_due
            && due.epoch == epoch
            && due.claimed == seq
        {
            // It stopped where the work was taken back: what it says from now on is
            // about the new work.
            slot.stop_due = None;
            slot.stopped = Some(due);
            self.pump(now);
            return Ok(());
        }
        // A later frame of an epoch whose stop was seen.
        if slot.stopped.is_some_and(|s| s.epoch == epoch && seq > s.claimed) {
            return Ok(());
        }
        slot.halted = seq == slot.received;
        Err(Unexpected)
    }

    /// For each idle worker, takes back the unstarted items of the worker that holds the
    /// most (an answer comes with [`on_revoked`](Self::on_revoked)), if it has held them
    /// for [`TAKE_BACK_AGE_NS`] at least.
    pub(super) fn take_back_for_idle(&mut self, now: u64) {
        let idle = self.slots.iter().filter(|s| s.idle()).count();
        for _ in 0..idle {
            let victim = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    s.takeable()
                        && s.in_flight
                            .front()
                            .is_some_and(|b| now.saturating_sub(b.sent_at) >= TAKE_BACK_AGE_NS)
                })
                .max_by_key(|(_, s)| s.unanswered())
                .map(|(w, _)| w);
            match victim {
                Some(worker) => self.revoke(worker),
                None => break,
            }
        }
    }
}
