//! [`Pool`]: Python's `multiprocessing.Pool` — map, imap, starmap, apply and their async
//! forms over long-lived worker processes.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use multiproc_codec::{What, encode};
use multiproc_process::{Function, StarFn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::async_result::AsyncResult;
use crate::builder::PoolBuilder;
use crate::chunk::{FRAME_BYTES, FRAME_TIME, LAZY_FRAME_ITEMS, default_chunksize, frame_items};
use crate::error::{PoolError, TaskError, WaitError};
use crate::scheduler::{Chunk, Core, Job, Sink};
use crate::sink::{Collect, Finish, Slot, Stream, all_or_first_error, each, single};

/// A pool of worker processes. Python: `multiprocessing.Pool`.
///
/// Workers are started once and fed chunks of items over one long-lived channel each.
/// Every item submitted ends as a value or a [`TaskError`] — a panic, the death of its
/// worker, a timeout, a value that cannot be encoded — and the pool goes on: a dead
/// worker is replaced and only the item it was running fails.
///
/// ```
/// use multiproc::Pool;
///
/// let pool = Pool::new(2)?;
/// assert_eq!(pool.map(|x: u64| x * x, 0..5)?, [0, 1, 4, 9, 16]);
/// let mut lazy = pool.imap_unordered(|x: u64| x + 1, 0..3)?;
/// let mut got: Vec<u64> = lazy.by_ref().map(Result::unwrap).collect();
/// got.sort();
/// assert_eq!(got, [1, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping a `Pool` terminates and reaps its workers, like leaving a `with Pool()` block:
/// results not yet delivered fail as [`TaskError::Cancelled`]. Call
/// [`close`](Self::close) then [`join`](Self::join) to let queued work finish first.
#[derive(Debug)]
pub struct Pool {
    core: Arc<Core>,
}

/// The same calls as [`Pool`] with an explicit `chunksize` (Python's `chunksize=`
/// argument): how many items travel to a worker in one message.
///
/// ```
/// use multiproc::Pool;
///
/// let pool = Pool::new(2)?;
/// assert_eq!(pool.chunksize(4).map(|x: u32| x + 1, 0..10)?.len(), 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Chunked<'a> {
    pool: &'a Pool,
    chunksize: Option<usize>,
}

impl Pool {
    /// A pool of `processes` workers with the default start method.
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for every option. Python: `Pool(processes, initializer, initargs,
    /// maxtasksperchild, context)`.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    pub(crate) fn from_core(core: Arc<Core>) -> Pool {
        Pool { core }
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Number of worker processes.
    pub fn processes(&self) -> usize {
        self.core.processes()
    }

    /// The calls below with an explicit chunk size (at least 1).
    pub fn chunksize(&self, chunksize: usize) -> Chunked<'_> {
        Chunked { pool: self, chunksize: Some(chunksize.max(1)) }
    }

    fn default_calls(&self) -> Chunked<'_> {
        Chunked { pool: self, chunksize: None }
    }

    /// `f` over every item, in order; the first failure (by position) once all items are
    /// done. Default chunk size as CPython's. Python: `map`.
    pub fn map<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.default_calls().map(f, items)
    }

    /// Like [`map`](Self::map) but every item's own outcome, in order.
    pub fn map_results<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<Result<R, TaskError>>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.default_calls().map_results(f, items)
    }

    /// [`map`](Self::map) without waiting. Python: `map_async`.
    pub fn map_async<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.default_calls().map_async(f, items)
    }

    /// `f(a, b, ...)` for every tuple `(a, b, ...)`, in order. Python: `starmap`.
    pub fn starmap<Args, R>(
        &self,
        f: impl StarFn<Args, R>,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<Vec<R>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.default_calls().starmap(f, items)
    }

    /// [`starmap`](Self::starmap) without waiting. Python: `starmap_async`.
    pub fn starmap_async<Args, R>(
        &self,
        f: impl StarFn<Args, R>,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.default_calls().starmap_async(f, items)
    }

    /// A lazy, ordered iterator of results. Input is read only as results are taken, so
    /// an endless input runs in bounded memory. Chunk size 1 unless set. Python: `imap`.
    pub fn imap<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> Result<IMap<A, R, I::IntoIter>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.default_calls().imap(f, items)
    }

    /// Like [`imap`](Self::imap), in completion order. Python: `imap_unordered`.
    pub fn imap_unordered<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> Result<IMap<A, R, I::IntoIter>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.default_calls().imap_unordered(f, items)
    }

    /// `f(arg)` in a worker, waiting for the value. Python: `apply`.
    pub fn apply<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<R, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, arg).map_err(|_| TaskError::NotRunning)?.get()
    }

    /// `f(arg)` in a worker, without waiting. Python: `apply_async`.
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.default_calls().collect_async(Function::new(f), std::iter::once(arg), single)
    }

    /// Refuses new work; queued work still runs. Python: `close()`.
    pub fn close(&self) {
        self.core.close();
    }

    /// Fails every queued and running task as cancelled, promptly, and kills the
    /// workers. Python: `terminate()` (which can leave results blocked forever).
    pub fn terminate(&self) {
        self.core.terminate();
    }

    /// Waits for the work to finish and the workers to exit; only after `close` or
    /// `terminate`. Python: `join()`.
    pub fn join(&self) -> Result<(), PoolError> {
        if self.core.accepting() {
            return Err(PoolError::StillRunning);
        }
        self.core.join();
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.core.terminate();
        self.core.join();
    }
}

