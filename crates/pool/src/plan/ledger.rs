//! [`Ledger`]: where each worker slot's time and tasks went, kept by the plan as events
//! come (a batch, a run of answers, a worker's start or loss at a time): nothing is
//! counted per item. [`Plan::insights`](super::Plan::insights) turns it into the public
//! [`Insights`].

use std::time::Duration;

use crate::backend::Progress;
use crate::insights::{RestartCause, SLOWEST, SlowTask, WorkerInsights};

use super::Plan;
use super::run::{Encoded, JobId};

/// How long a worker took to become ready: measured by the shell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Startup {
    /// From asking for a worker to its being started (ns).
    pub startup_ns: u64,
    /// Running its initializer (ns).
    pub init_ns: u64,
}

/// What an incarnation leaves behind when it ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closed {
    /// Time it held work (ns).
    pub working_ns: u64,
    /// Items it answered.
    pub answered: u64,
    /// Items that failed with it (it died or timed out running them).
    pub lost: u64,
    /// Items it reported as failed (returned `Err` or panicked), if it reports them.
    pub failed: Option<u64>,
    /// Time it reported in its task batches (ns), if it reports it.
    pub busy_ns: Option<u64>,
    /// Why it is replaced (`None`: the pool is shutting down).
    pub cause: Option<RestartCause>,
}

/// How an incarnation stands now, for insights.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Live {
    pub pid: Option<u32>,
    pub working_ns: u64,
    pub answered: u64,
    pub failed: Option<u64>,
    pub busy_ns: Option<u64>,
}

/// One worker slot's sums over its incarnations.
#[derive(Debug, Default)]
struct Book {
    startup_ns: u64,
    init_ns: u64,
    /// When the current incarnation became ready (`None`: no worker now).
    ready_at: Option<u64>,
    /// Over ended incarnations: time alive and ready, and time holding work.
    alive_ns: u64,
    working_ns: u64,
    answered: u64,
    /// Answers that were failures (as the workers reported them).
    failed: u64,
    lost: u64,
    busy_ns: u64,
    /// Some incarnation reported its busy time.
    busy_known: bool,
    restarts: Vec<(RestartCause, u64)>,
}

/// Every slot's [`Book`] and the slowest batches seen.
#[derive(Debug)]
pub(crate) struct Ledger {
    books: Vec<Book>,
    /// Slowest first, at most [`SLOWEST`].
    slowest: Vec<SlowTask>,
}

impl Ledger {
    pub(crate) fn new(workers: usize) -> Ledger {
        Ledger { books: (0..workers).map(|_| Book::default()).collect(), slowest: Vec::new() }
    }

    /// A worker is ready in slot `worker` at `now`, after `startup`.
    pub(crate) fn ready(&mut self, worker: usize, now: u64, startup: Startup) {
        let book = &mut self.books[worker];
        book.startup_ns += startup.startup_ns;
        book.init_ns += startup.init_ns;
        book.ready_at = Some(now);
    }

    /// The worker in slot `worker` ended at `now`.
    pub(crate) fn closed(&mut self, worker: usize, now: u64, closed: Closed) {
        let book = &mut self.books[worker];
        let Some(ready_at) = book.ready_at.take() else { return };
        let alive = now.saturating_sub(ready_at);
        book.alive_ns += alive;
        book.working_ns += closed.working_ns.min(alive);
        book.answered += closed.answered;
        book.lost += closed.lost;
        // What a worker reports of itself is bounded by what the parent saw: a task can
        // write anything into its worker's progress words.
        book.failed += closed.failed.unwrap_or(0).min(closed.answered);
        if let Some(busy) = closed.busy_ns {
            book.busy_ns += busy.min(alive);
            book.busy_known = true;
        }
        if let Some(cause) = closed.cause {
            match book.restarts.iter_mut().find(|(c, _)| *c == cause) {
                Some((_, n)) => *n += 1,
                None => book.restarts.push((cause, 1)),
            }
        }
    }

    /// A batch of `items` items from `first` took `elapsed_ns`: a candidate for the
    /// slowest (by its time per item).
    pub(crate) fn batch_done(&mut self, first: (JobId, usize), items: usize, elapsed_ns: u64) {
        let per_item = Duration::from_nanos(elapsed_ns / items.max(1) as u64);
        if self.slowest.len() == SLOWEST
            && self.slowest.last().is_some_and(|s| s.duration >= per_item)
        {
            return;
        }
        let at = self.slowest.partition_point(|s| s.duration >= per_item);
        self.slowest.insert(at, SlowTask::new(first.0.0, first.1, items, per_item));
        self.slowest.truncate(SLOWEST);
    }

    /// The slowest batches seen, slowest first.
    pub(crate) fn slowest(&self) -> Vec<SlowTask> {
        self.slowest.clone()
    }

