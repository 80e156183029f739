//! The plan against a simulated world: random interleavings of submissions, answers,
//! deaths, timeouts, take-backs, cancels, close and terminate, with workers that follow
//! the real worker's protocol (frames stamped with an epoch and a first sequence number,
//! items claimed one by one or a batch at a time, answers in order). Checked after every
//! step and at the end:
//! - every item ends exactly once, and an answer goes to the item that produced it;
//! - only the item a worker was running when it died is blamed for the death;
//! - no item starts twice;
//! - no ready worker is idle while work is queued;
//! - the insights account for every item that ran and every replacement, with working
//!   and waiting times that add up to each worker's life.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;

use multiproc_codec::{FnId, TypeFingerprint};
use proptest::prelude::*;

use super::*;
use crate::insights::WorkerInsights;

/// Test arguments: the (job, index) of each item, so that the simulated workers answer
/// with the identity of what they ran.
#[derive(Debug, Clone)]
struct Tags(Arc<[(u64, usize)]>, Range<usize>);

impl Encoded for Tags {
    fn len(&self) -> usize {
        self.1.len()
    }
    fn bytes(&self) -> usize {
        self.1.len() * 8
    }
    fn slice(&self, range: Range<usize>) -> Tags {
        assert!(range.end <= self.1.len());
        Tags(Arc::clone(&self.0), self.1.start + range.start..self.1.start + range.end)
    }
}

impl Tags {
    fn items(&self) -> &[(u64, usize)] {
        &self.0[self.1.clone()]
    }
}

fn func(n: u8) -> FnId {
    FnId { target: i64::from(n), trampoline: 100 + i64::from(n), types: TypeFingerprint(7), tag: 0 }
}

/// A frame as the simulated worker holds it.
#[derive(Debug)]
struct SimFrame {
    epoch: u16,
    first_seq: u64,
    items: Vec<(u64, usize)>,
    revocable: bool,
}

#[derive(Debug, Default)]
struct SimWorker {
    alive: bool,
    incarnation: u64,
    frames: VecDeque<SimFrame>,
    /// Position in the front frame.
    pos: usize,
    /// The shared claim word: epoch and items claimed.
    epoch: u16,
    claimed: u64,
    started: u64,
    finished: u64,
    started_at: u64,
    current: Option<(u64, (u64, usize))>,
    /// Answers published and not yet taken by the parent.
    answers: Vec<SimAnswer>,
    shutdown: bool,
}

/// What a simulated worker writes where its answers go.
#[derive(Debug, Clone, Copy)]
enum SimAnswer {
    /// The answer of the item it ran.
    Item((u64, usize)),
    /// It skipped a frame from this claim on.
    Skipped(u64),
}

impl SimWorker {
    /// Starts the next item if it can; whether it did.
    fn start_next(&mut self, now: u64, starts: &mut HashMap<(u64, usize), u32>) -> bool {
        while let Some(frame) = self.frames.front() {
            if self.pos == frame.items.len() {
                self.frames.pop_front();
                self.pos = 0;
                continue;
            }
            let seq = frame.first_seq + self.pos as u64;
            // A frame is checked against the claim when it starts, and a revocable one at
            // every item (it is claimed one by one); a quick one is claimed whole.
            if (self.pos == 0 || frame.revocable)
                && (frame.epoch, seq) != (self.epoch, self.claimed)
            {
                // Sent before a take-back (or the claim word was written over): skipped
                // from here on, and said so.
                self.answers.push(SimAnswer::Skipped(pack_claim(frame.epoch, seq)));
                self.frames.pop_front();
                self.pos = 0;
                continue;
            }
            if frame.revocable {
                self.claimed += 1;
            } else if self.pos == 0 {
                self.claimed = frame.first_seq + frame.items.len() as u64;
            }
            let item = frame.items[self.pos];
            self.pos += 1;
            self.started += 1;
            assert_eq!(self.started, seq + 1, "items start in sequence order");
            self.started_at = now;
            self.current = Some((seq, item));
            *starts.entry(item).or_default() += 1;
            return true;
        }
        false
    }

    fn finish(&mut self) {
        if let Some((_, item)) = self.current.take() {
            self.answers.push(SimAnswer::Item(item));
            self.finished += 1;
        }
    }