impl Chunked<'_> {
    fn core(&self) -> &Arc<Core> {
        &self.pool.core
    }

    /// See [`Pool::map`].
    pub fn map<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async(f, items).map_err(|_| TaskError::NotRunning)?.get()
    }

    /// See [`Pool::map_results`].
    pub fn map_results<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<Result<R, TaskError>>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.collect_async(Function::new(f), items, each).map_err(|_| TaskError::NotRunning)?.get()
    }

    /// See [`Pool::map_async`].
    pub fn map_async<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.collect_async(Function::new(f), items, all_or_first_error)
    }

    /// See [`Pool::starmap`].
    pub fn starmap<Args, R>(
        &self,
        f: impl StarFn<Args, R>,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<Vec<R>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.starmap_async(f, items).map_err(|_| TaskError::NotRunning)?.get()
    }

    /// See [`Pool::starmap_async`].
    pub fn starmap_async<Args, R>(
        &self,
        f: impl StarFn<Args, R>,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.collect_async(f.into_function(), items, all_or_first_error)
    }

    /// See [`Pool::imap`].
    pub fn imap<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> Result<IMap<A, R, I::IntoIter>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.lazy(f, items, true)
    }

    /// See [`Pool::imap_unordered`].
    pub fn imap_unordered<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> Result<IMap<A, R, I::IntoIter>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.lazy(f, items, false)
    }

    fn lazy<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        ordered: bool,
    ) -> Result<IMap<A, R, I::IntoIter>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        if !self.core().accepting() {
            return Err(PoolError::NotRunning);
        }
        let chunksize = self.chunksize.unwrap_or(1);
        let stream = Arc::new(Stream::new(ordered));
        let job = Arc::new(Job::new(Function::new(f).id(), stream.clone()));
        Ok(IMap {
            core: Arc::clone(self.core()),
            job,
            stream,
            input: items.into_iter(),
            chunksize,
            frame: chunksize,
            window: chunksize.max(64) * 8 * self.core().processes(),
            submitted: 0,
            yielded: 0,
            exhausted: false,
            ready: VecDeque::new(),
            cut_short: false,
            _arg: PhantomData,
        })
    }

    /// Encodes `items` into chunks of one job collected by a [`Collect`] sink. The input
    /// is read as it is encoded, and each frame goes out as soon as it is: workers start
    /// at once. Only a default chunk size of an input of unknown length needs the whole
    /// input first (CPython's chunk size depends on the length).
    pub(crate) fn collect_async<A, R, T>(
        &self,
        f: Function<A, R>,
        items: impl IntoIterator<Item = A>,
        finish: Finish<R, T>,
    ) -> Result<AsyncResult<T>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        T: Send + 'static,
    {
        let core = self.core();
        if !core.accepting() {
            return Err(PoolError::NotRunning);
        }
        let items = items.into_iter();
        let sink = Arc::new(Collect::new(items.size_hint().0, finish));
        let job = Arc::new(Job::new(f.id(), sink.clone()));
        let fail = |i: usize, e: TaskError| sink.fail(i, e);
        let exact = match items.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        let len = match self.chunksize.or(exact.map(|n| default_chunksize(n, core.processes()))) {
            Some(chunksize) => submit_all(core, &job, chunksize, items, &fail),
            None => {
                let items: Vec<A> = items.collect();
                let chunksize = default_chunksize(items.len(), core.processes());
                submit_all(core, &job, chunksize, items.into_iter(), &fail)
            }
        };
        sink.seal(len);
        Ok(AsyncResult::new(sink))
    }
}

