//! [`Chunked`]: a pool's calls with an explicit chunk size, and what every call does —
//! check the pool and the chunk size, encode the input into runs, hand back a handle.

use std::sync::Arc;

use multiproc_codec::FnId;
use multiproc_process::{Function, StarFn, TaskReturn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::async_result::AsyncResult;
use crate::chunk::default_chunksize;
use crate::error::TaskError;
use crate::imap::IMap;
use crate::pool::Pool;
use crate::shell::Core;
use crate::sink::{Collect, Finish, Sink, all_or_first_error, each, single};
use crate::submit::{submit_all, submit_one};

/// The calls of a [`Pool`] with an explicit `chunksize` (Python's `chunksize=` argument):
/// how many items travel to a worker in one message. Made by [`Pool::chunksize`]; a call
/// given chunk size 0 fails with [`TaskError::ZeroChunksize`].
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
    /// `None`: each call's default (CPython's for `map`, 1 for `imap`).
    chunksize: Option<usize>,
    /// Each call shows a progress bar.
    #[cfg(feature = "progress")]
    bar: bool,
}

impl<'a> Chunked<'a> {
    pub(crate) fn new(pool: &'a Pool, chunksize: Option<usize>) -> Chunked<'a> {
        Chunked {
            pool,
            chunksize,
            #[cfg(feature = "progress")]
            bar: false,
        }
    }

    /// The same calls, each showing a progress bar on stderr while its results arrive:
    /// items done of all, items per second, time left, and failed items apart. Nothing
    /// is shown when stderr is not a terminal. Python: `tqdm(pool.imap(...))`. Needs the
    /// cargo feature `progress`.
    ///
    /// ```
    /// let pool = multiproc::Pool::new(2)?;
    /// let squares = pool.chunksize(10).progress().map(|x: u64| x * x, 0..100)?;
    /// assert_eq!(squares.len(), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "progress")]
    pub fn progress(mut self) -> Chunked<'a> {
        self.bar = true;
        self
    }

    /// The sink a job of `len` items (if known) registers: `sink`, behind a progress bar
    /// when asked for.
    fn watched(&self, sink: Arc<dyn Sink>, len: Option<usize>) -> Arc<dyn Sink> {
        #[cfg(feature = "progress")]
        if self.bar {
            return Arc::new(crate::progress::Bar::stderr(sink, len));
        }
        #[cfg(not(feature = "progress"))]
        let _ = len;
        sink
    }

    /// The pool, if it takes work and the chunk size is valid.
    pub(crate) fn core(&self) -> Result<&'a Arc<Core>, TaskError> {
        let core = self.valid_core()?;
        if !core.accepting() {
            return Err(TaskError::NotRunning);
        }
        Ok(core)
    }

    /// The pool, if the chunk size is valid (whether it takes work is for the caller to
    /// find out, under the lock it takes anyway).
    pub(crate) fn valid_core(&self) -> Result<&'a Arc<Core>, TaskError> {
        if self.chunksize == Some(0) {
            return Err(TaskError::ZeroChunksize);
        }
        Ok(self.pool.core())
    }

    /// See [`Pool::map`].
    pub fn map<A, R, Via>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R::Value>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.map_async(f, items)?.get()
    }

    /// See [`Pool::map_results`].
    pub fn map_results<A, R, Via>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<Result<R::Value, TaskError>>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.collect_async(Function::new(f).id::<Via>(), items, each)?.get()
    }

    /// See [`Pool::map_async`].
    pub fn map_async<A, R, Via>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<Vec<R::Value>>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.collect_async(Function::new(f).id::<Via>(), items, all_or_first_error)
    }

    /// See [`Pool::starmap`].
    pub fn starmap<Args, R, Via>(
        &self,
        f: impl StarFn<Args, R>,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<Vec<R::Value>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.starmap_async(f, items)?.get()
    }

    /// See [`Pool::starmap_async`].
    pub fn starmap_async<Args, R, Via>(
        &self,
        f: impl StarFn<Args, R>,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<AsyncResult<Vec<R::Value>>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.collect_async(f.into_function().id::<Via>(), items, all_or_first_error)
    }

    /// See [`Pool::imap`].
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
        self.lazy(Function::new(f).id::<Via>(), items, true)
    }

    /// See [`Pool::imap_unordered`].
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
        self.lazy(Function::new(f).id::<Via>(), items, false)
    }

    /// `f(arg)` as a one-item job (the chunk size plays no part).
    pub(crate) fn apply_async<A, R, Via>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<AsyncResult<R::Value>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        let core = self.valid_core()?;
        let sink = Arc::new(Collect::new(1, single));
        submit_one(core, Function::new(f).id::<Via>(), self.watched(sink.clone(), Some(1)), &arg)?;
        sink.seal(1);
        Ok(AsyncResult::new(sink))
    }

    /// The lazy job of `func` over `items`, in order or as completed.
    pub(crate) fn lazy<A, V, I>(
        &self,
        func: FnId,
        items: I,
        ordered: bool,
    ) -> Result<IMap<A, V, I::IntoIter>, TaskError>
    where
        A: Serialize,
        V: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let core = self.core()?;
        let chunksize = self.chunksize.unwrap_or(1);
        let items = items.into_iter();
        let len = match items.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        let watch = |sink| self.watched(sink, len);
        Ok(IMap::new(Arc::clone(core), func, items, chunksize, ordered, watch))
    }

    /// Encodes `items` into chunks of one job of `func` collected by a [`Collect`] sink.
    /// The input is read as it is encoded, and each frame goes out as soon as it is:
    /// workers start at once. Only a default chunk size of an input of unknown length
    /// needs the whole input first (CPython's chunk size depends on the length).
    pub(crate) fn collect_async<A, V, T>(
        &self,
        func: FnId,
        items: impl IntoIterator<Item = A>,
        finish: Finish<V, T>,
    ) -> Result<AsyncResult<T>, TaskError>
    where
        A: Serialize,
        V: DeserializeOwned + Send + 'static,
        T: Send + 'static,
    {
        let core = self.core()?;
        let items = items.into_iter();
        let sink = Arc::new(Collect::new(items.size_hint().0, finish));
        // The job of `len` items (if known), and where its failures found here go.
        let add_job = |len| {
            let watched = self.watched(sink.clone(), len);
            (core.add_job(func, Arc::clone(&watched)), watched)
        };
        let exact = match items.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        let len = match self.chunksize.or(exact.map(|n| default_chunksize(n, core.processes()))) {
            Some(chunksize) => {
                let (job, sink) = add_job(exact);
                submit_all(core, job, chunksize, items, &|i, e| sink.fail(i, e))
            }
            None => {
                let items: Vec<A> = items.collect();
                let (job, sink) = add_job(Some(items.len()));
                let chunksize = default_chunksize(items.len(), core.processes());
                submit_all(core, job, chunksize, items.into_iter(), &|i, e| sink.fail(i, e))
            }
        };
        sink.seal(len);
        Ok(AsyncResult::new(sink))
    }
}
