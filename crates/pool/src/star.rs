//! The `*_star` calls: functions of several arguments, called with a tuple of them, as
//! `starmap` does (Python: `starmap`, and `apply(f, args)`'s argument tuple).

use multiproc_process::{StarFn, TaskReturn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::async_result::AsyncResult;
use crate::calls::Chunked;
use crate::error::TaskError;
use crate::imap::IMap;
use crate::pool::Pool;
use crate::sink::single;

impl Pool {
    /// `f(a, b, ...)` in a worker for the tuple `args`, waiting for the value. Python:
    /// `apply(f, (a, b))`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// fn scale(x: f64, by: f64) -> f64 { x * by }
    ///
    /// let pool = Pool::new(1)?;
    /// assert_eq!(pool.apply_star(scale, (2.0, 1.5))?, 3.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_star<Args, R, Via>(
        &self,
        f: impl StarFn<Args, R>,
        args: Args,
    ) -> Result<R::Value, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.apply_async_star(f, args)?.get()
    }

    /// [`apply_star`](Self::apply_star) without waiting. Python: `apply_async(f, (a, b))`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(1)?;
    /// let joined = pool.apply_async_star(|a: String, b: String| a + &b, ("ab".into(), "cd".into()))?;
    /// assert_eq!(joined.get()?, "abcd");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_async_star<Args, R, Via>(
        &self,
        f: impl StarFn<Args, R>,
        args: Args,
    ) -> Result<AsyncResult<R::Value>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        let func = f.into_function().id::<Via>();
        self.default_calls().collect_async(func, std::iter::once(args), single)
    }

    /// [`imap`](Self::imap) of a function of several arguments over tuples of them.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let sums: Vec<u32> = pool.imap_star(|a: u32, b: u32| a + b, [(1, 1), (2, 2)])?.collect::<Result<_, _>>()?;
    /// assert_eq!(sums, [2, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn imap_star<Args, R, Via, I>(
        &self,
        f: impl StarFn<Args, R>,
        items: I,
    ) -> Result<IMap<Args, R::Value, I::IntoIter>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
        I: IntoIterator<Item = Args>,
    {
        self.default_calls().imap_star(f, items)
    }

    /// [`imap_unordered`](Self::imap_unordered) of a function of several arguments over
    /// tuples of them.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let mut got: Vec<u32> =
    ///     pool.imap_unordered_star(|a: u32, b: u32| a * b, [(2, 3), (4, 5)])?.collect::<Result<_, _>>()?;
    /// got.sort();
    /// assert_eq!(got, [6, 20]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn imap_unordered_star<Args, R, Via, I>(
        &self,
        f: impl StarFn<Args, R>,
        items: I,
    ) -> Result<IMap<Args, R::Value, I::IntoIter>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
        I: IntoIterator<Item = Args>,
    {
        self.default_calls().imap_unordered_star(f, items)
    }
}

impl Chunked<'_> {
    /// See [`Pool::imap_star`].
    pub fn imap_star<Args, R, Via, I>(
        &self,
        f: impl StarFn<Args, R>,
        items: I,
    ) -> Result<IMap<Args, R::Value, I::IntoIter>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
        I: IntoIterator<Item = Args>,
    {
        self.lazy(f.into_function().id::<Via>(), items, true)
    }

    /// See [`Pool::imap_unordered_star`].
    pub fn imap_unordered_star<Args, R, Via, I>(
        &self,
        f: impl StarFn<Args, R>,
        items: I,
    ) -> Result<IMap<Args, R::Value, I::IntoIter>, TaskError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
        I: IntoIterator<Item = Args>,
    {
        self.lazy(f.into_function().id::<Via>(), items, false)
    }
}
