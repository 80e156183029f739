//! The plan: the pool's scheduling policy as a state machine with no IO.
//!
//! It owns the queue of encoded runs, each worker's window of batches, every item's place
//! (queued, at a worker, ended) and the failure rules. Events go in (work submitted,
//! answers received, a worker lost or taken back from, a clock tick, cancel, close,
//! terminate); actions come out ([`Action`]: send a batch, fail items, kill, take back,
//! shut down), and answers are mapped to the items they belong to ([`Span`]). It has no
//! locks, threads, channels or clocks: time is a number the caller passes in. The pool's
//! shell (`shell`) turns IO into these events and carries out the actions.
//!
//! The rules, per item, whatever the batching:
//! - every item submitted ends exactly once, with the outcome of what it did;
//! - an item runs at most once, except that the item a worker was running when it died
//!   fails ([`TaskError::WorkerDied`] or [`TaskError::TimedOut`]) and is never retried;
//!   the items it had answered were delivered, those it had not started are queued again
//!   and are not charged for the death;
//! - no item waits behind a busy worker while another worker is idle: a worker holds a
//!   second batch only behind a quick one, slow functions go one item per batch, and an
//!   idle worker takes back the unstarted items another holds;
//! - a cancelled job's items that have not started never start.

mod ledger;
mod loss;
mod pace;
mod queue;
mod run;
mod slot;
mod span;
mod take_back;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;

use multiproc_codec::{FnId, Hasher64};
use multiproc_process::Limits as WorkerLimits;
use multiproc_process::progress::pack_claim;

use crate::backend::{Expect, ItemRange, Progress};
use crate::error::TaskError;
use crate::insights::RestartCause;
use ledger::Ledger;
use queue::{Limits, Queue, Queued};
use slot::{Phase, Slot};

pub(crate) use ledger::Startup;
pub(crate) use pace::Paces;
pub(crate) use run::{Encoded, JobId, Run};
pub(crate) use span::Span;

/// A map keyed by the pool's own numbers and identities (never by what a worker sends):
/// a fast fixed hash instead of std's `SipHash`, which cost several percent of a task
/// submitted alone (`apply_async`) in the lookups of its job.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<Hasher64>>;

/// Work is taken back from a worker only once it has held it this long: a worker that was
/// just sent a batch is about to start it (and taking it back at once could hand it to
/// another worker that was just sent one, and back, without end).
pub(crate) const TAKE_BACK_AGE_NS: u64 = 100_000;

/// Consecutive failed starts (or initializations, or deaths before answering anything)
/// before the pool is declared broken.
pub(crate) const MAX_START_FAILURES: u32 = 3;

/// What the plan needs to know about the pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub processes: usize,
    pub max_tasks_per_child: Option<u64>,
    /// Per-task timeout, ns.
    pub timeout_ns: Option<u64>,
    /// The workers' limits, for what a task that ran into one is told.
    pub limits: WorkerLimits,
}

/// A batch to send: the arguments of its runs in order, framed once by the shell.
#[derive(Debug)]
pub(crate) struct Batch<E> {
    pub func: FnId,
    /// The epoch and the first item's sequence number, as the worker checks them against
    /// its claim (`multiproc_process::progress::pack_claim`).
    pub stamp: u64,
    /// Whether the worker claims its items one by one (so that those not started can be
    /// taken back), or all at once when it starts the batch.
    pub revocable: bool,
    pub args: Vec<E>,
    /// The job items it holds, in order.
    pub items: Vec<ItemRange>,
}

/// What the shell must do.
#[derive(Debug)]
pub(crate) enum Action<E> {
    /// Send `batch` to the worker (in the order these actions come, per worker).
    Send { worker: usize, incarnation: u64, batch: Batch<E> },
    /// Stop the worker after what it was sent (it ran its quota, or the pool is joined).
    Shutdown { worker: usize, incarnation: u64 },
    /// Kill the worker (an item ran past its timeout, or the pool was terminated).
    Kill { worker: usize, incarnation: u64, timed_out: bool },
    /// Take back what the worker has not started, then report it with
    /// [`Plan::on_revoked`].
    Revoke { worker: usize, incarnation: u64 },
    /// End these items with `error`.
    Fail { span: Span, error: TaskError },
    /// Every item of `job` has ended and all were submitted: forget what was kept for it.
    Forget { job: JobId },
}

