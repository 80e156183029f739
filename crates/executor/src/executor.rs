//! [`ProcessPoolExecutor`]: Python's `concurrent.futures.ProcessPoolExecutor`, as a thin
//! futures layer over the pool's scheduler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use multiproc_pool::{IMap, Pool, PoolBuilder, TaskError, WaitError};
use multiproc_process::{Context, InitOutcome, StartMethod};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ExecutorError, TimeoutError};
use crate::future::Future;

/// A pool of worker processes behind futures. Python:
/// `concurrent.futures.ProcessPoolExecutor`.
///
/// Unlike CPython's, it is never "broken": a worker that dies fails only the future it
/// was running, and the executor replaces the worker and goes on.
///
/// ```
/// use multiproc::{ProcessPoolExecutor, as_completed};
///
/// let ex = ProcessPoolExecutor::new(2)?;
/// let futures: Vec<_> = (1..=3u64).map(|n| ex.submit(|n: u64| n * 10, n)).collect::<Result<_, _>>()?;
/// let mut got: Vec<u64> = as_completed(&futures, None).map(|f| f.unwrap().result().unwrap()).collect();
/// got.sort();
/// assert_eq!(got, [10, 20, 30]);
/// let squares: Vec<u64> = ex.map(|x: u64| x * x, 0..4)?.map(Result::unwrap).collect();
/// assert_eq!(squares, [0, 1, 4, 9]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping the executor shuts it down and waits for submitted work, like leaving
/// `with ProcessPoolExecutor()`.
#[derive(Debug)]
pub struct ProcessPoolExecutor {
    pool: Pool,
    shut_down: AtomicBool,
}

/// Builds a [`ProcessPoolExecutor`]. Python: the arguments of `ProcessPoolExecutor(...)`.
///
/// ```
/// use multiproc::{ExecutorError, ProcessPoolExecutor, StartMethod};
///
/// let ex = ProcessPoolExecutor::builder().max_workers(2).start_method(StartMethod::Fork).build()?;
/// assert_eq!(ex.max_workers(), 2);
/// assert_eq!(ProcessPoolExecutor::new(0).unwrap_err(), ExecutorError::NoWorkers);
/// # Ok::<(), ExecutorError>(())
/// ```
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ExecutorBuilder {
    pool: PoolBuilder,
}

impl ExecutorBuilder {
    /// Number of workers (default: `cpu_count()`).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.pool = self.pool.processes(n);
        self
    }

    /// Runs `f(arg)` once in every worker before its first task; an `Err` or a panic
    /// fails the submitted futures with that error within seconds, and later submissions
    /// fail the same way. Python: `initializer`, `initargs`.
    pub fn initializer<A, R>(mut self, f: fn(A) -> R, arg: A) -> Self
    where
        A: Serialize + DeserializeOwned + 'static,
        R: InitOutcome + Serialize + DeserializeOwned + 'static,
    {
        self.pool = self.pool.initializer(f, arg);
        self
    }

    /// Replaces a worker after `n` tasks. Python: `max_tasks_per_child`.
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.pool = self.pool.max_tasks_per_child(n);
        self
    }

    /// Starts workers with `ctx`. Python: `mp_context`.
    pub fn context(mut self, ctx: Context) -> Self {
        self.pool = self.pool.context(ctx);
        self
    }

    /// Starts workers with `method`.
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.pool = self.pool.start_method(method);
        self
    }

    /// Checks the options and starts the executor.
    pub fn build(self) -> Result<ProcessPoolExecutor, ExecutorError> {
        Ok(ProcessPoolExecutor::from(self.pool.build()?))
    }
}

impl ProcessPoolExecutor {
    /// An executor of `max_workers` workers.
    pub fn new(max_workers: usize) -> Result<ProcessPoolExecutor, ExecutorError> {
        ProcessPoolExecutor::builder().max_workers(max_workers).build()
    }

