//! The scheduler: a queue of encoded chunks, a bounded window of batches per worker,
//! one reader thread per worker that always drains results, and the failure rules.
//!
//! It moves opaque frames: no user type appears here. The typed edges (the pool's API)
//! encode arguments into chunks and give each job a [`Sink`] that decodes results.
//!
//! Threads: one reader per worker (it also starts, initializes and replaces its worker,
//! and refills windows with small batches when results free them), one dispatcher (sends
//! what a reader may not: large batches, or to a worker whose send lock is busy), and,
//! with a per-task timeout, one watchdog. A submitting thread sends directly when a
//! worker has room, so a lone `apply` costs no thread hop in the parent on the way out.
//!
//! Deadlock freedom: no thread ever sends while holding the state lock; a reader never
//! waits: it sends only frames that its sender delivers without blocking
//! ([`FrameSender::nonblocking_limit`], with at most a window of frames unread) and takes
//! a send lock only when it is free; each worker's sends are ordered by its own send
//! lock, taken before the state lock and never while waiting for it.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use multiproc_codec::{Control, FnId, Frame, FrameBuf, FrameParts, OwnedFrame, ResultFrame, parse};
use multiproc_ipc::SPIN;
use multiproc_process::monotonic_ns;

use crate::backend::{Backend, FrameSender, Lost, WorkerControl, WorkerLink};
use crate::error::TaskError;
use crate::spare::Spares;

/// Batches in flight per worker: one running, one queued behind it, so a worker never
/// waits for the parent between batches.
const WINDOW: usize = 2;
/// Chunks at most this big (frame bytes) are merged with their neighbours at dispatch.
const SMALL_FRAME: usize = 32 * 1024;
/// A merged batch holds at most this many items and bytes.
const MERGE_ITEMS: usize = 8192;
const MERGE_BYTES: usize = 256 * 1024;
/// Consecutive failed starts (or initializations) before the pool is declared broken.
const MAX_START_FAILURES: u32 = 3;
/// A task whose worker died this many times while it was queued behind the culprit
/// fails instead of being sent again.
const MAX_ATTEMPTS: u8 = 3;

/// Where a job's results go: implemented by the typed edges. Both calls come with no
/// scheduler lock held, from reader threads or the submitting thread.
pub(crate) trait Sink: Send + Sync {
    /// Delivers the outcomes at positions `at` of `results`: those of this job's items
    /// `first..first + at.len()`, in order. One call per chunk, so the sink decodes a
    /// whole run of items in one loop of its own.
    fn deliver(&self, first: usize, results: &ResultFrame<'_>, at: Range<usize>);

    /// Fails item `index` of this job (the item never produced an outcome).
    fn fail(&self, index: usize, error: TaskError);
}

/// One submission: a function and where its results go.
pub(crate) struct Job {
    pub func: FnId,
    pub sink: Arc<dyn Sink>,
    /// For single tasks with a handle ([`Task`](crate::Task)): where the task is.
    pub watch: Option<Arc<Watch>>,
    /// Nanoseconds per item of this job's latest batch, as the parent saw it (from its
    /// dispatch, or from the worker's previous results, to its results); 0 until one is
    /// in. An upper bound: it includes the trip there and back.
    pace_ns: AtomicU64,
}

impl Job {
    pub(crate) fn new(func: FnId, sink: Arc<dyn Sink>) -> Job {
        Job { func, sink, watch: None, pace_ns: AtomicU64::new(0) }
    }