/// Where an item is, for a handle on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Queued,
    /// At a worker, with its sequence number there.
    Sent {
        worker: usize,
        incarnation: u64,
        seq: u64,
    },
    /// Ended (or never submitted).
    Ended,
}

/// How a worker's loss ends its slot's story: whether to start a replacement, and why
/// the worker is replaced (`None` when the pool is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ended {
    pub restart: bool,
    pub cause: Option<RestartCause>,
}

/// A worker answered more items than it was sent: it cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unexpected;

#[derive(Debug)]
struct Job {
    func: FnId,
    /// Items queued or at a worker.
    pending: usize,
    /// All of its items were submitted.
    sealed: bool,
    cancelled: bool,
}

/// The scheduling state machine; see the module docs.
#[derive(Debug)]
pub(crate) struct Plan<E> {
    settings: Settings,
    queue: Queue<E>,
    slots: Vec<Slot<E>>,
    jobs: IdMap<JobId, Job>,
    paces: Paces,
    next_job: u64,
    /// Items submitted and not ended.
    outstanding: usize,
    closed: bool,
    terminated: bool,
    /// `join` is stopping the workers: none is started again.
    stopping: bool,
    broken: Option<TaskError>,
    start_failures: u32,
    actions: VecDeque<Action<E>>,
    ledger: Ledger,
}

impl<E: Encoded> Plan<E> {
    pub(crate) fn new(settings: Settings) -> Plan<E> {
        Plan {
            settings,
            queue: Queue::default(),
            slots: (0..settings.processes).map(|_| Slot::default()).collect(),
            jobs: IdMap::default(),
            paces: Paces::default(),
            next_job: 0,
            outstanding: 0,
            closed: false,
            terminated: false,
            stopping: false,
            broken: None,
            ledger: Ledger::new(settings.processes),
            start_failures: 0,
            actions: VecDeque::new(),
        }
    }

    /// The next thing the shell must do.
    pub(crate) fn poll_action(&mut self) -> Option<Action<E>> {
        self.actions.pop_front()
    }

    /// Whether new work is taken.
    pub(crate) fn accepting(&self) -> bool {
        !self.closed && !self.terminated
    }

    #[cfg(test)]
    pub(crate) fn terminated(&self) -> bool {
        self.terminated
    }

    /// Whether the pool was terminated or is being joined.
    pub(crate) fn stopped(&self) -> bool {
        self.terminated || self.stopping
    }

    /// Whether a slot without a worker should start one.
    pub(crate) fn wants_worker(&self) -> bool {
        !(self.terminated || self.stopping || self.broken.is_some())
    }

    /// Items submitted and not ended.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Whether `join` may stop the workers: everything submitted has ended (or the pool
    /// was terminated).
    pub(crate) fn drained(&self) -> bool {
        self.terminated || self.outstanding == 0
    }

    /// Nanoseconds per item of `func` so far.
    pub(crate) fn pace(&self, func: FnId) -> Option<u64> {
        self.paces.get(func)
    }

    /// A new job calling `func`.
    pub(crate) fn add_job(&mut self, func: FnId) -> JobId {
        let id = JobId(self.next_job);
        self.next_job += 1;
        self.jobs.insert(id, Job { func, pending: 0, sealed: false, cancelled: false });
        id
    }

    /// Queues a run of `job` (or fails it at once: the pool is broken, terminated or
    /// closed, or the job was cancelled).
    pub(crate) fn submit(&mut self, run: Run<E>, now: u64) {
        let n = run.len();
        if n == 0 {
            return;
        }
        let refusal = if let Some(error) = &self.broken {
            Some(error.clone())
        } else if self.terminated {
            Some(TaskError::Cancelled)
        } else if self.closed {
            Some(TaskError::NotRunning)
        } else {
            match self.jobs.get(&run.job) {
                Some(job) if !job.cancelled => None,
                _ => Some(TaskError::Cancelled),
            }
        };
        if let Some(error) = refusal {
            self.actions.push_back(Action::Fail { span: Span::of(&run), error });
            return;
        }
        let job = self.jobs.get_mut(&run.job).expect("checked above");
        job.pending += n;
        self.outstanding += n;
        self.queue.push_back(Queued { func: job.func, run });
        self.pump(now);
    }

