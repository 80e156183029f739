//! [`Pool`]: Python's `multiprocessing.Pool` — map, imap, starmap, apply and their async
//! forms over long-lived worker processes. The calls themselves are in `calls.rs` (with
//! an explicit chunk size) and `star.rs` (functions of several arguments).

use std::sync::Arc;

use multiproc_process::{StarFn, TaskReturn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::async_result::AsyncResult;
use crate::builder::PoolBuilder;
use crate::calls::Chunked;
use crate::error::{PoolError, TaskError};
use crate::imap::IMap;
use crate::insights::Insights;
use crate::shell::Core;

/// A pool of worker processes. Python: `multiprocessing.Pool`.
///
/// Workers are started once and fed chunks of items over one long-lived channel each.
/// Every item submitted ends as a value or a [`TaskError`] — an error the task returned, a
/// panic, the death of its worker, a timeout, a value that cannot be encoded — and the
/// pool goes on: a dead worker is replaced and only the item it was running fails.
///
/// A task is a plain `fn(A) -> R` (non-capturing closures coerce) taking an owned serde
/// value and returning a serde value, or a `Result` whose `Err` fails the task (see
/// [`TaskReturn`]). Functions of several arguments take their arguments as a tuple through
/// the `*_star` calls ([`starmap`](Self::starmap), [`apply_star`](Self::apply_star), ...).
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

impl Pool {
    /// A pool of `processes` workers with the default start method. Python:
    /// `Pool(processes)`.
    ///
    /// ```
    /// use multiproc::{Pool, PoolError};
    ///
    /// assert_eq!(Pool::new(3)?.processes(), 3);
    /// assert_eq!(Pool::new(0).unwrap_err(), PoolError::NoProcesses);
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for every option. Python: `Pool(processes, initializer, initargs,
    /// maxtasksperchild, context)`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::builder().processes(2).max_tasks_per_child(1_000).build()?;
    /// assert_eq!(pool.apply(|x: u8| x + 1, 1)?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// ```
    /// assert_eq!(multiproc::Pool::new(2)?.processes(), 2);
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn processes(&self) -> usize {
        self.core.processes()
    }

    /// The pids of the pool's workers that are running now (a worker being started or
    /// replaced is missing; a pool whose workers are not local processes has none).
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let pids: Vec<u32> = pool.map(|_: u8| std::process::id(), 0..20)?;
    /// assert!(pids.iter().all(|pid| pool.worker_pids().contains(pid)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_pids(&self) -> Vec<u32> {
        self.core.worker_pids()
    }

    /// Where the pool's time went so far, per worker and overall: start-up, initializer,
    /// working and waiting times, tasks done and failed, restarts and their causes, the
    /// slowest tasks. Kept a batch at a time, always on. Python: mpire's `insights`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// pool.map(|x: u64| x + 1, 0..1000)?;
    /// let insights = pool.insights();
    /// assert_eq!(insights.workers.len(), 2);
    /// assert_eq!(insights.workers.iter().map(|w| w.tasks_done).sum::<u64>(), 1000);
    /// println!("{insights}"); // a small table
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insights(&self) -> Insights {
        self.core.insights()
    }

    /// The calls of a pool with an explicit chunk size (Python's `chunksize=`): how many
    /// items travel to a worker in one message. A call given chunk size 0 fails with
    /// [`TaskError::ZeroChunksize`].
    ///
    /// ```
    /// use multiproc::{Pool, TaskError};
    ///
    /// let pool = Pool::new(2)?;
    /// assert_eq!(pool.chunksize(4).map(|x: u32| x + 1, 0..10)?.len(), 10);
    /// assert_eq!(pool.chunksize(0).map(|x: u32| x, 0..10), Err(TaskError::ZeroChunksize));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn chunksize(&self, chunksize: usize) -> Chunked<'_> {
        Chunked::new(self, Some(chunksize))
    }

    /// The pool's calls, each showing a progress bar on stderr while its results arrive
    /// (see [`Chunked::progress`]); nothing is shown when stderr is not a terminal. Needs
    /// the cargo feature `progress`. Python: `tqdm(pool.imap(f, items), total=...)`.
    ///
    /// ```
    /// let pool = multiproc::Pool::new(2)?;
    /// let mut done: Vec<u64> = pool.progress().imap_unordered(|x: u64| x + 1, 0..50)?
    ///     .collect::<Result<_, _>>()?;
    /// done.sort();
    /// assert_eq!(done, (1..51).collect::<Vec<_>>());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "progress")]
    pub fn progress(&self) -> Chunked<'_> {
        Chunked::new(self, None).progress()
    }

    pub(crate) fn default_calls(&self) -> Chunked<'_> {
        Chunked::new(self, None)
    }

    /// `f` over every item, in order, waiting for all of them; the first failure (by
    /// position) once all items are done. Default chunk size as CPython's. Python: `map`.
    ///
    /// ```
    /// use multiproc::{Pool, TaskError};
    ///
    /// fn half(x: u32) -> Result<u32, std::fmt::Error> {
    ///     if x % 2 == 0 { Ok(x / 2) } else { Err(std::fmt::Error) }
    /// }
    ///
    /// let pool = Pool::new(2)?;
    /// assert_eq!(pool.map(half, [2, 4, 6])?, [1, 2, 3]);
    /// assert!(matches!(pool.map(half, [2, 3, 4]), Err(TaskError::Failed(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map<A, R, Via>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R::Value>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.default_calls().map(f, items)
    }

    /// Like [`map`](Self::map) but every item's own outcome, in order; the outer `Err`
    /// only when nothing could be submitted.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let out = pool.map_results(|s: String| s.parse::<u8>(), ["1".into(), "x".into()])?;
    /// assert_eq!(out[0], Ok(1));
    /// assert!(out[1].as_ref().unwrap_err().error().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_results<A, R, Via>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<Result<R::Value, TaskError>>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.default_calls().map_results(f, items)
    }

    /// [`map`](Self::map) without waiting. Python: `map_async`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let squares = pool.map_async(|x: u64| x * x, 0..4)?;
    /// assert_eq!(squares.get()?, [0, 1, 4, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_async<A, R, Via>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<Vec<R::Value>>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.default_calls().map_async(f, items)
    }

    /// `f(a, b, ...)` for every tuple `(a, b, ...)`, in order. Python: `starmap`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// fn pow(base: u64, exp: u32) -> u64 { base.pow(exp) }
    ///
    /// let pool = Pool::new(2)?;
    /// assert_eq!(pool.starmap(pow, [(2, 3), (10, 2)])?, [8, 100]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn starmap<Args, R, Via>(
        &self,
        f: impl StarFn<Args, R>,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<Vec<R::Value>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.default_calls().starmap(f, items)
    }

    /// [`starmap`](Self::starmap) without waiting. Python: `starmap_async`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let sums = pool.starmap_async(|a: u8, b: u8| a + b, [(1, 2), (3, 4)])?;
    /// assert_eq!(sums.get()?, [3, 7]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn starmap_async<Args, R, Via>(
        &self,
        f: impl StarFn<Args, R>,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<AsyncResult<Vec<R::Value>>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.default_calls().starmap_async(f, items)
    }

    /// A lazy, ordered iterator of results. Input is read only as results are taken, so
    /// an endless input runs in bounded memory. Chunk size 1 unless set. Python: `imap`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let evens: Vec<u64> = pool.imap(|x: u64| x * 2, 0..)?.take(4).collect::<Result<_, _>>()?;
    /// assert_eq!(evens, [0, 2, 4, 6]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn imap<A, R, Via, I>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> Result<IMap<A, R::Value, I::IntoIter>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
        I: IntoIterator<Item = A>,
    {
        self.default_calls().imap(f, items)
    }

    /// Like [`imap`](Self::imap), in completion order. Python: `imap_unordered`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let mut got: Vec<u64> = pool.imap_unordered(|x: u64| x * 10, 1..=3)?.collect::<Result<_, _>>()?;
    /// got.sort();
    /// assert_eq!(got, [10, 20, 30]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn imap_unordered<A, R, Via, I>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> Result<IMap<A, R::Value, I::IntoIter>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
        I: IntoIterator<Item = A>,
    {
        self.default_calls().imap_unordered(f, items)
    }

    /// `f(arg)` in a worker, waiting for the value. Python: `apply`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(1)?;
    /// assert_eq!(pool.apply(|s: String| s.len(), "four".to_string())?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply<A, R, Via>(&self, f: fn(A) -> R, arg: A) -> Result<R::Value, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.apply_async(f, arg)?.get()
    }

    /// `f(arg)` in a worker, without waiting. Python: `apply_async`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(1)?;
    /// let r = pool.apply_async(|x: u32| x * 3, 14)?;
    /// assert_eq!(r.get()?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_async<A, R, Via>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<AsyncResult<R::Value>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.default_calls().apply_async(f, arg)
    }

    /// Refuses new work; queued work still runs. Python: `close()`.
    ///
    /// ```
    /// use multiproc::{Pool, TaskError};
    ///
    /// let pool = Pool::new(1)?;
    /// let queued = pool.apply_async(|x: u8| x, 7)?;
    /// pool.close();
    /// assert_eq!(pool.apply(|x: u8| x, 8), Err(TaskError::NotRunning));
    /// assert_eq!(queued.get()?, 7);
    /// pool.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// Fails every queued and running task as cancelled, promptly, and kills the
    /// workers. Python: `terminate()` (which can leave results blocked forever).
    ///
    /// ```
    /// use multiproc::{Pool, TaskError};
    ///
    /// let pool = Pool::new(1)?;
    /// let stuck = pool.apply_async(|s: u64| std::thread::sleep(std::time::Duration::from_secs(s)), 3600)?;
    /// pool.terminate();
    /// assert_eq!(stuck.get(), Err(TaskError::Cancelled));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminate(&self) {
        self.core.terminate();
    }

    /// Waits for the work to finish and the workers to exit; only after `close` or
    /// `terminate`. Python: `join()`.
    ///
    /// ```
    /// use multiproc::{Pool, PoolError};
    ///
    /// let pool = Pool::new(1)?;
    /// assert_eq!(pool.join(), Err(PoolError::StillRunning));
    /// pool.close();
    /// pool.join()?;
    /// # Ok::<(), PoolError>(())
    /// ```
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