    /// A builder for every option.
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::default()
    }

    /// Number of workers.
    pub fn max_workers(&self) -> usize {
        self.pool.processes()
    }

    /// Schedules `f(arg)` and returns its [`Future`]. Python: `submit()`.
    pub fn submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<Future<R>, ExecutorError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(ExecutorError::Shutdown);
        }
        let future = Future::new();
        let task = self.pool.submit_with(f, arg, future.completer())?;
        future.set_task(task);
        Ok(future)
    }

    /// `f` over `items`, lazily, in order: input is read only as results are taken, never
    /// all up front. Python: `map(fn, iterable)`.
    pub fn map<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> Result<Map<A, R, I::IntoIter>, ExecutorError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_with(f, items, MapOptions::default())
    }

    /// [`map`](Self::map) with a chunk size and an overall timeout, measured from this
    /// call. Python: `map(fn, iterable, timeout=, chunksize=)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiproc::{MapOptions, ProcessPoolExecutor};
    ///
    /// let ex = ProcessPoolExecutor::new(2)?;
    /// let opts = MapOptions::default().chunksize(6).timeout(Duration::from_secs(60));
    /// let out: Vec<u32> = ex.map_with(|x: u32| x + 1, 0..10, opts)?.map(Result::unwrap).collect();
    /// assert_eq!(out, (1..11).collect::<Vec<_>>());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_with<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<Map<A, R, I::IntoIter>, ExecutorError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(ExecutorError::Shutdown);
        }
        let inner = self.pool.chunksize(options.chunksize).imap(f, items)?;
        let deadline = options.timeout.map(|t| Instant::now() + t);
        Ok(Map { inner, deadline, taken: 0, timed_out: false })
    }

    /// Stops taking work. With `cancel_futures`, futures still waiting in the queue are
    /// cancelled; with `wait`, returns once every running or queued task is done and the
    /// workers have exited. Without `wait` it returns at once — it never hangs. Called
    /// from a done-callback (which runs on a pool thread), it cannot wait for itself: it
    /// returns at once and the shutdown finishes in the background. A lazy [`Map`] reads
    /// no more input after shutdown: it yields what was in flight, then one
    /// `TaskError::NotRunning`. Python: `shutdown(wait, cancel_futures)`.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shut_down.store(true, Ordering::Release);
        if cancel_futures {
            self.pool.cancel_pending();
        }
        self.pool.close();
        if wait {
            let _ = self.pool.join();
        }
    }
}

impl From<Pool> for ProcessPoolExecutor {
    /// An executor over a pool's workers, whatever the pool's backend (local processes,
    /// or the ranks of an MPI job). The executor owns the pool: shutting it down closes
    /// the pool.
    ///
    /// ```
    /// use multiproc::{Pool, ProcessPoolExecutor};
    ///
    /// let ex = ProcessPoolExecutor::from(Pool::new(2)?);
    /// assert_eq!(ex.submit(|x: u32| x + 1, 41)?.result()?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn from(pool: Pool) -> ProcessPoolExecutor {
        ProcessPoolExecutor { pool, shut_down: AtomicBool::new(false) }
    }
}

impl Drop for ProcessPoolExecutor {
    /// Shuts down and waits, like leaving `with ProcessPoolExecutor()`.
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

/// Options of [`ProcessPoolExecutor::map_with`].
#[derive(Debug, Clone, Copy)]
pub struct MapOptions {
    chunksize: usize,
    timeout: Option<Duration>,
}

impl Default for MapOptions {
    /// Chunk size 1, no timeout (Python's defaults).
    fn default() -> MapOptions {
        MapOptions { chunksize: 1, timeout: None }
    }
}

impl MapOptions {
    /// Items per message to a worker (at least 1).
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        self.chunksize = chunksize.max(1);
        self
    }

    /// Time allowed for the whole map, from the call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// One result of an executor [`Map`]: the value, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MapError {
    /// The task failed.
    Task(TaskError),
    /// The map's overall timeout passed; the iterator ends after this.
    Timeout(TimeoutError),
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MapError::Task(e) => e.fmt(f),
            MapError::Timeout(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for MapError {}

/// The lazy, ordered iterator of [`ProcessPoolExecutor::map`]. Dropping it cancels what it
/// has queued and not yet handed to a worker.
#[must_use = "a Map does nothing unless iterated"]
pub struct Map<A, R, I> {
    inner: IMap<A, R, I>,
    deadline: Option<Instant>,
    taken: usize,
    timed_out: bool,
}

impl<A, R, I> std::fmt::Debug for Map<A, R, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Map {{ taken: {}, deadline: {:?} }}", self.taken, self.deadline)
    }
}

impl<A, R, I> Iterator for Map<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    type Item = Result<R, MapError>;

    fn next(&mut self) -> Option<Result<R, MapError>> {
        if self.timed_out {
            return None;
        }
        let next = match self.deadline {
            None => self.inner.next().map(|r| r.map_err(MapError::Task)),
            Some(d) => match self.inner.next_timeout(d.saturating_duration_since(Instant::now())) {
                None => None,
                Some(Ok(v)) => Some(Ok(v)),
                Some(Err(WaitError::Timeout)) => {
                    self.timed_out = true;
                    let unfinished = self.inner.pending();
                    Some(Err(MapError::Timeout(TimeoutError {
                        unfinished,
                        total: self.taken + unfinished,
                    })))
                }
                Some(Err(WaitError::Task(e))) => Some(Err(MapError::Task(e))),
                Some(Err(_)) => Some(Err(MapError::Task(TaskError::Cancelled))),
            },
        };
        if matches!(next, Some(Ok(_)) | Some(Err(MapError::Task(_)))) {
            self.taken += 1;
        }
        next
    }
}