    /// Says that every item of `job` was submitted: it is forgotten once they end.
    pub(crate) fn seal(&mut self, job: JobId) {
        if let Some(j) = self.jobs.get_mut(&job) {
            j.sealed = true;
            if j.pending == 0 {
                self.jobs.remove(&job);
                self.actions.push_back(Action::Forget { job });
            }
        }
    }

    /// `n` items of `job` ended.
    fn ended(&mut self, job: JobId, n: usize) {
        self.outstanding -= n;
        if let Some(j) = self.jobs.get_mut(&job) {
            j.pending -= n;
            if j.pending == 0 && j.sealed {
                self.jobs.remove(&job);
                self.actions.push_back(Action::Forget { job });
            }
        }
    }

    fn fail(&mut self, run: &Run<E>, error: TaskError) {
        self.actions.push_back(Action::Fail { span: Span::of(run), error });
        self.ended(run.job, run.len());
    }

    /// Cancels `job`: its queued items fail as cancelled at once, and those held by
    /// workers are taken back (the [`Action::Revoke`]s this queues end them as cancelled
    /// when they had not started). Its items that started run to their end. Returns how
    /// many items were cancelled at once.
    pub(crate) fn cancel(&mut self, job: JobId) -> usize {
        let Some(j) = self.jobs.get_mut(&job) else { return 0 };
        j.cancelled = true;
        let removed = self.queue.remove_job(job);
        let n = removed.iter().map(Run::len).sum();
        for run in &removed {
            self.fail(run, TaskError::Cancelled);
        }
        for worker in 0..self.slots.len() {
            if self.slots[worker].holds(job) {
                self.revoke(worker);
            }
        }
        n
    }

    /// Cancels every job (`shutdown(cancel_futures=True)`): what has not started never
    /// will.
    pub(crate) fn cancel_all(&mut self) {
        let jobs: Vec<JobId> = self.jobs.keys().copied().collect();
        for job in jobs {
            self.cancel(job);
        }
    }

    /// Where item `index` of `job` is.
    pub(crate) fn place(&self, job: JobId, index: usize) -> Place {
        if self.jobs.get(&job).is_none_or(|j| j.pending == 0) {
            return Place::Ended;
        }
        for (worker, slot) in self.slots.iter().enumerate() {
            if let Some(seq) = slot.seq_of(job, index) {
                return Place::Sent { worker, incarnation: slot.incarnation, seq };
            }
        }
        if self.queue.holds(job) { Place::Queued } else { Place::Ended }
    }

    /// A worker started in slot `worker` (after `startup`) and is ready for work; returns
    /// its incarnation.
    pub(crate) fn worker_ready(&mut self, worker: usize, now: u64, startup: Startup) -> u64 {
        let incarnation = self.slots[worker].incarnation + 1;
        self.slots[worker].reset(incarnation, self.settings.max_tasks_per_child, now);
        self.ledger.ready(worker, now, startup);
        if self.terminated || self.stopping {
            self.slots[worker].phase = Phase::Down;
            self.actions.push_back(Action::Kill { worker, incarnation, timed_out: false });
        }
        self.pump(now);
        incarnation
    }

    /// A worker could not be started (or initialized) in slot `worker`. Returns whether to
    /// try again. After [`MAX_START_FAILURES`] in a row the slot gives up, and the pool
    /// goes on with the workers it has; if it has none, it is broken: every queued and
    /// later item fails with `error`.
    pub(crate) fn start_failed(&mut self, error: TaskError) -> bool {
        if self.terminated || self.stopping || self.broken.is_some() {
            return false;
        }
        self.start_failures += 1;
        if self.start_failures < MAX_START_FAILURES {
            return true;
        }
        // Out of descriptors or processes, say, while other workers serve: this slot
        // gives up and the pool goes on with them. With none left, nothing could run
        // the queue: the pool is broken.
        self.start_failures = 0;
        if !self.slots.iter().any(Slot::ready) {
            self.break_pool(error);
        }
        false
    }

    fn break_pool(&mut self, error: TaskError) {
        self.broken = Some(error.clone());
        for run in self.queue.drain() {
            self.fail(&run, error.clone());
        }
    }

