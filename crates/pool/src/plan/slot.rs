//! [`Slot`]: one worker as the plan sees it — the batches it holds, which items of them it
//! has answered, and the sequence numbers that name its items.
//!
//! Every item sent to a worker incarnation gets the next sequence number. The worker
//! answers items in that order, so what it holds is always the range
//! `received..next_seq`; taking work back cuts that range at the worker's claim.

use std::collections::VecDeque;

use multiproc_codec::FnId;

use super::run::{Encoded, JobId, Run};
use super::span::Span;

/// Where a worker slot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No worker: starting one, or stopped for good.
    Down,
    /// Takes work.
    Ready,
    /// Ran its quota (`max_tasks_per_child`): finishes what it holds, then exits.
    Retiring,
}

/// A batch a worker holds.
#[derive(Debug)]
pub(crate) struct Sent<E> {
    pub func: FnId,
    /// Sequence number of its first item.
    pub first_seq: u64,
    /// Its items in order (a batch may merge runs of several jobs of one function).
    pub runs: VecDeque<Run<E>>,
    /// Items not answered yet.
    pub left: usize,
    /// Items when sent.
    pub len: usize,
    /// Predicted to run within `QUICK_NS`.
    pub quick: bool,
    /// When it was sent (plan clock, ns).
    pub sent_at: u64,
    /// The job and index of its first item.
    pub first: (JobId, usize),
}

/// One worker slot.
#[derive(Debug)]
pub(crate) struct Slot<E> {
    pub phase: Phase,
    /// Which worker started in this slot, counting from 1; events of an earlier one are
    /// stale.
    pub incarnation: u64,
    /// The epoch of the frames sent: bumped when work is taken back, so the worker skips
    /// the frames sent before.
    pub epoch: u16,
    pub next_seq: u64,
    /// Items answered so far (the sequence number of the next answer).
    pub received: u64,
    pub in_flight: VecDeque<Sent<E>>,
    /// Items this incarnation may still be sent.
    pub quota: Option<u64>,
    /// The item this worker was killed for running too long.
    pub timed_out: Option<u64>,
    /// When its latest batch was fully answered (or it started).
    pub last_done: u64,
    /// A take-back was asked for and not answered yet.
    pub revoking: bool,
    /// The last take-back found nothing unstarted; none is tried again until new work
    /// is sent.
    pub nothing_to_take: bool,
    /// It answered at least one item.
    pub progressed: bool,
    /// Time it held work, over the batches it completed (ns).
    pub working_ns: u64,
    /// It asked to retire after a task (its memory or its descriptors).
    pub asked_to_retire: bool,
    /// It broke the protocol (wrote garbage where its answers go): whatever its progress
    /// words say, it had started its first unanswered item.
    pub broke: bool,
    /// Work was taken back from it, and it has not yet said that it stopped there: it is
    /// sent nothing until it has (see `take_back`).
    pub stop_due: Option<TakeBack>,
    /// Its latest take-back that it said it stopped at: it skips the later frames of
    /// that epoch too.
    pub stopped: Option<TakeBack>,
    /// It skipped items that were not taken back (its claim word was written over),
    /// right after its last answer: it had started nothing it was not answered for.
    pub halted: bool,
}

/// A take-back: the epoch of the frames it revoked, and the claim where it cut them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TakeBack {
    pub epoch: u16,
    pub claimed: u64,
}

impl<E> Default for Slot<E> {
    fn default() -> Self {
        Slot {
            phase: Phase::Down,
            incarnation: 0,
            epoch: 0,
            next_seq: 0,
            received: 0,
            in_flight: VecDeque::new(),
            quota: None,
            timed_out: None,
            last_done: 0,
            revoking: false,
            nothing_to_take: false,
            progressed: false,
            working_ns: 0,
            asked_to_retire: false,
            broke: false,
            stop_due: None,
            stopped: None,
            halted: false,
        }
    }
}

/// A batch fully answered: its function, its first item, its size, and how long it took.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    pub func: FnId,
    pub first: (JobId, usize),
    pub items: usize,
    pub elapsed_ns: u64,
}

impl<E: Encoded> Slot<E> {
    /// Starts incarnation `incarnation` with nothing sent.
    pub(crate) fn reset(&mut self, incarnation: u64, quota: Option<u64>, now: u64) {
        *self = Slot { phase: Phase::Ready, incarnation, quota, last_done: now, ..Slot::default() };
    }

    /// Takes work.
    pub(crate) fn ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Items sent and not answered.
    pub(crate) fn unanswered(&self) -> u64 {
        self.next_seq - self.received
    }

    /// Whether it may be sent work: it is ready, and not waiting to say where it stopped
    /// after a take-back.
    pub(crate) fn takes_work(&self) -> bool {
        self.ready() && self.stop_due.is_none()
    }

    /// Whether it takes work and holds nothing.
    pub(crate) fn idle(&self) -> bool {
        self.takes_work() && self.in_flight.is_empty()
    }

    /// Whether it may hold items it has not started that could be taken back (once it
    /// has held them for a while).
    pub(crate) fn takeable(&self) -> bool {
        self.phase != Phase::Down
            && !self.revoking
            && !self.nothing_to_take
            && self.stop_due.is_none()
            && self.unanswered() >= 2
    }