    fn progress(&self) -> Progress {
        Progress {
            started: self.started,
            finished: self.finished,
            started_at_ns: self.started_at,
            failed: None,
            busy_ns: None,
            limit: None,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Submit {
        func: u8,
        items: usize,
        run: usize,
    },
    Step(usize),
    Answer(usize),
    Crash(usize),
    /// The task running on the worker writes over its claim word (an epoch no frame has).
    Tamper(usize),
    /// The worker asks to retire after its current item (over `max_memory_per_child`).
    AskRetire(usize),
    Advance(u64),
    Cancel(usize),
    Close,
    Terminate,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 1usize..24, 1usize..8).prop_map(|(func, items, run)| Op::Submit { func, items, run }),
        8 => (0usize..3).prop_map(Op::Step),
        4 => (0usize..3).prop_map(Op::Answer),
        1 => (0usize..3).prop_map(Op::Crash),
        1 => (0usize..3).prop_map(Op::Tamper),
        1 => (0usize..3).prop_map(Op::AskRetire),
        2 => prop_oneof![1u64..400, TAKE_BACK_AGE_NS..3 * TAKE_BACK_AGE_NS].prop_map(Op::Advance),
        1 => (0usize..8).prop_map(Op::Cancel),
        1 => Just(Op::Close),
        1 => Just(Op::Terminate),
    ]
}

/// How an item ended.
#[derive(Debug, Clone, PartialEq)]
enum End {
    Value,
    Error(TaskError),
}

struct World {
    plan: Plan<Tags>,
    workers: Vec<SimWorker>,
    now: u64,
    jobs: Vec<(JobId, usize)>,
    ends: HashMap<(u64, usize), Vec<End>>,
    starts: HashMap<(u64, usize), u32>,
    /// Items whose death was expected to be blamed on them (worker, item).
    blamed: Vec<(u64, usize)>,
    spans: Vec<Span>,
    forgotten: std::collections::HashSet<u64>,
    /// Workers lost while the pool ran (each one a replacement in the insights).
    replaced: u64,
}

const TIMEOUT_NS: u64 = 1_000;