    /// Each slot's insights at `now`, with how its current worker stands (`live`), and
    /// the share of working time spent outside task batches.
    pub(crate) fn workers(
        &self,
        now: u64,
        live: impl Fn(usize) -> Live,
    ) -> (Vec<WorkerInsights>, Option<f64>) {
        let (mut working_all, mut busy_all, mut busy_known) = (0u64, 0u64, false);
        let workers = self
            .books
            .iter()
            .enumerate()
            .map(|(i, book)| {
                let (mut alive, mut working, mut answered) =
                    (book.alive_ns, book.working_ns, book.answered);
                let (mut busy, mut failed) = (book.busy_ns, book.failed);
                busy_known |= book.busy_known;
                let mut pid = None;
                if let Some(ready_at) = book.ready_at {
                    let now_live = live(i);
                    let span = now.saturating_sub(ready_at);
                    alive += span;
                    working += now_live.working_ns.min(span);
                    answered += now_live.answered;
                    failed += now_live.failed.unwrap_or(0).min(now_live.answered);
                    if let Some(b) = now_live.busy_ns {
                        busy += b.min(span);
                        busy_known = true;
                    }
                    pid = now_live.pid;
                }
                working_all += working;
                busy_all += busy;
                // A failure the worker reported before its answer arrived is not one yet.
                let failed = failed.min(answered);
                WorkerInsights {
                    pid,
                    startup: Duration::from_nanos(book.startup_ns),
                    initializer: Duration::from_nanos(book.init_ns),
                    working: Duration::from_nanos(working),
                    waiting: Duration::from_nanos(alive - working),
                    tasks_done: answered - failed,
                    tasks_failed: failed + book.lost,
                    restarts: book.restarts.clone(),
                }
            })
            .collect();
        let outside = (busy_known && working_all > 0)
            .then(|| 1.0 - (busy_all as f64 / working_all as f64).min(1.0));
        (workers, outside)
    }
}

impl<E: Encoded> Plan<E> {
    /// Each slot's insights at `now` (with how its current worker stands, `live`), the
    /// slowest tasks, and the share of working time spent outside task batches.
    pub(crate) fn insights(
        &self,
        now: u64,
        live: impl Fn(usize) -> (Option<u32>, Progress),
    ) -> (Vec<WorkerInsights>, Vec<SlowTask>, Option<f64>) {
        let (workers, outside) = self.ledger.workers(now, |w| {
            let slot = &self.slots[w];
            let (pid, progress) = live(w);
            Live {
                pid,
                working_ns: slot.working_until(now),
                answered: slot.received,
                failed: progress.failed,
                busy_ns: progress.busy_ns,
            }
        });
        (workers, self.ledger.slowest(), outside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_are_kept_slowest_first_and_bounded() {
        let mut ledger = Ledger::new(1);
        for (i, ns) in [5u64, 50, 1, 40, 30, 20, 10, 60].into_iter().enumerate() {
            ledger.batch_done((JobId(0), i), 1, ns);
        }
        // A batch of 10 items in 700 ns: 70 ns each.
        ledger.batch_done((JobId(1), 100), 10, 700);
        let got: Vec<(u64, usize, u64)> = ledger
            .slowest()
            .iter()
            .map(|s| (s.job, s.index, s.duration.as_nanos() as u64))
            .collect();
        assert_eq!(got, [(1, 100, 70), (0, 7, 60), (0, 1, 50), (0, 3, 40), (0, 4, 30)]);
    }

    #[test]
    fn times_of_ended_and_live_workers_add_up() {
        let mut ledger = Ledger::new(2);
        ledger.ready(0, 100, Startup { startup_ns: 40, init_ns: 10 });
        ledger.ready(1, 100, Startup::default());
        let closed = Closed {
            working_ns: 300,
            answered: 7,
            lost: 1,
            failed: Some(2),
            busy_ns: Some(150),
            cause: Some(RestartCause::TimedOut),
        };
        ledger.closed(0, 500, closed);
        ledger.ready(0, 600, Startup { startup_ns: 80, init_ns: 20 });
        let live = |_| Live {
            pid: Some(9),
            working_ns: 100,
            answered: 3,
            failed: Some(0),
            busy_ns: Some(50),
        };
        let (workers, outside) = ledger.workers(1000, live);
        let w = &workers[0];
        assert_eq!((w.startup.as_nanos(), w.initializer.as_nanos()), (120, 30));
        // Alive 400 + 400 ns, working 300 + 100.
        assert_eq!((w.working.as_nanos(), w.waiting.as_nanos()), (400, 400));
        assert_eq!((w.tasks_done, w.tasks_failed), (8, 3));
        assert_eq!(w.restarts, [(RestartCause::TimedOut, 1)]);
        assert_eq!(w.pid, Some(9));
        // Worker 1: alive 900, working 100.
        assert_eq!(workers[1].waiting.as_nanos(), 800);
        // Busy 150 + 50 + 50 of 500 working.
        assert_eq!(outside, Some(0.5));
    }
}