    /// Nanoseconds per item seen so far; `None` before any result.
    pub(crate) fn pace(&self) -> Option<u64> {
        Some(self.pace_ns.load(Ordering::Relaxed)).filter(|&ns| ns > 0)
    }
}

/// Where a single task is, for its handle: queued, handed to a worker (which one, and
/// the item's sequence number there), or finished.
#[derive(Default)]
pub(crate) struct Watch {
    pub dispatched: Mutex<Option<(Arc<dyn WorkerControl>, u64)>>,
}

/// Which job items a chunk holds, in frame order.
enum Items {
    Range { job: Arc<Job>, start: usize, len: usize },
    Mixed(Vec<(Arc<Job>, usize)>),
}

impl Items {
    fn len(&self) -> usize {
        match self {
            Items::Range { len, .. } => *len,
            Items::Mixed(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> (&Arc<Job>, usize) {
        match self {
            Items::Range { job, start, .. } => (job, start + i),
            Items::Mixed(v) => (&v[i].0, v[i].1),
        }
    }

    fn func(&self) -> Option<FnId> {
        match self {
            Items::Range { job, .. } => Some(job.func),
            Items::Mixed(v) => v.first().map(|(j, _)| j.func),
        }
    }
}

/// A queued chunk: encoded items of one function, as a ready task frame.
pub(crate) struct Chunk {
    items: Items,
    frame: Arc<OwnedFrame>,
    attempts: u8,
}

impl Chunk {
    /// A chunk of items `start..start + len` of `job`, already framed.
    pub(crate) fn range(job: Arc<Job>, start: usize, len: usize, frame: OwnedFrame) -> Chunk {
        Chunk { items: Items::Range { job, start, len }, frame: Arc::new(frame), attempts: 0 }
    }

    /// A chunk of arbitrary items (the indices listed, in frame order).
    pub(crate) fn listed(job: &Arc<Job>, indices: Vec<usize>, frame: OwnedFrame) -> Chunk {
        let items = Items::Mixed(indices.into_iter().map(|i| (Arc::clone(job), i)).collect());
        Chunk { items, frame: Arc::new(frame), attempts: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

/// What to send to a worker: its sender, the frame, and whether to retire it after.
type Dispatch = (Arc<dyn FrameSender>, Arc<OwnedFrame>, bool);

/// How a thread sends queued work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    /// It may wait for a send lock and for a worker to read (the dispatcher, a
    /// submitting thread).
    MayWait,
    /// It must never wait (a reader: its own worker may be waiting for it to read). It
    /// sends only frames within the sender's non-blocking limit, takes a send lock only
    /// if it is free, and leaves the rest to the dispatcher.
    NeverWait,
}

/// Batches a worker holds, oldest first, with the sequence number of their first item.
struct InFlight {
    chunks: Vec<Chunk>,
    first_seq: u64,
    len: usize,
    /// Bytes of the frame it was sent in.
    bytes: usize,
    /// When it was handed to the worker.
    sent: Instant,
}

#[derive(Default)]
struct Slot {
    tx: Option<Arc<dyn FrameSender>>,
    control: Option<Arc<dyn WorkerControl>>,
    in_flight: VecDeque<InFlight>,
    /// Items sent to this worker incarnation.
    next_seq: u64,
    /// Items this incarnation may still take (max_tasks_per_child).
    quota: Option<u64>,
    /// Told to stop after its last batch (recycling).
    retiring: bool,
    /// The watchdog killed this worker for running item `seq` too long.
    timed_out: Option<u64>,
    /// When this worker's latest results came in.
    last_results: Option<Instant>,
}

impl Slot {
    fn ready(&self) -> bool {
        self.tx.is_some() && !self.retiring
    }

    /// Whether this worker's next results are due within [`SPIN`]: it holds nothing yet
    /// (a caller of `apply` is about to send it a task), or its oldest batch runs quickly
    /// at its job's pace so far (unknown: assumed quick).
    fn results_due_soon(&self) -> bool {
        self.in_flight.front().is_none_or(|batch| {
            let job = batch.chunks.first().map(|c| c.items.get(0).0);
            job.and_then(|job| job.pace())
                .is_none_or(|ns| u128::from(ns) * batch.len as u128 <= SPIN.as_nanos())
        })
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Chunk>,
    slots: Vec<Slot>,
    /// Items submitted and not yet delivered.
    outstanding: usize,
    closed: bool,
    terminated: bool,
    shutting_down: bool,
    broken: Option<TaskError>,
    start_failures: u32,
    /// The dispatcher has work to look at.
    wake_dispatcher: bool,
}

/// Pool settings the scheduler needs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub processes: usize,
    pub initializer: Option<(FnId, Vec<u8>)>,
    pub max_tasks_per_child: Option<u64>,
    pub timeout: Option<Duration>,
}

/// The shared core of a pool.
pub(crate) struct Core {
    state: Mutex<State>,
    /// Dispatcher, watchdog and `join` wait here.
    changed: Condvar,
    send_locks: Vec<Mutex<()>>,
    backend: Box<dyn Backend>,
    settings: Settings,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_batch: AtomicU64,
    /// Buffers of large frames whose results are in, for the next frames.
    spares: Spares,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        write!(
            f,
            "Core {{ processes: {}, queued: {}, outstanding: {}, closed: {}, terminated: {} }}",
            self.settings.processes,
            st.queue.len(),
            st.outstanding,
            st.closed,
            st.terminated
        )
    }
}

/// Fails `items` of a chunk with errors made by `error`.
fn fail_items(
    items: &Items,
    positions: impl Iterator<Item = usize>,
    error: &dyn Fn() -> TaskError,
) {
    for pos in positions {
        let (job, index) = items.get(pos);
        job.sink.fail(index, error());
    }
}

impl Core {
    /// Starts the pool's threads; workers start in parallel on their reader threads.
    pub(crate) fn start(backend: Box<dyn Backend>, settings: Settings) -> Arc<Core> {
        let n = settings.processes;
        let core = Arc::new(Core {
            state: Mutex::new(State {
                slots: (0..n).map(|_| Slot::default()).collect(),
                ..State::default()
            }),
            changed: Condvar::new(),
            send_locks: (0..n).map(|_| Mutex::new(())).collect(),
            backend,
            settings,
            threads: Mutex::new(Vec::new()),
            next_batch: AtomicU64::new(1),
            spares: Spares::default(),
        });
        let mut threads = Vec::new();
        for index in 0..n {
            let c = Arc::clone(&core);
            threads.push(spawn_thread(format!("multiproc-pool-reader-{index}"), move || {
                c.reader(index)
            }));
        }
        let c = Arc::clone(&core);
        threads.push(spawn_thread("multiproc-pool-dispatch".into(), move || c.dispatcher()));
        if core.settings.timeout.is_some() {
            let c = Arc::clone(&core);
            threads.push(spawn_thread("multiproc-pool-watchdog".into(), move || c.watchdog()));
        }
        *core.threads.lock().unwrap_or_else(|e| e.into_inner()) = threads;
        core
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh batch id.
    pub(crate) fn batch_id(&self) -> u64 {
        self.next_batch.fetch_add(1, Ordering::Relaxed)
    }

    /// Number of worker slots.
    pub(crate) fn processes(&self) -> usize {
        self.settings.processes
    }

    /// Whether new work is refused.
    pub(crate) fn accepting(&self) -> bool {
        let st = self.lock();
        !st.closed && !st.terminated
    }

    /// A frame buffer to encode the next frame into: a kept large one if any.
    pub(crate) fn frame_buf(&self) -> FrameBuf {
        // Large payloads are held by reference and copied once, by the sender.
        self.spares.take().map_or_else(FrameBuf::new, FrameBuf::with_buffer).by_reference()
    }

    /// Enqueues chunks holding `items` items in all and dispatches what fits.
    ///
    /// Items of a broken or terminated pool fail at once.
    pub(crate) fn submit(&self, chunks: Vec<Chunk>) {
        let failed: Option<(Vec<Chunk>, TaskError)> = {
            let mut st = self.lock();
            let n: usize = chunks.iter().map(Chunk::len).sum();
            if let Some(err) = st.broken.clone() {
                Some((chunks, err))
            } else if st.terminated {
                Some((chunks, TaskError::Cancelled))
            } else if st.closed {
                // After `close`, `join` waits only for what was submitted before it.
                Some((chunks, TaskError::NotRunning))
            } else {
                st.outstanding += n;
                st.queue.extend(chunks);
                None
            }
        };
        match failed {
            Some((chunks, err)) => {
                for c in &chunks {
                    fail_items(&c.items, 0..c.len(), &|| err.clone());
                }
            }
            None => self.pump(Sending::MayWait),
        }
    }

    /// Sends queued chunks to workers with room, from this thread.
    ///
    /// Idle workers are served first (one batch each); a single task goes to a busy
    /// worker only while the queue holds more chunks than there are workers, so a quick
    /// task never waits behind a slow one on one worker while another worker is free.
    fn pump(&self, sending: Sending) {
        let n = self.settings.processes;
        for limit in [1, WINDOW] {
            for index in 0..n {
                // Wait for the lock rather than skip the worker: whoever holds it may stop
                // under its own pass's limit, and a skipped worker would then sit idle
                // beside a queued task (a lost dispatch). No thread waits for a send lock
                // while holding the state lock, and a send always ends because every
                // worker's reader keeps draining it: waiting here cannot deadlock. A
                // reader, which must not wait, hands a busy lock's worker to the
                // dispatcher instead.
                let lock = &self.send_locks[index];
                let _send = match sending {
                    Sending::MayWait => lock.lock().unwrap_or_else(|e| e.into_inner()),
                    Sending::NeverWait => match lock.try_lock() {
                        Ok(guard) => guard,
                        Err(TryLockError::Poisoned(e)) => e.into_inner(),
                        Err(TryLockError::WouldBlock) => {
                            self.tell_dispatcher(&mut self.lock());
                            continue;
                        }
                    },
                };
                while let Some((tx, frame, shutdown)) = self.take_work(index, limit, sending) {
                    if tx.send(frame.parts()).is_err() {
                        break; // the reader sees the loss and requeues
                    }
                    if shutdown {
                        let mut fb = FrameBuf::new();
                        let _ = tx.send(FrameParts::whole(fb.control(&Control::Shutdown)));
                        break;
                    }
                }
            }
        }
    }

    /// Pops the next batch for worker `index` if it has room: registers it in flight and
    /// returns what to send (and whether to retire the worker after it).
    ///
    /// A batch too large to send without waiting (see [`Sending::NeverWait`]) stays
    /// queued for the dispatcher.
    fn take_work(&self, index: usize, limit: usize, sending: Sending) -> Option<Dispatch> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let processes = self.settings.processes;
        let queued = st.queue.len();
        let slot = &mut st.slots[index];
        if !slot.ready() || slot.in_flight.len() >= limit || queued == 0 {
            return None;
        }
        let max_frame = match (sending, &slot.tx) {
            (Sending::NeverWait, Some(tx)) => tx.nonblocking_limit(),
            _ => usize::MAX,
        };
        // Without waiting, only a small frame, and only behind small frames: a large one
        // the worker has not read yet may fill its channel.
        let large_ahead = slot.in_flight.iter().any(|b| b.bytes > max_frame);
        if large_ahead || st.queue.front().is_some_and(|c| c.frame.len() > max_frame) {
            self.tell_dispatcher(st);
            return None;
        }
        let slot = &mut st.slots[index];
        // A single task goes to a busy worker only when every worker will have work
        // anyway; chunks of a map always fill the window (throughput).
        let single = st.queue.front().is_some_and(|c| c.len() == 1);
        if !slot.in_flight.is_empty() && single && queued <= processes {
            return None;
        }
        let mut chunks = vec![st.queue.pop_front()?];
        // Recycling: never hand a worker more items than it may still run.
        if let Some(quota) = slot.quota {
            let quota = quota.max(1) as usize;
            if chunks[0].len() > quota {
                let (head, tail) = split_chunk(chunks.remove(0), quota, self.batch_id());
                st.queue.push_front(tail);
                chunks.push(head);
            }
        }
        let func = chunks[0].items.func();
        let mut items = chunks[0].len();
        let mut bytes = chunks[0].frame.len();
        // Merge only a long queue of small chunks (many tiny tasks), and at most a fair
        // share of it, so a handful of tasks still spread over all workers.
        let share = (queued / (2 * processes)).min(MERGE_ITEMS);
        if bytes <= SMALL_FRAME && queued >= 4 * processes {
            while let Some(next) = st.queue.front() {
                let fits = next.frame.len() <= SMALL_FRAME
                    && next.items.func() == func
                    && items + next.len() <= share
                    && bytes + next.frame.len() <= MERGE_BYTES.min(max_frame)
                    && slot.quota.is_none_or(|q| (items + next.len()) as u64 <= q);
                if !fits {
                    break;
                }
                let next = st.queue.pop_front().expect("front exists");
                items += next.len();
                bytes += next.frame.len();
                chunks.push(next);
            }
        }
        let frame = if chunks.len() == 1 {
            Arc::clone(&chunks[0].frame)
        } else {
            Arc::new(merge_frames(&chunks, self.batch_id()).into())
        };
        let first_seq = slot.next_seq;
        slot.next_seq += items as u64;
        if let Some(control) = &slot.control {
            let mut seq = first_seq;
            for c in &chunks {
                for pos in 0..c.len() {
                    if let Some(w) = &c.items.get(pos).0.watch {
                        *w.dispatched.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some((Arc::clone(control), seq));
                    }
                    seq += 1;
                }
            }
        }
        let mut shutdown = false;
        if let Some(q) = &mut slot.quota {
            *q = q.saturating_sub(items as u64);
            if *q == 0 {
                slot.retiring = true;
                shutdown = true;
            }
        }
        let sent = Instant::now();
        slot.in_flight.push_back(InFlight {
            chunks,
            first_seq,
            len: items,
            bytes: frame.len(),
            sent,
        });
        if self.settings.timeout.is_some() {
            // The watchdog sleeps without a deadline while no worker is busy: wake it, or
            // a task dispatched to an idle pool would never be timed.
            self.changed.notify_all();
        }
        let tx = Arc::clone(slot.tx.as_ref().expect("a ready slot has a sender"));
        Some((tx, frame, shutdown))
    }

    /// The dispatcher thread: refills windows after results free them.
    fn dispatcher(&self) {
        loop {
            {
                let mut st = self.lock();
                while !st.wake_dispatcher && !st.shutting_down {
                    st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                if st.shutting_down {
                    return;
                }
                st.wake_dispatcher = false;
            }
            self.pump(Sending::MayWait);
        }
    }

    /// Wakes the dispatcher unless it was told already (a wake-up costs a system call
    /// and a context switch).
    fn tell_dispatcher(&self, st: &mut State) {
        if !st.wake_dispatcher {
            st.wake_dispatcher = true;
            self.changed.notify_all();
        }
    }

    /// After work was requeued: wakes the dispatcher if there is work, and `join` once
    /// the last item is in.
    fn wake(&self, st: &mut State) {
        if !st.queue.is_empty() {
            self.tell_dispatcher(st);
        }
        if st.outstanding == 0 {
            self.changed.notify_all();
        }
    }

    /// A worker's reader thread: start it, read its results, handle its death, replace it.
    fn reader(&self, index: usize) {
        let Some(mut link) = self.start_worker(index) else {
            return;
        };
        // Whether the worker's next results are due soon (see `Slot::results_due_soon`),
        // as the last frame's bookkeeping found it.
        let mut soon = true;
        loop {
            match link.rx.recv(soon) {
                Ok(frame) => {
                    // Lent: large `Bytes` results read the frame in place.
                    match frame.lend(|bytes| self.on_frame(index, bytes)) {
                        Some(next) => soon = next,
                        // A frame we cannot account for: the worker is not trustworthy.
                        None => link.control.kill(),
                    }
                }
                Err(Lost) => {
                    if !self.on_lost(index, &link) {
                        return;
                    }
                    match self.start_worker(index) {
                        Some(next) => (link, soon) = (next, true),
                        None => return,
                    }
                }
            }
        }
    }

    /// Handles a result frame: `None` if it does not match what the worker holds, else
    /// whether the worker's next results are due soon.
    fn on_frame(&self, index: usize, msg: &[u8]) -> Option<bool> {
        let Ok(Frame::Results(results)) = parse(msg) else {
            return None;
        };
        let (batch, ran) = {
            let mut guard = self.lock();
            let st = &mut *guard;
            let slot = &mut st.slots[index];
            match slot.in_flight.front() {
                Some(b) if b.len == results.len() => {
                    // The batch ran from its dispatch or the worker's previous results,
                    // whichever came later (it waited in the window behind those).
                    let now = Instant::now();
                    let started = slot.last_results.map_or(b.sent, |t| t.max(b.sent));
                    slot.last_results = Some(now);
                    (slot.in_flight.pop_front(), now.duration_since(started))
                }
                // After terminate the batch was failed already: ignore.
                None if st.terminated => return Some(true),
                _ => return None,
            }
        };
        let Some(batch) = batch else { return Some(true) };
        let pace = ran.as_nanos() / batch.len.max(1) as u128;
        if let Some(chunk) = batch.chunks.first() {
            let pace = u64::try_from(pace).unwrap_or(u64::MAX).max(1);
            chunk.items.get(0).0.pace_ns.store(pace, Ordering::Relaxed);
        }
        let mut pos = 0;
        for chunk in &batch.chunks {
            let base = pos;
            match &chunk.items {
                Items::Range { job, start, len } => {
                    job.sink.deliver(*start, &results, base..base + len);
                }
                Items::Mixed(list) => {
                    for (i, (job, index)) in list.iter().enumerate() {
                        job.sink.deliver(*index, &results, base + i..base + i + 1);
                    }
                }
            }
            pos += chunk.len();
        }
        for chunk in batch.chunks {
            self.spares.keep(chunk.frame);
        }
        let mut st = self.lock();
        st.outstanding -= batch.len;
        st.start_failures = 0;
        if st.outstanding == 0 {
            self.changed.notify_all(); // `join`
        }
        let soon = st.slots[index].results_due_soon();
        drop(st);
        // The freed room is filled from here, without a hop through the dispatcher, when
        // the next batches are small; what this thread cannot send goes to the dispatcher.
        self.pump(Sending::NeverWait);
        Some(soon)
    }

    /// Handles a lost worker: fails the item it was running, requeues the rest. Returns
    /// whether to start a replacement.
    fn on_lost(&self, index: usize, link: &WorkerLink) -> bool {
        link.control.kill();
        let status = link.control.wait();
        let progress = link.control.progress();
        let worker = link.control.describe();
        let (batches, timed_out, terminated, stop) = {
            let mut st = self.lock();
            let slot = &mut st.slots[index];
            slot.tx = None;
            slot.control = None;
            let batches: Vec<InFlight> = slot.in_flight.drain(..).collect();
            let timed_out = slot.timed_out.take();
            let stop = st.terminated || st.shutting_down;
            (batches, timed_out, st.terminated, stop)
        };
        if terminated {
            return false; // terminate() failed everything already
        }
        let culprit = (progress.started > progress.finished).then(|| progress.started - 1);
        let mut requeue = Vec::new();
        let mut failed = 0;
        for batch in batches {
            let mut seq = batch.first_seq;
            for chunk in batch.chunks {
                let mut keep = Vec::new();
                for pos in 0..chunk.len() {
                    if Some(seq) == culprit || chunk.attempts + 1 >= MAX_ATTEMPTS {
                        let err = match (timed_out, self.settings.timeout) {
                            (Some(_), Some(after)) if Some(seq) == culprit => {
                                TaskError::TimedOut { worker: worker.clone(), after }
                            }
                            _ => TaskError::WorkerDied { worker: worker.clone(), status },
                        };
                        fail_items(&chunk.items, std::iter::once(pos), &|| err.clone());
                        failed += 1;
                    } else {
                        // Back in the queue: a task handle reports it pending again.
                        if let Some(w) = &chunk.items.get(pos).0.watch {
                            *w.dispatched.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        }
                        keep.push(pos);
                    }
                    seq += 1;
                }
                if !keep.is_empty() {
                    let mut c = subset_chunk(&chunk, &keep, self.batch_id());
                    c.attempts = chunk.attempts + 1;
                    requeue.push(c);
                }
            }
        }
        let mut st = self.lock();
        st.outstanding -= failed;
        if st.terminated {
            // `terminate` came while this worker's work was being sorted: what would be
            // requeued is cancelled instead, never left in a dead pool's queue.
            st.outstanding -= requeue.iter().map(Chunk::len).sum::<usize>();
            drop(st);
            for c in &requeue {
                fail_items(&c.items, 0..c.len(), &|| TaskError::Cancelled);
            }
            return false;
        }
        for c in requeue.into_iter().rev() {
            st.queue.push_front(c);
        }
        self.wake(&mut st);
        !stop
    }

    /// Starts (and initializes) the worker for slot `index`, retrying a bounded number of
    /// times; on giving up, marks the pool broken and fails all queued work.
    fn start_worker(&self, index: usize) -> Option<WorkerLink> {
        loop {
            {
                let st = self.lock();
                if st.terminated || st.shutting_down || st.broken.is_some() {
                    return None;
                }
            }
            let error = match self.backend.start(index, self.settings.timeout.is_some()) {
                Ok(mut link) => {
                    match self.register(index, &link).and_then(|()| self.initialize(&mut link)) {
                        Ok(()) => {
                            let mut st = self.lock();
                            if st.terminated || st.shutting_down {
                                drop(st);
                                link.control.kill();
                                link.control.wait();
                                return None;
                            }
                            let slot = &mut st.slots[index];
                            slot.tx = Some(Arc::clone(&link.tx));
                            slot.control = Some(Arc::clone(&link.control));
                            slot.next_seq = 0;
                            slot.quota = self.settings.max_tasks_per_child;
                            slot.retiring = false;
                            st.wake_dispatcher = true;
                            self.changed.notify_all();
                            drop(st);
                            self.pump(Sending::NeverWait);
                            return Some(link);
                        }
                        Err(e) => {
                            link.control.kill();
                            link.control.wait();
                            e
                        }
                    }
                }
                Err(e) => TaskError::StartFailed(e),
            };
            let mut st = self.lock();
            st.start_failures += 1;
            if st.start_failures >= MAX_START_FAILURES {
                self.break_pool(st, error);
                return None;
            }
        }
    }

    /// Makes a fresh worker reachable by `terminate` (it can kill it) before it is ready.
    fn register(&self, index: usize, link: &WorkerLink) -> Result<(), TaskError> {
        let mut st = self.lock();
        if st.terminated {
            return Err(TaskError::Cancelled);
        }
        st.slots[index].control = Some(Arc::clone(&link.control));
        Ok(())
    }

    /// Runs the initializer on a fresh worker.
    fn initialize(&self, link: &mut WorkerLink) -> Result<(), TaskError> {
        let Some((func, args)) = &self.settings.initializer else {
            return Ok(());
        };
        let mut fb = FrameBuf::new();
        let msg = Control::Initialize { func: *func, args: args.clone().into() };
        let died = |link: &WorkerLink| {
            let status = link.control.wait();
            TaskError::InitializerFailed(match status {
                Some(s) => format!("the worker exited during initialization with code {s}"),
                None => "the worker exited during initialization".into(),
            })
        };
        if link.tx.send(FrameParts::whole(fb.control(&msg))).is_err() {
            return Err(died(link));
        }
        match link.rx.recv(true) {
            Ok(reply) => match parse(&reply) {
                Ok(Frame::Control(Control::Initialized)) => Ok(()),
                Ok(Frame::Control(Control::InitFailed(f))) => {
                    Err(TaskError::InitializerFailed(f.to_string()))
                }
                _ => Err(TaskError::InitializerFailed("unexpected reply".into())),
            },
            Err(Lost) => Err(died(link)),
        }
    }

    /// Marks the pool broken: every queued item and every later submission fails with
    /// `error`.
    fn break_pool(&self, mut st: MutexGuard<'_, State>, error: TaskError) {
        st.broken = Some(error.clone());
        let queued: Vec<Chunk> = st.queue.drain(..).collect();
        let n: usize = queued.iter().map(Chunk::len).sum();
        st.outstanding -= n;
        self.changed.notify_all();
        drop(st);
        for c in &queued {
            fail_items(&c.items, 0..c.len(), &|| error.clone());
        }
    }

    /// The watchdog: kills a worker whose current item ran past the timeout.
    fn watchdog(&self) {
        let Some(timeout) = self.settings.timeout else {
            return;
        };
        let limit = timeout.as_nanos() as u64;
        let poll = (timeout / 8).clamp(Duration::from_millis(1), Duration::from_millis(20));
        let mut st = self.lock();
        loop {
            if st.terminated || st.shutting_down {
                return;
            }
            let now = monotonic_ns();
            let mut busy = false;
            let mut to_kill = Vec::new();
            for slot in &mut st.slots {
                let (Some(control), false) = (&slot.control, slot.in_flight.is_empty()) else {
                    continue;
                };
                busy = true;
                let p = control.progress();
                if p.started > p.finished
                    && p.started_at_ns != 0
                    && now.saturating_sub(p.started_at_ns) >= limit
                    && slot.timed_out.is_none()
                {
                    slot.timed_out = Some(p.started - 1);
                    to_kill.push(Arc::clone(control));
                }
            }
            drop(st);
            for c in to_kill {
                c.kill();
            }
            st = self.lock();
            st = if busy {
                self.changed.wait_timeout(st, poll).unwrap_or_else(|e| e.into_inner()).0
            } else {
                self.changed.wait(st).unwrap_or_else(|e| e.into_inner())
            };
        }
    }

    /// Removes the queued chunks of `job` (not those already handed to a worker) and fails
    /// their items as cancelled. Returns how many items were removed.
    pub(crate) fn cancel_queued(&self, job: &Arc<Job>) -> usize {
        let removed: Vec<Chunk> = {
            let mut st = self.lock();
            let (gone, kept): (Vec<Chunk>, Vec<Chunk>) = st
                .queue
                .drain(..)
                .partition(|c| (0..c.len()).all(|pos| Arc::ptr_eq(c.items.get(pos).0, job)));
            st.queue = kept.into();
            let n: usize = gone.iter().map(Chunk::len).sum();
            st.outstanding -= n;
            self.changed.notify_all();
            gone
        };
        for c in &removed {
            fail_items(&c.items, 0..c.len(), &|| TaskError::Cancelled);
        }
        removed.iter().map(Chunk::len).sum()
    }

    /// Fails every queued item as cancelled (`shutdown(cancel_futures=True)`).
    pub(crate) fn cancel_all_queued(&self) {
        let removed: Vec<Chunk> = {
            let mut st = self.lock();
            let gone: Vec<Chunk> = st.queue.drain(..).collect();
            st.outstanding -= gone.iter().map(Chunk::len).sum::<usize>();
            self.changed.notify_all();
            gone
        };
        for c in &removed {
            fail_items(&c.items, 0..c.len(), &|| TaskError::Cancelled);
        }
    }

    /// Stops taking work (`close`).
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Fails every queued and running item as cancelled and kills the workers.
    pub(crate) fn terminate(&self) {
        let (queued, running, controls) = {
            let mut st = self.lock();
            if st.terminated {
                return;
            }
            st.terminated = true;
            st.closed = true;
            let queued: Vec<Chunk> = st.queue.drain(..).collect();
            let mut running = Vec::new();
            let mut controls = Vec::new();
            for slot in &mut st.slots {
                running.extend(slot.in_flight.drain(..));
                controls.extend(slot.control.clone());
            }
            // Exactly what was removed: a reader that took its batch just before still
            // subtracts that batch itself.
            let removed = queued.iter().map(Chunk::len).sum::<usize>()
                + running.iter().map(|b| b.len).sum::<usize>();
            st.outstanding -= removed;
            self.changed.notify_all();
            (queued, running, controls)
        };
        for c in &controls {
            c.kill();
        }
        for c in queued.iter().chain(running.iter().flat_map(|b| b.chunks.iter())) {
            fail_items(&c.items, 0..c.len(), &|| TaskError::Cancelled);
        }
    }

    /// Waits until all submitted work is delivered (after `close`), then stops the
    /// workers and the pool's threads. After `terminate`, only reaps.
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
        let senders = {
            let mut st = self.lock();
            while st.outstanding > 0 && !st.terminated {
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.shutting_down = true;
            self.changed.notify_all();
            st.slots.iter().map(|s| (s.tx.clone(), s.control.clone())).collect::<Vec<_>>()
        };
        let mut fb = FrameBuf::new();
        let shutdown = fb.control(&Control::Shutdown).to_vec();
        for (index, (tx, control)) in senders.into_iter().enumerate() {
            let _send = self.send_locks[index].lock().unwrap_or_else(|e| e.into_inner());
            match tx {
                Some(tx) if tx.send(FrameParts::whole(&shutdown)).is_ok() => {}
                _ => {
                    if let Some(c) = control {
                        c.kill();
                    }
                }
            }
        }
        let threads: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        self.backend.release();
    }
}

fn spawn_thread(name: String, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new().name(name).spawn(f).expect("cannot start a pool thread")
}

/// Builds one task frame from several small chunks of the same function.
fn merge_frames(chunks: &[Chunk], batch: u64) -> Vec<u8> {
    let mut fb = FrameBuf::new();
    let func = chunks[0].items.func().expect("a chunk has items");
    fb.begin_tasks(batch, func);
    for c in chunks {
        if let Ok(Frame::Tasks(t)) = parse(&c.frame.to_contiguous()) {
            for item in t.iter() {
                fb.push_raw(item);
            }
        }
    }
    fb.finish_vec()
}

/// The items at `positions` of `chunk`, as a new chunk.
fn subset_chunk(chunk: &Chunk, positions: &[usize], batch: u64) -> Chunk {
    let mut fb = FrameBuf::new();
    let func = chunk.items.func().expect("a chunk has items");
    fb.begin_tasks(batch, func);
    let mut list = Vec::with_capacity(positions.len());
    let frame = chunk.frame.to_contiguous();
    if let Ok(Frame::Tasks(t)) = parse(&frame) {
        for &p in positions {
            fb.push_raw(t.item(p));
            let (job, index) = chunk.items.get(p);
            list.push((Arc::clone(job), index));
        }
    }
    Chunk {
        items: Items::Mixed(list),
        frame: Arc::new(fb.finish_vec().into()),
        attempts: chunk.attempts,
    }
}

/// Splits a chunk after `at` items.
fn split_chunk(chunk: Chunk, at: usize, batch: u64) -> (Chunk, Chunk) {
    let n = chunk.len();
    let head: Vec<usize> = (0..at).collect();
    let tail: Vec<usize> = (at..n).collect();
    (subset_chunk(&chunk, &head, batch), subset_chunk(&chunk, &tail, batch + 1 + (1 << 62)))
}