    /// The worker answered its next `n` items. Appends where the answers go to `spans`,
    /// in order (the caller hands each span its run of answers). `Err` if the worker
    /// answered more items than it holds: the caller kills it.
    pub(crate) fn on_answers(
        &mut self,
        worker: usize,
        incarnation: u64,
        n: usize,
        now: u64,
        spans: &mut Vec<Span>,
    ) -> Result<(), Unexpected> {
        let slot = &mut self.slots[worker];
        if slot.incarnation != incarnation || self.terminated {
            // Its items were ended already (terminate): the answers are dropped.
            return Ok(());
        }
        let first = spans.len();
        let mut done = Vec::new();
        slot.answer(n, now, spans, &mut done).ok_or(Unexpected)?;
        for d in done {
            self.paces.record(d.func, d.items, d.elapsed_ns);
            self.ledger.batch_done(d.first, d.items, d.elapsed_ns);
        }
        self.start_failures = 0;
        for span in &spans[first..] {
            self.ended(span.job, span.len);
        }
        self.pump(now);
        Ok(())
    }

    /// Queues runs taken back from a worker again (or fails those of cancelled jobs).
    /// Returns how many items were cancelled.
    fn requeue(&mut self, runs: Vec<(FnId, Run<E>)>) -> usize {
        let mut back = Vec::new();
        let mut cancelled = 0;
        for (func, run) in runs {
            if self.jobs.get(&run.job).is_none_or(|j| j.cancelled) {
                cancelled += run.len();
                self.fail(&run, TaskError::Cancelled);
            } else if let Some(error) = self.broken.clone() {
                self.fail(&run, error);
            } else {
                back.push(Queued { func, run });
            }
        }
        self.queue.push_front(back);
        cancelled
    }

    /// A clock tick, with each worker's progress: kills the workers whose current item
    /// ran past the timeout, and takes work back for idle workers from busy ones that
    /// have held it long enough (see [`poll_timeout`](Self::poll_timeout)).
    pub(crate) fn on_tick(&mut self, now_ns: u64, progress: impl Fn(usize) -> Option<Progress>) {
        if let Some(limit) = self.settings.timeout_ns
            && !self.terminated
        {
            for (worker, slot) in self.slots.iter_mut().enumerate() {
                if slot.phase == Phase::Down || slot.unanswered() == 0 || slot.timed_out.is_some() {
                    continue;
                }
                let Some(p) = progress(worker) else { continue };
                if p.started > p.finished
                    && p.started_at_ns != 0
                    && now_ns.saturating_sub(p.started_at_ns) >= limit
                {
                    slot.timed_out = Some(p.started - 1);
                    let incarnation = slot.incarnation;
                    self.actions.push_back(Action::Kill { worker, incarnation, timed_out: true });
                }
            }
        }
        self.pump(now_ns);
    }