    /// Whether the batch it runs now is predicted to end soon (or it holds none).
    pub(crate) fn ends_soon(&self) -> bool {
        self.in_flight.front().is_none_or(|b| b.quick)
    }

    /// Time it has held work until `now` (ns): its completed stretches and the one under
    /// way.
    pub(crate) fn working_until(&self, now: u64) -> u64 {
        let current =
            self.in_flight.front().map_or(0, |b| now.saturating_sub(self.last_done.max(b.sent_at)));
        self.working_ns + current
    }

    /// Records a batch sent now.
    pub(crate) fn send(&mut self, func: FnId, runs: Vec<Run<E>>, quick: bool, now: u64) -> u64 {
        let len: usize = runs.iter().map(Run::len).sum();
        let first = runs.first().map_or((JobId(0), 0), |r| (r.job, r.indices.at(0)));
        let first_seq = self.next_seq;
        self.next_seq += len as u64;
        self.in_flight.push_back(Sent {
            func,
            first_seq,
            runs: runs.into(),
            left: len,
            len,
            quick,
            sent_at: now,
            first,
        });
        self.nothing_to_take = false;
        first_seq
    }

    /// Takes the next `n` answers: appends where they go to `spans` (in order) and
    /// returns the batches they complete. `None` if the worker holds fewer items.
    ///
    /// Batches completed by one call ran one after the other since the first of them
    /// started: each is timed over that whole stretch, at the pace of all of them (their
    /// answers came together, so their own ends are unknown).
    pub(crate) fn answer(
        &mut self,
        mut n: usize,
        now: u64,
        spans: &mut Vec<Span>,
        done: &mut Vec<Done>,
    ) -> Option<()> {
        if n as u64 > self.unanswered() {
            return None;
        }
        self.received += n as u64;
        if n > 0 {
            self.progressed = true;
        }
        let first_done = done.len();
        let stretch_start = self.in_flight.front().map(|b| self.last_done.max(b.sent_at));
        while n > 0 {
            let batch = self.in_flight.front_mut().expect("unanswered items are in a batch");
            let run = batch.runs.front_mut().expect("a batch with items left has runs");
            let take = n.min(run.len());
            let head = if take == run.len() {
                batch.runs.pop_front().expect("the front run exists")
            } else {
                let tail = run.split_off(take);
                std::mem::replace(run, tail)
            };
            spans.push(Span::of(&head));
            batch.left -= take;
            n -= take;
            if batch.left == 0 {
                let (func, first, items) = (batch.func, batch.first, batch.len);
                done.push(Done { func, first, items, elapsed_ns: 0 });
                self.last_done = now;
                self.in_flight.pop_front();
            }
        }
        if let (Some(start), true) = (stretch_start, done.len() > first_done) {
            let items: usize = done[first_done..].iter().map(|d| d.items).sum();
            let elapsed = now.saturating_sub(start);
            self.working_ns += elapsed;
            for d in &mut done[first_done..] {
                // The stretch's time, shared by the items of each batch.
                d.elapsed_ns = (elapsed as u128 * d.items as u128 / items.max(1) as u128) as u64;
            }
        }
        Some(())
    }

    /// Removes the items from sequence number `from` on (clamped to what it holds) and
    /// returns them in order, with their functions.
    pub(crate) fn take_from(&mut self, from: u64) -> Vec<(FnId, Run<E>)> {
        let from = from.clamp(self.received, self.next_seq);
        let mut taken = Vec::new();
        let mut kept_batches = VecDeque::new();
        for mut batch in self.in_flight.drain(..) {
            let answered = batch.len - batch.left;
            let mut seq = batch.first_seq + answered as u64;
            let mut kept = VecDeque::new();
            for mut run in batch.runs.drain(..) {
                let end = seq + run.len() as u64;
                if end <= from {
                    kept.push_back(run);
                } else if seq >= from {
                    taken.push((batch.func, run));
                } else {
                    let tail = run.split_off((from - seq) as usize);
                    kept.push_back(run);
                    taken.push((batch.func, tail));
                }
                seq = end;
            }
            let left: usize = kept.iter().map(Run::len).sum();
            if left > 0 {
                batch.left = left;
                batch.len = answered + left;
                batch.runs = kept;
                kept_batches.push_back(batch);
            }
        }
        self.in_flight = kept_batches;
        self.next_seq = from;
        taken
    }

    /// Whether it holds an item of `job`.
    pub(crate) fn holds(&self, job: JobId) -> bool {
        self.in_flight.iter().any(|b| b.runs.iter().any(|r| r.job == job))
    }

    /// The sequence number of item `index` of `job`, if it holds it.
    pub(crate) fn seq_of(&self, job: JobId, index: usize) -> Option<u64> {
        for batch in &self.in_flight {
            let mut seq = batch.first_seq + (batch.len - batch.left) as u64;
            for run in &batch.runs {
                if run.job == job
                    && let Some(pos) = run.indices().position(|i| i == index)
                {
                    return Some(seq + pos as u64);
                }
                seq += run.len() as u64;
            }
        }
        None
    }
}