/// Encodes and submits every item of `items` (job items `0..`) in chunks of `chunksize`;
/// returns how many items there were.
fn submit_all<A: Serialize>(
    core: &Core,
    job: &Arc<Job>,
    chunksize: usize,
    mut items: impl Iterator<Item = A>,
    fail: &dyn Fn(usize, TaskError),
) -> usize {
    let chunksize = chunksize.max(1);
    let mut len = 0;
    loop {
        let read = submit_chunk(core, job, len, chunksize, &mut items, fail);
        len += read;
        if read < chunksize {
            return len;
        }
    }
}

/// Reads up to `chunksize` items of `items` (job items `first..`) and submits them as
/// one chunk: frames of at most [`frame_items`] items and about [`FRAME_BYTES`], each
/// submitted as soon as it is encoded. Items that cannot be encoded fail through `fail`
/// and are left out. Returns how many items it read: fewer than `chunksize` only at the
/// end of the input.
fn submit_chunk<A: Serialize>(
    core: &Core,
    job: &Arc<Job>,
    first: usize,
    chunksize: usize,
    items: &mut impl Iterator<Item = A>,
    fail: &dyn Fn(usize, TaskError),
) -> usize {
    let per_frame = frame_items(chunksize);
    let mut read = 0;
    while read < chunksize {
        let want = per_frame.min(chunksize - read);
        let mut fb = core.frame_buf();
        fb.begin_tasks(core.batch_id(), job.func);
        // Size the frame up front (a generous guess per item beats regrowth).
        fb.reserve(want, std::mem::size_of::<A>().clamp(1, 64));
        let start = first + read;
        let mut listed: Option<Vec<usize>> = None;
        let mut n = 0;
        let mut ended = false;
        while n < want && fb.payload_len() < FRAME_BYTES {
            let Some(item) = items.next() else {
                ended = true;
                break;
            };
            let index = start + n;
            n += 1;
            match fb.push_with(|buf| encode(&item, What::Argument, buf)) {
                Ok(()) => {
                    if let Some(list) = &mut listed {
                        list.push(index);
                    }
                }
                Err(e) => {
                    listed.get_or_insert_with(|| (start..index).collect());
                    fail(index, TaskError::Encode(e));
                }
            }
        }
        read += n;
        if !fb.is_empty() {
            let frame = fb.finish_owned();
            core.submit(vec![match listed {
                None => Chunk::range(Arc::clone(job), start, n, frame),
                Some(list) => Chunk::listed(job, list, frame),
            }]);
        }
        if ended {
            break;
        }
    }
    read
}

/// The lazy iterator of [`Pool::imap`] and [`Pool::imap_unordered`]: each item's result,
/// in order or as completed.
///
/// It reads its input only to keep a bounded number of items in flight, so an endless
/// input runs in bounded memory, and results wait for the consumer without piling up.
#[must_use = "an IMap does nothing unless iterated"]
pub struct IMap<A, R, I> {
    core: Arc<Core>,
    job: Arc<Job>,
    stream: Arc<Stream<R>>,
    input: I,
    chunksize: usize,
    /// Items in the next frame (see [`frame_len`](Self::frame_len)).
    frame: usize,
    /// Items to keep in flight.
    window: usize,
    submitted: usize,
    yielded: usize,
    exhausted: bool,
    /// Results taken from the stream in one lock (filled slots), handed out one by one.
    ready: VecDeque<Slot<R>>,
    /// Input was left unread because the pool stopped taking work.
    cut_short: bool,
    _arg: PhantomData<fn(A)>,
}

impl<A, R, I> std::fmt::Debug for IMap<A, R, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IMap {{ submitted: {}, yielded: {} }}", self.submitted, self.yielded)
    }
}