    /// When the plan wants an [`on_tick`](Self::on_tick) that no other event would bring:
    /// a worker is idle, nothing is queued, and another worker holds work it may not have
    /// started, too recently to take back yet ([`TAKE_BACK_AGE_NS`]). `None` if nothing
    /// is due. (Per-task timeouts need ticks of their own while a worker is
    /// [`busy`](Self::busy).)
    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        if self.terminated || self.stopping || self.broken.is_some() || !self.queue.is_empty() {
            return None;
        }
        if !self.slots.iter().any(Slot::idle) {
            return None;
        }
        self.slots
            .iter()
            .filter(|s| s.takeable())
            .filter_map(|s| s.in_flight.front().map(|b| b.sent_at + TAKE_BACK_AGE_NS))
            .min()
    }

    /// Whether a worker holds items (the clock has something to time).
    pub(crate) fn busy(&self) -> bool {
        self.slots.iter().any(|s| s.phase != Phase::Down && s.unanswered() > 0)
    }

    /// When the worker's next answers are due.
    pub(crate) fn expect(&self, worker: usize) -> Expect {
        match self.slots[worker].in_flight.front() {
            None => Expect::Idle,
            Some(batch) if batch.quick => Expect::Stream,
            Some(_) => Expect::Later,
        }
    }

    /// Refuses new work (`close`).
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Fails every queued and held item as cancelled and kills every worker.
    pub(crate) fn terminate(&mut self) {
        if self.terminated {
            return;
        }
        self.terminated = true;
        self.closed = true;
        for run in self.queue.drain() {
            self.fail(&run, TaskError::Cancelled);
        }
        for worker in 0..self.slots.len() {
            let slot = &mut self.slots[worker];
            let held = slot.take_from(slot.received);
            let incarnation = slot.incarnation;
            let up = slot.phase != Phase::Down;
            for (_, run) in held {
                self.fail(&run, TaskError::Cancelled);
            }
            if up {
                self.actions.push_back(Action::Kill { worker, incarnation, timed_out: false });
            }
        }
    }

    /// `join` after `close`, once [`drained`](Self::drained): shuts every worker down; none
    /// is started again.
    pub(crate) fn stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.closed = true;
        for (worker, slot) in self.slots.iter_mut().enumerate() {
            if slot.phase != Phase::Down && !self.terminated {
                let incarnation = slot.incarnation;
                self.actions.push_back(Action::Shutdown { worker, incarnation });
            }
        }
    }

    /// Sends queued work to the workers that may take it, then takes back unstarted work
    /// for idle workers if nothing is queued.
    fn pump(&mut self, now: u64) {
        if self.terminated || self.stopping || self.broken.is_some() {
            return;
        }
        let n = self.slots.len();
        // Idle workers first, one batch each, the queue shared between them; then a
        // second batch behind a quick one, the queue shared between all workers.
        let mut idle = self.slots.iter().filter(|s| s.idle()).count();
        for worker in 0..n {
            if !self.queue.is_empty() && self.slots[worker].idle() {
                self.dispatch(worker, idle, now);
                idle -= 1;
            }
        }
        let ready = self.slots.iter().filter(|s| s.ready()).count();
        for worker in 0..n {
            let slot = &self.slots[worker];
            let room = slot.takes_work()
                && slot.in_flight.len() == 1
                && slot.ends_soon()
                && self.queue.head_func().is_some_and(|f| self.paces.quick(f, 1));
            if room {
                self.dispatch(worker, ready, now);
            }
        }
        if self.queue.is_empty() {
            self.take_back_for_idle(now);
        }
    }

    /// Sends the next batch to `worker`, the queue being shared with `workers` workers.
    fn dispatch(&mut self, worker: usize, workers: usize, now: u64) {
        let slot = &self.slots[worker];
        let limits = Limits { workers, quota: slot.quota };
        let Some((func, runs)) = self.queue.take(&self.paces, limits) else { return };
        let items: usize = runs.iter().map(Run::len).sum();
        let quick = self.paces.quick(func, items);
        let revocable = self.paces.revocable(func, items);
        let args = runs.iter().map(|r| r.args.clone()).collect();
        let held = runs.iter().flat_map(|r| Span::of(r).into_ranges()).collect();
        let slot = &mut self.slots[worker];
        let first_seq = slot.send(func, runs, quick, now);
        let incarnation = slot.incarnation;
        let stamp = pack_claim(slot.epoch, first_seq);
        let batch = Batch { func, stamp, revocable, args, items: held };
        self.actions.push_back(Action::Send { worker, incarnation, batch });
        if let Some(quota) = &mut slot.quota {
            *quota = quota.saturating_sub(items as u64);
            if *quota == 0 {
                self.retire(worker);
            }
        }
    }

    /// Retires the worker in slot `worker` once it has answered what it holds (it ran its
    /// quota), or at once (it asked: see [`on_retire_asked`](Self::on_retire_asked)).
    fn retire(&mut self, worker: usize) {
        let slot = &mut self.slots[worker];
        slot.phase = Phase::Retiring;
        let incarnation = slot.incarnation;
        self.actions.push_back(Action::Shutdown { worker, incarnation });
    }

    /// The worker asked to retire after the task it ran (its memory is over
    /// `max_memory_per_child`, or a task ran out of descriptors): what it has not started
    /// is taken back for the others, and it is stopped and replaced.
    pub(crate) fn on_retire_asked(&mut self, worker: usize, incarnation: u64) {
        let slot = &self.slots[worker];
        if slot.incarnation != incarnation || slot.phase != Phase::Ready || self.terminated {
            return;
        }
        self.revoke(worker);
        self.slots[worker].asked_to_retire = true;
        self.retire(worker);
    }
}
