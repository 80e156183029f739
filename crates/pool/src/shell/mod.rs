//! The shell around the [plan](crate::plan): the threads and IO that turn the world into
//! events and the plan's actions into the world.
//!
//! One mutex holds the plan and the shell's own bookkeeping (each job's sink, each worker's
//! handles). Every event is fed to the plan under it; the actions that follow are taken out
//! under it too and carried out after it is released (sending, delivering, failing), except
//! taking work back, which is one atomic operation on memory shared with the worker and
//! is answered at once. Sends to one worker keep the plan's order through that worker's
//! [`Outbox`]: no thread waits for a send while holding the lock, and a send never waits
//! for a worker to read.
//!
//! Threads: one reader per worker slot (it starts, initializes and replaces its worker,
//! and reads its answers), and a clock (per-task timeouts, and take-backs that are due
//! after a while: see `Plan::poll_timeout`). A submitting thread
//! sends its own batches, so a lone `apply` costs no thread hop in the parent.

mod clock;
mod outbox;
mod reader;
mod trace;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use multiproc_codec::{Args, FnId};
use multiproc_process::{Limits, monotonic_ns};

use crate::backend::{Backend, FrameSender, Progress, WorkerControl};
use crate::error::TaskError;
use crate::insights::Insights;
use crate::plan::{Action, IdMap, JobId, Place, Plan, Run, Span};
use crate::sink::Sink;
use outbox::Outbox;

/// Pool settings the shell needs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub processes: usize,
    pub initializer: Option<(FnId, Vec<u8>)>,
    pub max_tasks_per_child: Option<u64>,
    pub timeout: Option<Duration>,
    pub limits: Limits,
}

/// A started worker's handles, as the shell keeps them.
#[derive(Clone)]
struct Handles {
    incarnation: u64,
    tx: Arc<dyn FrameSender>,
    control: Arc<dyn WorkerControl>,
}

/// What the mutex guards.
struct State {
    plan: Plan<Args>,
    sinks: IdMap<JobId, Arc<dyn Sink>>,
    /// Each slot's worker, once it is ready.
    workers: Vec<Option<Handles>>,
    /// Each slot's worker while it starts (so that `terminate` can kill it).
    starting: Vec<Option<Arc<dyn WorkerControl>>>,
}

/// Work to do once the lock is released.
enum Work {
    Send { worker: usize, ticket: u64, tx: Arc<dyn FrameSender>, batch: crate::plan::Batch<Args> },
    Shutdown { worker: usize, ticket: u64, tx: Arc<dyn FrameSender> },
    Kill { control: Arc<dyn WorkerControl>, timed_out: bool },
    Fail { sink: Arc<dyn Sink>, span: Span, error: TaskError },
}

/// The id of the next pool made in this process.
static NEXT_POOL: AtomicU64 = AtomicU64::new(0);

/// The shared core of a pool.
pub(crate) struct Core {
    /// The pool's id in this process (for insights and `tracing`).
    id: u64,
    /// When it started (`monotonic_ns`).
    born: u64,
    state: Mutex<State>,
    /// `join` and the clock wait here.
    changed: Condvar,
    outboxes: Vec<Outbox>,
    backend: Box<dyn Backend>,
    settings: Settings,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        write!(
            f,
            "Core {{ processes: {}, outstanding: {}, accepting: {} }}",
            self.settings.processes,
            st.plan.outstanding(),
            st.plan.accepting()
        )
    }
}

fn spawn_thread(
    name: String,
    f: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name).spawn(f)
}

