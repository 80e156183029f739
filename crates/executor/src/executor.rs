//! [`ProcessPoolExecutor`]: Python's `concurrent.futures.ProcessPoolExecutor`, as a thin
//! futures layer over the pool's scheduler. Its lazy `map` is in `map.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use multiproc_pool::{Insights, Pool, PoolBuilder, PoolError, TaskError};
use multiproc_process::{Context, Function, InitOutcome, StarFn, StartMethod, TaskReturn};
use serde::Serialize;
use serde::de::DeserializeOwned;

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
    pub(crate) pool: Pool,
    shut_down: AtomicBool,
}

/// Builds a [`ProcessPoolExecutor`]. Python: the arguments of `ProcessPoolExecutor(...)`.
///
/// ```
/// use std::time::Duration;
/// use multiproc::{PoolError, ProcessPoolExecutor, StartMethod};
///
/// let ex = ProcessPoolExecutor::builder()
///     .max_workers(2)
///     .start_method(StartMethod::Fork)
///     .timeout(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(ex.max_workers(), 2);
/// assert_eq!(ProcessPoolExecutor::new(0).unwrap_err(), PoolError::NoProcesses);
/// # Ok::<(), PoolError>(())
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

    /// Caps each worker's address space; see [`PoolBuilder::memory_limit`].
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::builder().max_workers(1).memory_limit(256 << 20).build()?;
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.pool = self.pool.memory_limit(bytes);
        self
    }

    /// Caps each task's CPU time; see [`PoolBuilder::cpu_time_limit`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let ex = multiproc::ProcessPoolExecutor::builder().cpu_time_limit(Duration::from_secs(5)).build()?;
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn cpu_time_limit(mut self, limit: Duration) -> Self {
        self.pool = self.pool.cpu_time_limit(limit);
        self
    }

    /// Caps each worker's open descriptors; see [`PoolBuilder::open_files_limit`].
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::builder().max_workers(1).open_files_limit(64).build()?;
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn open_files_limit(mut self, n: u64) -> Self {
        self.pool = self.pool.open_files_limit(n);
        self
    }

    /// Whether a crashing worker may write a core dump; see [`PoolBuilder::core_dumps`].
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::builder().max_workers(1).core_dumps(false).build()?;
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn core_dumps(mut self, allowed: bool) -> Self {
        self.pool = self.pool.core_dumps(allowed);
        self
    }

    /// Replaces a worker whose resident memory ends a task above `bytes`; see
    /// [`PoolBuilder::max_memory_per_child`].
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::builder().max_memory_per_child(1 << 30).build()?;
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn max_memory_per_child(mut self, bytes: u64) -> Self {
        self.pool = self.pool.max_memory_per_child(bytes);
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

    /// Kills and replaces a worker whose task runs longer than `timeout`; that task's
    /// future fails with [`TaskError::TimedOut`]. Beyond Python, whose `map(timeout=)`
    /// only stops waiting (see [`MapOptions::timeout`](crate::MapOptions::timeout)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.pool = self.pool.timeout(timeout);
        self
    }

    /// Checks the options and starts the executor.
    pub fn build(self) -> Result<ProcessPoolExecutor, PoolError> {
        Ok(ProcessPoolExecutor::from(self.pool.build()?))
    }
}

impl ProcessPoolExecutor {
    /// An executor of `max_workers` workers. Python: `ProcessPoolExecutor(max_workers)`.
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(2)?;
    /// assert_eq!(ex.max_workers(), 2);
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn new(max_workers: usize) -> Result<ProcessPoolExecutor, PoolError> {
        ProcessPoolExecutor::builder().max_workers(max_workers).build()
    }

