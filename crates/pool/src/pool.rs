//! [`Pool`]: Python's `multiprocessing.Pool` — map, imap, starmap, apply and their async
//! forms over long-lived worker processes.

use std::sync::Arc;

use multiproc_process::{Function, StarFn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::async_result::AsyncResult;
use crate::builder::PoolBuilder;
use crate::chunk::default_chunksize;
use crate::error::{PoolError, TaskError};
use crate::imap::IMap;
use crate::shell::Core;
use crate::sink::{Collect, Finish, Sink, all_or_first_error, each, single};
use crate::submit::submit_all;

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
        Ok(IMap::new(
            Arc::clone(self.core()),
            Function::new(f).id(),
            items.into_iter(),
            chunksize,
            ordered,
        ))
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
        let job = core.add_job(f.id(), sink.clone());
        let fail = |i: usize, e: TaskError| sink.fail(i, e);
        let exact = match items.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        let len = match self.chunksize.or(exact.map(|n| default_chunksize(n, core.processes()))) {
            Some(chunksize) => submit_all(core, job, chunksize, items, &fail),
            None => {
                let items: Vec<A> = items.collect();
                let chunksize = default_chunksize(items.len(), core.processes());
                submit_all(core, job, chunksize, items.into_iter(), &fail)
            }
        };
        sink.seal(len);
        Ok(AsyncResult::new(sink))
    }
}