impl Core {
    /// Starts the pool's threads; workers start in parallel on their reader threads. With
    /// the error of the thread that could not be started, if one could not (the threads
    /// started are then the caller's to stop, by terminating and joining the core).
    pub(crate) fn start(
        backend: Box<dyn Backend>,
        settings: Settings,
    ) -> (Arc<Core>, Option<std::io::Error>) {
        let n = settings.processes;
        let plan = Plan::new(crate::plan::Settings {
            processes: n,
            max_tasks_per_child: settings.max_tasks_per_child,
            timeout_ns: settings.timeout.map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)),
            limits: settings.limits,
        });
        let core = Arc::new(Core {
            id: NEXT_POOL.fetch_add(1, Ordering::Relaxed),
            born: monotonic_ns(),
            state: Mutex::new(State {
                plan,
                sinks: IdMap::default(),
                workers: vec![None; n],
                starting: vec![None; n],
            }),
            changed: Condvar::new(),
            outboxes: (0..n).map(|_| Outbox::default()).collect(),
            backend,
            settings,
            threads: Mutex::new(Vec::new()),
        });
        let mut threads = Vec::new();
        let mut failed = None;
        for slot in 0..n {
            let c = Arc::clone(&core);
            match spawn_thread(format!("multiproc-pool-reader-{slot}"), move || c.reader(slot)) {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if failed.is_none() {
            let c = Arc::clone(&core);
            match spawn_thread("multiproc-pool-clock".into(), move || c.clock()) {
                Ok(thread) => threads.push(thread),
                Err(e) => failed = Some(e),
            }
        }
        *core.threads.lock().unwrap_or_else(|e| e.into_inner()) = threads;
        (core, failed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of worker slots.
    pub(crate) fn processes(&self) -> usize {
        self.settings.processes
    }

    /// Whether new work is taken.
    pub(crate) fn accepting(&self) -> bool {
        self.lock().plan.accepting()
    }

    /// A new job calling `func`, whose outcomes go to `sink`.
    pub(crate) fn add_job(&self, func: FnId, sink: Arc<dyn Sink>) -> JobId {
        let mut st = self.lock();
        let job = st.plan.add_job(func);
        st.sinks.insert(job, sink);
        job
    }

    /// A new job of one run, its whole input, queued and sealed at once: what a task
    /// submitted alone (`apply_async`, `submit`) costs, one lock instead of one per step.
    /// `Err(NotRunning)` when the pool no longer takes work (nothing is queued).
    pub(crate) fn add_whole_job(
        &self,
        func: FnId,
        sink: Arc<dyn Sink>,
        args: Args,
    ) -> Result<JobId, TaskError> {
        let mut st = self.lock();
        if !st.plan.accepting() {
            return Err(TaskError::NotRunning);
        }
        let job = st.plan.add_job(func);
        st.sinks.insert(job, sink);
        st.plan.submit(Run::new(job, 0, args), monotonic_ns());
        st.plan.seal(job);
        self.finish(st);
        Ok(job)
    }

    /// Queues a run of a job (or fails it at once when the pool no longer takes work).
    pub(crate) fn submit(&self, run: Run<Args>) {
        let mut st = self.lock();
        st.plan.submit(run, monotonic_ns());
        self.finish(st);
    }

    /// Says that every item of `job` was submitted.
    pub(crate) fn seal(&self, job: JobId) {
        let mut st = self.lock();
        st.plan.seal(job);
        self.finish(st);
    }

    /// Cancels `job`: what has not started never will (it fails as cancelled). Returns how
    /// many items were cancelled.
    pub(crate) fn cancel(&self, job: JobId) -> usize {
        let mut st = self.lock();
        let n = st.plan.cancel(job);
        let (work, revoked) = self.take_work(&mut st);
        drop(st);
        self.execute(work);
        n + revoked
    }

    /// Cancels every job (`shutdown(cancel_futures=True)`).
    pub(crate) fn cancel_all(&self) {
        let mut st = self.lock();
        st.plan.cancel_all();
        self.finish(st);
    }

    /// Where item `index` of `job` is, and the worker that holds it.
    pub(crate) fn place(
        &self,
        job: JobId,
        index: usize,
    ) -> (Place, Option<Arc<dyn WorkerControl>>) {
        let st = self.lock();
        let place = st.plan.place(job, index);
        let control = match place {
            Place::Sent { worker, incarnation, .. } => st.workers[worker]
                .as_ref()
                .filter(|h| h.incarnation == incarnation)
                .map(|h| Arc::clone(&h.control)),
            _ => None,
        };
        (place, control)
    }

    /// The pids of the workers that are ready.
    pub(crate) fn worker_pids(&self) -> Vec<u32> {
        let st = self.lock();
        st.workers.iter().flatten().filter_map(|h| h.control.pid()).collect()
    }

    /// Where the pool's time went so far.
    pub(crate) fn insights(&self) -> Insights {
        let st = self.lock();
        let now = monotonic_ns();
        let (workers, slowest, outside_task_code) =
            st.plan.insights(now, |w| match &st.workers[w] {
                Some(h) => (h.control.pid(), h.control.progress()),
                None => (None, Progress::default()),
            });
        Insights {
            pool: self.id,
            wall: Duration::from_nanos(now.saturating_sub(self.born)),
            workers,
            slowest,
            outside_task_code,
        }
    }

    /// Nanoseconds per item of `func` so far.
    pub(crate) fn pace(&self, func: FnId) -> Option<u64> {
        self.lock().plan.pace(func)
    }

    /// Stops taking work (`close`).
    pub(crate) fn close(&self) {
        self.lock().plan.close();
        trace::pool(self.id, "closed");
        self.changed.notify_all();
    }

    /// Fails every queued and running item as cancelled and kills the workers.
    pub(crate) fn terminate(&self) {
        let mut st = self.lock();
        let first = !st.plan.stopped();
        st.plan.terminate();
        let starting: Vec<_> = st.starting.iter().flatten().cloned().collect();
        let (mut work, _) = self.take_work(&mut st);
        work.extend(starting.into_iter().map(|control| Work::Kill { control, timed_out: false }));
        drop(st);
        if first {
            trace::pool(self.id, "terminated");
        }
        self.changed.notify_all();
        self.execute(work);
    }

    /// Waits until all submitted work has ended (after `close`), then stops the workers and
    /// the pool's threads. After `terminate`, only reaps.
    ///
    /// Called on one of the pool's own threads (from a result callback), it cannot wait
    /// for the very delivery it is part of: the waiting moves to a background thread and
    /// this returns at once.
    pub(crate) fn join(self: &Arc<Self>) {
        let me = std::thread::current().id();
        let on_pool_thread = {
            let threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
            threads.iter().any(|t| t.thread().id() == me)
        };
        if on_pool_thread {
            let core = Arc::clone(self);
            let _ = std::thread::Builder::new()
                .name("multiproc-pool-join".into())
                .spawn(move || core.join_here());
            return;
        }
        self.join_here();
    }

    fn join_here(&self) {
        let mut st = self.lock();
        while !st.plan.drained() {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.plan.stop();
        self.finish(st);
        self.changed.notify_all();
        let threads: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let me = std::thread::current().id();
        let mut joined = false;
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
                joined = true;
            }
        }
        self.backend.release();
        if joined {
            trace::pool(self.id, "joined");
        }
    }

    /// Takes the plan's actions, then carries them out without the lock.
    fn finish(&self, mut st: MutexGuard<'_, State>) {
        let (work, _) = self.take_work(&mut st);
        drop(st);
        self.execute(work);
    }

    /// Turns the plan's pending actions into work for after the lock. Take-backs are done
    /// here and answered at once; returns how many items they cancelled.
    fn take_work(&self, st: &mut State) -> (Vec<Work>, usize) {
        let mut work = Vec::new();
        let mut cancelled = 0;
        let mut sent = false;
        while let Some(action) = st.plan.poll_action() {
            match action {
                Action::Send { worker, incarnation, batch } => {
                    if let Some(h) = live(st, worker, incarnation) {
                        let ticket = self.outboxes[worker].issue();
                        work.push(Work::Send { worker, ticket, tx: h.tx, batch });
                        sent = true;
                    }
                }
                Action::Shutdown { worker, incarnation } => {
                    if let Some(h) = live(st, worker, incarnation) {
                        let ticket = self.outboxes[worker].issue();
                        work.push(Work::Shutdown { worker, ticket, tx: h.tx });
                    }
                }
                Action::Kill { worker, incarnation, timed_out } => {
                    if let Some(h) = live(st, worker, incarnation) {
                        work.push(Work::Kill { control: h.control, timed_out });
                    }
                }
                Action::Revoke { worker, incarnation } => {
                    let claimed = live(st, worker, incarnation).and_then(|h| h.control.revoke());
                    cancelled += st.plan.on_revoked(worker, incarnation, claimed, monotonic_ns());
                }
                Action::Fail { span, error } => {
                    if let Some(sink) = st.sinks.get(&span.job) {
                        work.push(Work::Fail { sink: Arc::clone(sink), span, error });
                    }
                }
                Action::Forget { job } => {
                    st.sinks.remove(&job);
                }
            }
        }
        let timed = sent && self.settings.timeout.is_some();
        if timed || st.plan.drained() || st.plan.poll_timeout().is_some() {
            // The clock times what was sent (under a per-task timeout) and keeps the plan's
            // deadlines; `join` waits for the end. Else nothing waits for a send: a wake-up
            // per batch sent cost a context switch each (on a 2-core machine, taken from a
            // worker).
            self.changed.notify_all();
        }
        (work, cancelled)
    }

    /// Carries out work taken from the plan.
    fn execute(&self, work: Vec<Work>) {
        for w in work {
            match w {
                Work::Send { worker, ticket, tx, batch } => {
                    self.outboxes[worker].send(ticket, &*tx, Some(&batch));
                }
                Work::Shutdown { worker, ticket, tx } => {
                    self.outboxes[worker].send(ticket, &*tx, None);
                }
                Work::Kill { control, timed_out } => {
                    trace::killing(self.id, &*control, timed_out);
                    control.kill();
                }
                Work::Fail { sink, span, error } => {
                    for index in span.indices() {
                        sink.fail(index, error.clone());
                    }
                }
            }
        }
    }
}

/// The handles of the worker in `slot` if it is still incarnation `incarnation`.
fn live(st: &State, slot: usize, incarnation: u64) -> Option<Handles> {
    st.workers[slot].as_ref().filter(|h| h.incarnation == incarnation).cloned()
}