    /// A builder for every option.
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::builder().max_workers(1).build()?;
    /// assert_eq!(ex.submit(|x: u8| x * 2, 4)?.result()?, 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::default()
    }

    /// Number of workers.
    ///
    /// ```
    /// assert_eq!(multiproc::ProcessPoolExecutor::new(3)?.max_workers(), 3);
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn max_workers(&self) -> usize {
        self.pool.processes()
    }

    /// Where the executor's time went so far, per worker and overall (see
    /// [`Pool::insights`]). Python: mpire's `insights`.
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(2)?;
    /// assert_eq!(ex.submit(|x: u8| x + 1, 1)?.result()?, 2);
    /// let insights = ex.insights();
    /// assert_eq!(insights.workers.iter().map(|w| w.tasks_done).sum::<u64>(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insights(&self) -> Insights {
        self.pool.insights()
    }

    /// The pids of the executor's workers that are running now (see
    /// [`Pool::worker_pids`]).
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(2)?;
    /// let pid = ex.submit(|_: ()| std::process::id(), ())?.result()?;
    /// assert!(ex.worker_pids().contains(&pid));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_pids(&self) -> Vec<u32> {
        self.pool.worker_pids()
    }

    /// The pool, if the executor takes work.
    pub(crate) fn running(&self) -> Result<&Pool, TaskError> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(TaskError::NotRunning);
        }
        Ok(&self.pool)
    }

    /// Schedules `f(arg)` and returns its [`Future`]; [`TaskError::NotRunning`] after
    /// [`shutdown`](Self::shutdown). `f` may return a `Result`, whose `Err` fails the
    /// future. Python: `submit()`.
    ///
    /// ```
    /// use multiproc::{ProcessPoolExecutor, TaskError};
    ///
    /// let ex = ProcessPoolExecutor::new(1)?;
    /// assert_eq!(ex.submit(|x: u32| x + 1, 41)?.result()?, 42);
    /// ex.shutdown(true, false);
    /// assert_eq!(ex.submit(|x: u32| x, 1).unwrap_err(), TaskError::NotRunning);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit<A, R, Via>(&self, f: fn(A) -> R, arg: A) -> Result<Future<R::Value>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.submit_function(Function::new(f), arg)
    }

    /// Schedules `f(a, b, ...)` for the tuple `args`. Python: `submit(f, a, b)`.
    ///
    /// ```
    /// fn area(w: f64, h: f64) -> f64 { w * h }
    ///
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// assert_eq!(ex.submit_star(area, (2.0, 3.5))?.result()?, 7.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_star<Args, R, Via>(
        &self,
        f: impl StarFn<Args, R>,
        args: Args,
    ) -> Result<Future<R::Value>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.submit_function(f.into_function(), args)
    }

    fn submit_function<A, R, Via>(
        &self,
        f: Function<A, R>,
        arg: A,
    ) -> Result<Future<R::Value>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        let future = Future::new();
        let task = self.running()?.submit_function_with(f, arg, future.completer())?;
        future.set_task(task);
        Ok(future)
    }

    /// Stops taking work. With `cancel_futures`, futures still waiting in the queue are
    /// cancelled; with `wait`, returns once every running or queued task is done and the
    /// workers have exited. Without `wait` it returns at once — it never hangs. Called
    /// from a done-callback (which runs on a pool thread), it cannot wait for itself: it
    /// returns at once and the shutdown finishes in the background. A lazy
    /// [`Map`](crate::Map) reads no more input after shutdown: it yields what was in
    /// flight, then one [`TaskError::NotRunning`]. Python: `shutdown(wait, cancel_futures)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiproc::{ProcessPoolExecutor, TaskError};
    ///
    /// let ex = ProcessPoolExecutor::new(1)?;
    /// let busy = ex.submit(|s: u64| std::thread::sleep(Duration::from_secs(s)), 3600)?;
    /// let queued = ex.submit(|x: u8| x, 1)?;
    /// while !busy.running() { std::thread::yield_now() }
    /// ex.shutdown(false, true); // returns at once; what waits in the queue is cancelled
    /// assert_eq!(queued.exception(), Some(TaskError::Cancelled));
    /// assert_eq!(ex.submit(|x: u8| x, 2).unwrap_err(), TaskError::NotRunning);
    /// busy.cancel_and_kill();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