/// Counts how often the plan took work back, so the test can show it happened.
static TAKE_BACKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl World {
    fn new(processes: usize, max_tasks: Option<u64>, timeout_ns: Option<u64>) -> World {
        let settings = Settings {
            processes,
            max_tasks_per_child: max_tasks,
            timeout_ns,
            limits: WorkerLimits::new(),
        };
        let mut w = World {
            plan: Plan::new(settings),
            workers: (0..processes).map(|_| SimWorker::default()).collect(),
            now: 1,
            jobs: Vec::new(),
            ends: HashMap::new(),
            starts: HashMap::new(),
            blamed: Vec::new(),
            spans: Vec::new(),
            forgotten: std::collections::HashSet::new(),
            replaced: 0,
        };
        for slot in 0..processes {
            w.start(slot);
        }
        w
    }

    fn start(&mut self, slot: usize) {
        let incarnation = self.plan.worker_ready(slot, self.now, Startup::default());
        self.workers[slot] = SimWorker { alive: true, incarnation, ..SimWorker::default() };
        self.run_actions();
    }

    fn end(&mut self, item: (u64, usize), end: End) {
        self.ends.entry(item).or_default().push(end);
    }

    fn run_actions(&mut self) {
        let mut budget = 100_000;
        while let Some(action) = self.plan.poll_action() {
            budget -= 1;
            assert!(budget > 0, "the plan keeps asking for actions: {action:?}");
            match action {
                Action::Send { worker, incarnation, batch } => {
                    let w = &mut self.workers[worker];
                    if !w.alive || w.incarnation != incarnation {
                        continue;
                    }
                    let items: Vec<(u64, usize)> =
                        batch.args.iter().flat_map(|t| t.items().iter().copied()).collect();
                    w.frames.push_back(SimFrame {
                        epoch: multiproc_process::progress::unpack_claim(batch.stamp).0,
                        first_seq: multiproc_process::progress::unpack_claim(batch.stamp).1,
                        items,
                        revocable: batch.revocable,
                    });
                }
                Action::Shutdown { worker, incarnation } => {
                    let w = &mut self.workers[worker];
                    if w.alive && w.incarnation == incarnation {
                        w.shutdown = true;
                    }
                }
                Action::Kill { worker, incarnation, .. } => {
                    if self.workers[worker].alive && self.workers[worker].incarnation == incarnation
                    {
                        self.lose(worker);
                    }
                }
                Action::Revoke { worker, incarnation } => {
                    TAKE_BACKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let w = &mut self.workers[worker];
                    let claimed = (w.alive && w.incarnation == incarnation).then(|| {
                        w.epoch = w.epoch.wrapping_add(1);
                        w.claimed
                    });
                    self.plan.on_revoked(worker, incarnation, claimed, self.now);
                }
                Action::Fail { span, error } => {
                    let job = span.job.0;
                    for index in span.indices() {
                        self.end((job, index), End::Error(error.clone()));
                    }
                }
                Action::Forget { job } => {
                    assert!(self.forgotten.insert(job.0), "job {} forgotten twice", job.0);
                }
            }
        }
    }

    /// The parent takes the worker's published answers, in order: runs of item answers,
    /// and skips. A skip the plan does not expect kills the worker (as the reader does).
    fn answer(&mut self, slot: usize) {
        if self.take_answers(slot).is_err() {
            let incarnation = self.workers[slot].incarnation;
            self.plan.on_broken(slot, incarnation);
            self.gone(slot);
        }
    }

    fn take_answers(&mut self, slot: usize) -> Result<(), Unexpected> {
        let w = &mut self.workers[slot];
        let incarnation = w.incarnation;
        let mut rest = std::mem::take(&mut w.answers).into_iter().peekable();
        while let Some(first) = rest.next() {
            let item = match first {
                SimAnswer::Skipped(from) => {
                    let skipped = self.plan.on_skipped(slot, incarnation, from, self.now);
                    self.run_actions();
                    skipped?;
                    continue;
                }
                SimAnswer::Item(item) => item,
            };
            let mut answers = vec![item];
            while let Some(SimAnswer::Item(item)) = rest.peek() {
                answers.push(*item);
                rest.next();
            }
            self.spans.clear();
            let mut spans = std::mem::take(&mut self.spans);
            self.plan
                .on_answers(slot, incarnation, answers.len(), self.now, &mut spans)
                .expect("answers match what was sent");
            if !self.plan.terminated() {
                let delivered: Vec<(u64, usize)> =
                    spans.iter().flat_map(|s| s.indices().map(move |i| (s.job.0, i))).collect();
                assert_eq!(delivered, answers, "each answer goes to the item that produced it");
                for item in delivered {
                    self.end(item, End::Value);
                }
            }
            self.spans = spans;
            self.run_actions();
        }
        Ok(())
    }

    /// The worker is gone (crash, kill, shutdown): the parent takes its answers, then
    /// reports the loss, then starts a replacement if asked.
    fn lose(&mut self, slot: usize) {
        if self.take_answers(slot).is_err() {
            let incarnation = self.workers[slot].incarnation;
            self.plan.on_broken(slot, incarnation);
        }
        self.gone(slot);
    }

    /// The worker is gone, its answers taken (or dropped): the plan is told.
    fn gone(&mut self, slot: usize) {
        let w = &mut self.workers[slot];
        if !w.alive {
            return;
        }
        w.answers.clear();
        w.alive = false;
        if let Some((_, item)) = w.current
            && !self.plan.terminated()
        {
            self.blamed.push(item);
        }
        let (incarnation, progress) = (w.incarnation, w.progress());
        self.replaced += u64::from(!self.plan.stopped());
        let restart = self.plan.on_lost(slot, incarnation, progress, None, "sim", self.now).restart;
        self.run_actions();
        if restart {
            self.start(slot);
        }
    }

    fn step(&mut self, slot: usize) {
        let w = &mut self.workers[slot];
        if !w.alive {
            return;
        }
        if w.current.is_some() {
            w.finish();
        } else if !w.start_next(self.now, &mut self.starts) && w.shutdown {
            self.lose(slot);
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::AskRetire(slot) => {
                let w = &self.workers[slot % self.workers.len()];
                if w.alive {
                    self.plan.on_retire_asked(slot % self.workers.len(), w.incarnation);
                    self.run_actions();
                }
            }
            Op::Submit { func: f, items, run } => {
                let job = self.plan.add_job(func(f));
                let tags: Arc<[(u64, usize)]> = (0..items).map(|i| (job.0, i)).collect();
                let mut first = 0;
                while first < items {
                    let len = run.min(items - first);
                    let args = Tags(Arc::clone(&tags), first..first + len);
                    self.plan.submit(Run::new(job, first, args), self.now);
                    self.run_actions();
                    first += len;
                }
                self.plan.seal(job);
                self.run_actions();
                self.jobs.push((job, items));
            }
            Op::Step(slot) => self.step(slot % self.workers.len()),
            Op::Answer(slot) => self.answer(slot % self.workers.len()),
            Op::Tamper(slot) => {
                let n = self.workers.len();
                self.workers[slot % n].epoch ^= 0x8000;
            }
            Op::Crash(slot) => {
                let slot = slot % self.workers.len();
                if self.workers[slot].alive {
                    self.lose(slot);
                }
            }
            Op::Advance(dt) => {
                // The shell's clock: ticks while a worker is timed, and when the plan asked.
                self.now += dt;
                let timing = self.plan.settings.timeout_ns.is_some() && self.plan.busy();
                if timing || self.plan.poll_timeout().is_some_and(|at| at <= self.now) {
                    let progress: Vec<Option<Progress>> =
                        self.workers.iter().map(|w| w.alive.then(|| w.progress())).collect();
                    self.plan.on_tick(self.now, |w| progress[w]);
                    self.run_actions();
                }
            }
            Op::Cancel(k) => {
                if let Some(&(job, _)) = self.jobs.get(k) {
                    self.plan.cancel(job);
                    self.run_actions();
                }
            }
            Op::Close => self.plan.close(),
            Op::Terminate => {
                self.plan.terminate();
                self.run_actions();
            }
        }
        self.check_no_idle_worker();
        self.check_take_backs_are_due();
    }

    fn check_no_idle_worker(&self) {
        if self.plan.queue.is_empty() {
            return;
        }
        for (i, slot) in self.plan.slots.iter().enumerate() {
            assert!(
                !slot.idle(),
                "worker {i} idle while {} items are queued",
                self.plan.queue.items()
            );
        }
    }

    /// A worker idle beside another that holds work it may not have started either takes
    /// it back now or has a tick coming that will: nothing else would wake the plan.
    fn check_take_backs_are_due(&self) {
        let plan = &self.plan;
        if plan.terminated || plan.stopping || plan.broken.is_some() || !plan.queue.is_empty() {
            return;
        }
        let idle = plan.slots.iter().any(Slot::idle);
        let held = plan.slots.iter().any(Slot::takeable);
        assert!(!(idle && held) || plan.poll_timeout().is_some(), "a take-back nothing will bring");
    }

    /// Every item answered or blamed is one task done or failed of one worker; every
    /// worker lost while the pool ran is one restart; each worker slot's working and
    /// waiting times add up to at most the time since the world began.
    fn check_insights(&self) {
        let (workers, _, _) = self.plan.insights(self.now, |_| (None, Progress::default()));
        let accounted: u64 = workers.iter().map(|w| w.tasks_done + w.tasks_failed).sum();
        let values = self.ends.values().filter(|e| e[0] == End::Value).count();
        assert_eq!(accounted, (values + self.blamed.len()) as u64, "{workers:?}");
        let failed: u64 = workers.iter().map(|w| w.tasks_failed).sum();
        assert_eq!(failed, self.blamed.len() as u64, "{workers:?}");
        let restarts: u64 = workers.iter().map(WorkerInsights::restart_count).sum();
        assert_eq!(restarts, self.replaced, "{workers:?}");
        for w in &workers {
            let lived = w.working + w.waiting;
            assert!(lived.as_nanos() <= u128::from(self.now - 1), "{w:?} in {} ns", self.now);
        }
    }

    /// Runs every worker until nothing is left (the world settles).
    fn settle(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            for slot in 0..self.workers.len() {
                let w = &self.workers[slot];
                if !w.alive {
                    continue;
                }
                if !w.answers.is_empty() {
                    self.answer(slot);
                    moved = true;
                }
                let w = &self.workers[slot];
                // A worker told to shut down exits once it has run what it holds (its
                // shutdown is a frame of its own: it may hold nothing else).
                if w.alive && (w.current.is_some() || !w.frames.is_empty() || w.shutdown) {
                    self.step(slot);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the world did not settle");
    }

    fn check_end(&self) {
        assert!(self.plan.drained(), "{} items outstanding", self.plan.outstanding());
        for &(job, n) in &self.jobs {
            for index in 0..n {
                let ends = self.ends.get(&(job.0, index)).map_or(&[][..], Vec::as_slice);
                assert_eq!(ends.len(), 1, "item {index} of job {} ended {ends:?}", job.0);
            }
        }
        for &(job, _) in &self.jobs {
            assert!(self.forgotten.contains(&job.0), "job {} never forgotten", job.0);
        }
        for (item, &n) in &self.starts {
            assert!(n <= 1, "item {item:?} started {n} times");
        }
        self.check_insights();
        for (item, ends) in &self.ends {
            let blamed = matches!(
                ends[0],
                End::Error(TaskError::WorkerDied { .. } | TaskError::TimedOut { .. })
            );
            assert_eq!(
                blamed,
                self.blamed.contains(item),
                "item {item:?} ended {ends:?}; blamed items: {:?}",
                self.blamed
            );
            if let End::Error(TaskError::TimedOut { .. }) = ends[0] {
                assert!(self.starts.get(item) == Some(&1));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_item_ends_once_with_its_own_outcome(
        processes in 1usize..4,
        max_tasks in prop_oneof![Just(None), (1u64..6).prop_map(Some)],
        timeout in prop_oneof![Just(None), Just(Some(TIMEOUT_NS))],
        ops in proptest::collection::vec(op(), 0..120),
    ) {
        let mut world = World::new(processes, max_tasks, timeout);
        for op in ops {
            world.apply(op);
        }
        world.settle();
        world.check_end();
    }
}

#[test]
fn the_interleavings_take_work_back() {
    // The property test above draws its cases at random: make sure a fixed mix of them
    // exercises take-backs (a property test that never takes work back proves nothing of
    // them).
    let mut world = World::new(2, None, None);
    world.apply(Op::Submit { func: 2, items: 12, run: 12 });
    world.step(0);
    world.step(1);
    world.step(1);
    world.apply(Op::Advance(TAKE_BACK_AGE_NS));
    // Worker 1 ends its half (six items, two steps each) and is idle; worker 0 runs its
    // first item and holds five it has not started.
    for _ in 0..12 {
        world.step(1);
    }
    let before = TAKE_BACKS.load(std::sync::atomic::Ordering::Relaxed);
    world.answer(1);
    assert!(TAKE_BACKS.load(std::sync::atomic::Ordering::Relaxed) > before);
    assert!(!world.workers[1].frames.is_empty(), "worker 1 got the items taken back");
    world.settle();
    world.check_end();
}

#[test]
fn a_take_back_too_early_to_make_is_made_when_its_time_comes() {
    // No timeout, so nothing but the plan's own deadline ticks the clock.
    let mut w = World::new(2, None, None);
    // Worker 0 is busy with one item; worker 1 gets all six of the next job.
    w.apply(Op::Submit { func: 1, items: 1, run: 1 });
    w.apply(Op::Submit { func: 1, items: 6, run: 6 });
    assert_eq!(w.workers[1].frames.iter().map(|f| f.items.len()).sum::<usize>(), 6);
    w.step(1);
    w.step(0);
    w.step(0);
    // Worker 0 ends its item at once: idle, beside five items worker 1 has not started,
    // sent too recently to take back.
    w.answer(0);
    let holds_job_1 =
        |w: &World| w.workers[0].frames.iter().any(|f| f.items.iter().any(|i| i.0 == 1));
    assert!(!holds_job_1(&w), "nothing taken back yet");
    let due = w.plan.poll_timeout().expect("a take-back is due later");
    w.apply(Op::Advance(due - w.now));
    assert!(holds_job_1(&w), "the clock's tick took the items back");
    w.settle();
    w.check_end();
}

#[test]
fn a_death_requeues_unstarted_items_uncharged() {
    let mut w = World::new(1, None, Some(TIMEOUT_NS));
    w.apply(Op::Submit { func: 0, items: 10, run: 10 });
    // Item 0 runs and is answered, item 1 dies.
    w.step(0);
    w.step(0);
    w.answer(0);
    w.step(0);
    w.lose(0);
    w.settle();
    w.check_end();
    let died: Vec<_> = w.ends.iter().filter(|(_, e)| e[0] != End::Value).map(|(i, _)| *i).collect();
    assert_eq!(died, [(0, 1)]);
}

#[test]
fn an_idle_worker_takes_back_unstarted_items() {
    let mut w = World::new(2, None, Some(TIMEOUT_NS));
    // One run of 6 items of an unknown (so revocable) function: split in two halves.
    w.apply(Op::Submit { func: 1, items: 6, run: 6 });
    assert_eq!(w.workers[0].frames.len(), 1);
    assert_eq!(w.workers[1].frames.len(), 1);
    // Worker 1 finishes its half; worker 0 has started only one item.
    w.step(0);
    for _ in 0..3 {
        w.step(1);
        w.step(1);
    }
    w.now += TAKE_BACK_AGE_NS;
    w.answer(1);
    // Worker 1 is idle with nothing queued: the plan took back worker 0's unstarted items.
    assert!(!w.workers[1].frames.is_empty(), "the idle worker got the items taken back");
    w.settle();
    w.check_end();
}

#[test]
fn a_worker_that_asks_to_retire_gives_back_what_it_has_not_started_and_is_replaced() {
    let mut w = World::new(1, None, Some(TIMEOUT_NS));
    // An unknown function: revocable, one batch of 6 items.
    w.apply(Op::Submit { func: 1, items: 6, run: 6 });
    w.step(0);
    w.step(0);
    let first = w.workers[0].incarnation;
    w.apply(Op::AskRetire(0));
    w.settle();
    w.check_end();
    assert!(w.ends.values().all(|e| e == &[End::Value]), "{:?}", w.ends);
    assert!(w.workers[0].incarnation > first, "the worker was replaced");
}

#[test]
fn a_slot_that_cannot_start_gives_up_while_other_workers_serve() {
    let mut w = World::new(2, None, None);
    let error = || TaskError::StartFailed("out of descriptors".into());
    // Worker 1 is gone before running anything (as good as a failed start), and its
    // replacement cannot start either (descriptors ran out, say).
    w.plan.on_lost(1, w.workers[1].incarnation, Progress::default(), None, "sim", w.now);
    (w.workers[1].alive, w.replaced) = (false, w.replaced + 1);
    w.run_actions();
    for _ in 2..MAX_START_FAILURES {
        assert!(w.plan.start_failed(error()));
    }
    assert!(!w.plan.start_failed(error()), "the slot gives up");
    assert!(w.plan.broken.is_none(), "worker 0 still serves");
    w.apply(Op::Submit { func: 0, items: 5, run: 5 });
    w.settle();
    w.check_end();
    assert!(w.ends.values().all(|e| e == &[End::Value]), "{:?}", w.ends);
    // With no worker left, failed starts break the pool: nothing would run the queue.
    w.plan.on_lost(0, w.workers[0].incarnation, Progress::default(), None, "sim", w.now);
    (w.workers[0].alive, w.replaced) = (false, w.replaced + 1);
    w.run_actions();
    for _ in 1..MAX_START_FAILURES {
        assert!(w.plan.start_failed(error()));
    }
    assert!(!w.plan.start_failed(error()));
    assert!(w.plan.broken.is_some());
}

#[test]
fn a_worker_whose_claim_word_was_written_over_is_replaced_and_no_one_is_blamed() {
    let mut w = World::new(1, None, None);
    // An unknown function: revocable, one batch of 6 items claimed one by one.
    w.apply(Op::Submit { func: 1, items: 6, run: 6 });
    let first = w.workers[0].incarnation;
    // Item 0 runs and, as it runs, writes over its worker's claim word.
    w.step(0);
    w.apply(Op::Tamper(0));
    w.step(0);
    // The worker cannot claim item 1: it skips the rest of the batch and says so.
    w.step(0);
    assert!(matches!(w.workers[0].answers[..], [SimAnswer::Item(_), SimAnswer::Skipped(_)]));
    w.answer(0);
    assert!(w.workers[0].incarnation > first, "the worker was replaced");
    w.settle();
    w.check_end();
    assert!(w.ends.values().all(|e| e == &[End::Value]), "{:?}", w.ends);
    assert!(w.blamed.is_empty());
}

#[test]
fn a_take_back_that_finds_answered_items_unclaimed_takes_nothing() {
    let mut w = World::new(2, None, None);
    w.apply(Op::Submit { func: 1, items: 1, run: 1 });
    w.apply(Op::Submit { func: 1, items: 6, run: 6 });
    // Worker 1 answers two of its six items; the third zeroes its claim word as it runs.
    for _ in 0..5 {
        w.step(1);
    }
    w.answer(1);
    w.workers[1].claimed = 0;
    let first = w.workers[1].incarnation;
    // Worker 0 ends its item and is idle: the take-back finds "nothing claimed".
    w.step(0);
    w.step(0);
    w.now += TAKE_BACK_AGE_NS;
    w.answer(0);
    assert_eq!(w.workers[1].incarnation, first, "nothing was taken, no one killed");
    // It answers the item it runs, then finds its claim wrong: it says so, and is
    // replaced; the items it skipped run elsewhere, and no one is blamed.
    w.settle();
    w.check_end();
    assert!(w.workers[1].incarnation > first, "the worker was replaced");
    assert!(w.ends.values().all(|e| e == &[End::Value]), "{:?}", w.ends);
    assert!(w.blamed.is_empty());
}
