//! The executor's lazy `map`: [`MapOptions`] and the [`Map`] iterator. Python:
//! `Executor.map(fn, *iterables, timeout, chunksize)`.

use std::time::{Duration, Instant};

use multiproc_pool::{Chunked, IMap, Pool, TaskError};
use multiproc_process::{StarFn, TaskReturn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::executor::ProcessPoolExecutor;

impl ProcessPoolExecutor {
    /// `f` over `items`, lazily, in order: input is read only as results are taken, never
    /// all up front. Each item is its task's value or its [`TaskError`]. Python:
    /// `map(fn, iterable)`.
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(2)?;
    /// let out: Vec<u32> = ex.map(|x: u32| x + 1, 0..3)?.collect::<Result<_, _>>()?;
    /// assert_eq!(out, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map<A, R, Via, I>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> Result<Map<A, R::Value, I::IntoIter>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
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
    pub fn map_with<A, R, Via, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<Map<A, R::Value, I::IntoIter>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
        I: IntoIterator<Item = A>,
    {
        let inner = options.calls(self.running()?).imap(f, items)?;
        Ok(Map::new(inner, options))
    }

    /// [`map`](Self::map) of a function of several arguments over tuples of them. Python:
    /// `map(fn, xs, ys)` (here the tuples are zipped already).
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(2)?;
    /// let out: Vec<u64> = ex.map_star(|a: u64, b: u64| a * b, [(2, 3), (4, 5)])?.collect::<Result<_, _>>()?;
    /// assert_eq!(out, [6, 20]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_star<Args, R, Via, I>(
        &self,
        f: impl StarFn<Args, R>,
        items: I,
    ) -> Result<Map<Args, R::Value, I::IntoIter>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
        I: IntoIterator<Item = Args>,
    {
        self.map_star_with(f, items, MapOptions::default())
    }

    /// [`map_star`](Self::map_star) with a chunk size and an overall timeout.
    ///
    /// ```
    /// use multiproc::{MapOptions, ProcessPoolExecutor};
    ///
    /// let ex = ProcessPoolExecutor::new(2)?;
    /// let pairs = (0..100u32).map(|i| (i, i));
    /// let sums = ex.map_star_with(|a: u32, b: u32| a + b, pairs, MapOptions::default().chunksize(25))?;
    /// assert_eq!(sums.map(Result::unwrap).sum::<u32>(), 9900);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_star_with<Args, R, Via, I>(
        &self,
        f: impl StarFn<Args, R>,
        items: I,
        options: MapOptions,
    ) -> Result<Map<Args, R::Value, I::IntoIter>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
        I: IntoIterator<Item = Args>,
    {
        let inner = options.calls(self.running()?).imap_star(f, items)?;
        Ok(Map::new(inner, options))
    }
}

/// Options of [`ProcessPoolExecutor::map_with`] and
/// [`map_star_with`](ProcessPoolExecutor::map_star_with).
///
/// ```
/// use std::time::Duration;
/// use multiproc::MapOptions;
///
/// let opts = MapOptions::default().chunksize(100).timeout(Duration::from_secs(5));
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MapOptions {
    chunksize: usize,
    timeout: Option<Duration>,
    #[cfg(feature = "progress")]
    progress: bool,
}

impl Default for MapOptions {
    /// Chunk size 1, no timeout (Python's defaults).
    fn default() -> MapOptions {
        MapOptions {
            chunksize: 1,
            timeout: None,
            #[cfg(feature = "progress")]
            progress: false,
        }
    }
}

impl MapOptions {
    /// Shows a progress bar on stderr while the results arrive: items done of all,
    /// items per second, time left, and failed items apart; nothing when stderr is not a
    /// terminal. Python: `tqdm(executor.map(...), total=...)`. Needs the cargo feature
    /// `progress`.
    ///
    /// ```
    /// use multiproc::{MapOptions, ProcessPoolExecutor};
    ///
    /// let ex = ProcessPoolExecutor::new(2)?;
    /// let out = ex.map_with(|x: u32| x * 3, 0..20, MapOptions::default().progress())?;
    /// assert_eq!(out.map(Result::unwrap).sum::<u32>(), 570);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "progress")]
    pub fn progress(mut self) -> Self {
        self.progress = true;
        self
    }

    /// The pool's calls these options ask for.
    fn calls(self, pool: &Pool) -> Chunked<'_> {
        let calls = pool.chunksize(self.chunksize);
        #[cfg(feature = "progress")]
        if self.progress {
            return calls.progress();
        }
        calls
    }

    /// Items per message to a worker. A `map` given chunk size 0 fails with
    /// [`TaskError::ZeroChunksize`] (Python: "chunksize must be >= 1").
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        self.chunksize = chunksize;
        self
    }

    /// Time allowed for the whole map, from the call: past it the map yields
    /// [`TaskError::WaitTimedOut`] and ends (its tasks not yet started are withdrawn).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// The lazy, ordered iterator of [`ProcessPoolExecutor::map`]: each item's value or
/// [`TaskError`]. Dropping it cancels what it has queued and not yet handed to a worker.
#[must_use = "a Map does nothing unless iterated"]
pub struct Map<A, R, I> {
    inner: IMap<A, R, I>,
    deadline: Option<Instant>,
    timed_out: bool,
}

impl<A, R, I> Map<A, R, I> {
    fn new(inner: IMap<A, R, I>, options: MapOptions) -> Map<A, R, I> {
        let deadline = options.timeout.map(|t| Instant::now() + t);
        Map { inner, deadline, timed_out: false }
    }
}

impl<A, R, I> std::fmt::Debug for Map<A, R, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map").field("inner", &self.inner).field("deadline", &self.deadline).finish()
    }
}

impl<A, R, I> Iterator for Map<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Result<R, TaskError>> {
        if self.timed_out {
            return None;
        }
        let next = match self.deadline {
            None => self.inner.next(),
            Some(d) => self.inner.next_timeout(d.saturating_duration_since(Instant::now())),
        };
        self.timed_out = matches!(next, Some(Err(TaskError::WaitTimedOut)));
        next
    }

    /// Exact when the input's length is known (see [`IMap`]'s), until the map's timeout
    /// ends it early.
    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.timed_out { (0, Some(0)) } else { self.inner.size_hint() }
    }
}

/// With an input of known length, the map has a known length too: progress bars such as
/// indicatif's `ProgressIterator` can show how far it is.
///
/// ```
/// let ex = multiproc::ProcessPoolExecutor::new(2)?;
/// let mut it = ex.map(|x: u32| x + 1, vec![1, 2, 3])?;
/// assert_eq!(it.len(), 3);
/// assert_eq!(it.next(), Some(Ok(2)));
/// assert_eq!(it.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<A, R, I> ExactSizeIterator for Map<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: ExactSizeIterator<Item = A>,
{
}