impl<A, R, I> IMap<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    /// Reads more input while fewer than the window's items are in flight. Once the pool
    /// stops taking work (`close`, `terminate`, an executor's `shutdown`), the input is
    /// no longer read: what is in flight completes, then one `NotRunning` error says the
    /// rest was never run.
    fn refill(&mut self) {
        while !self.exhausted && self.submitted - self.yielded < self.window {
            if !self.core.accepting() {
                self.exhausted = true;
                self.cut_short = self.input.next().is_some();
                break;
            }
            let stream = &self.stream;
            let fail = |i: usize, e: TaskError| stream.fail(i, e);
            let frame = self.frame;
            let read =
                submit_chunk(&self.core, &self.job, self.submitted, frame, &mut self.input, &fail);
            self.submitted += read;
            if read < frame {
                self.exhausted = true;
            }
            // A frame at most doubles from one to the next: a job whose tasks turn slow
            // after quick ones has at most twice the last frame's items on one worker.
            self.frame = self.frame_len().min(2 * frame);
            // Enough in flight to keep every worker's window full, and no more.
            // Three frames per worker: two in its window, one being read by the caller.
            self.window = (self.chunksize.max(64) * 8).max(3 * self.frame) * self.core.processes();
        }
    }

    /// Items to encode into the next frame: whole chunks, as many as run in about
    /// [`FRAME_TIME`] at the pace the job's results showed so far, and at most
    /// [`LAZY_FRAME_ITEMS`] items; one chunk before any result, for slow tasks, and
    /// always with the default chunk size of 1.
    ///
    /// A chunk of quick tasks is over in microseconds, and a frame per chunk then costs
    /// more than the tasks (W2: a third of the throughput at 1000 items per chunk). Slow
    /// tasks keep a frame per chunk: their results stream back as they complete, and a
    /// worker never holds many of them while another is idle. A chunk size of 1 is how
    /// Python users ask for that balance whatever the tasks, so it is never merged.
    fn frame_len(&self) -> usize {
        if self.chunksize == 1 {
            return 1;
        }
        let per_chunk =
            self.job.pace().map_or(u64::MAX, |ns| ns.saturating_mul(self.chunksize as u64));
        let by_time =
            usize::try_from(FRAME_TIME.as_nanos() as u64 / per_chunk).unwrap_or(usize::MAX);
        let by_count = LAZY_FRAME_ITEMS / self.chunksize;
        by_time.min(by_count).max(1) * self.chunksize
    }

    /// Items read from the input whose results have not been taken yet.
    pub fn pending(&self) -> usize {
        self.submitted - self.yielded
    }

    /// The next result, waiting at most `timeout`: `None` when the input is exhausted
    /// and every result was taken, `Some(Err(WaitError::Timeout))` when the wait timed out
    /// (the iterator stays usable). Python: `next(timeout)`.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, WaitError>> {
        self.refill();
        if self.exhausted && self.yielded == self.submitted {
            return std::mem::take(&mut self.cut_short)
                .then_some(Err(WaitError::Task(TaskError::NotRunning)));
        }
        if self.ready.is_empty()
            && !self.stream.drain(&mut self.ready, Some(Instant::now() + timeout))
        {
            return Some(Err(WaitError::Timeout));
        }
        self.yielded += 1;
        self.ready.pop_front().flatten().map(|r| r.map_err(|e| WaitError::Task(*e)))
    }
}

impl<A, R, I> Drop for IMap<A, R, I> {
    /// An abandoned iterator cancels its queued chunks; chunks already at a worker finish
    /// and their results are dropped.
    fn drop(&mut self) {
        if !(self.exhausted && self.yielded == self.submitted) {
            self.core.cancel_queued(&self.job);
        }
    }
}

impl<A, R, I> Iterator for IMap<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Result<R, TaskError>> {
        self.refill();
        if self.exhausted && self.yielded == self.submitted {
            return std::mem::take(&mut self.cut_short).then_some(Err(TaskError::NotRunning));
        }
        if self.ready.is_empty() {
            self.stream.drain(&mut self.ready, None);
        }
        self.yielded += 1;
        self.ready.pop_front().flatten().map(|r| r.map_err(|e| *e))
    }
}
