//! [`AsyncResult`]: a result that arrives later. Python: `multiprocessing.pool.AsyncResult`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::TaskError;
use crate::sink::Collect;

/// The result of `apply_async` or `map_async`, arriving later.
/// Python: `multiprocessing.pool.AsyncResult`.
///
/// The value can be taken once (`get`, or `get_timeout` once ready). Callbacks
/// registered with [`on_success`](Self::on_success) / [`on_error`](Self::on_error) run
/// before `get` returns — on the pool's thread that delivered the last result, or at once
/// in the caller if the result is already in.
///
/// ```
/// use multiproc::Pool;
///
/// let pool = Pool::new(2)?;
/// let r = pool.apply_async(|x: u64| x + 1, 41)?;
/// r.wait();
/// assert!(r.ready());
/// assert_eq!(r.successful(), Ok(true));
/// assert_eq!(r.get()?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "an AsyncResult does nothing unless its value is taken or waited for"]
pub struct AsyncResult<T> {
    cell: Arc<dyn Cell<T>>,
}

/// What an `AsyncResult` needs of its sink, whatever the per-item type.
pub(crate) trait Cell<T>: Send + Sync {
    fn wait(&self, deadline: Option<Instant>) -> bool;
    fn is_ready(&self) -> bool;
    fn successful(&self) -> Option<bool>;
    fn take(&self) -> Option<Result<T, TaskError>>;
    fn on_success(&self, cb: Box<dyn FnOnce(&T) + Send>);
    fn on_error(&self, cb: Box<dyn FnOnce(&TaskError) + Send>);
}

impl<R: Send, T: Send> Cell<T> for Collect<R, T> {
    fn wait(&self, deadline: Option<Instant>) -> bool {
        Collect::wait(self, deadline)
    }
    fn is_ready(&self) -> bool {
        Collect::is_ready(self)
    }
    fn successful(&self) -> Option<bool> {
        Collect::successful(self)
    }
    fn take(&self) -> Option<Result<T, TaskError>> {
        Collect::take(self)
    }
    fn on_success(&self, cb: Box<dyn FnOnce(&T) + Send>) {
        Collect::on_success(self, cb)
    }
    fn on_error(&self, cb: Box<dyn FnOnce(&TaskError) + Send>) {
        Collect::on_error(self, cb)
    }
}

/// `successful()` was asked before the result was ready. Python raises `ValueError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotReady;

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the result is not ready")
    }
}

impl std::error::Error for NotReady {}

impl<T> std::fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsyncResult {{ ready: {} }}", self.cell.is_ready())
    }
}

impl<T> AsyncResult<T> {
    pub(crate) fn new(cell: Arc<dyn Cell<T>>) -> AsyncResult<T> {
        AsyncResult { cell }
    }

    /// Waits for the value and takes it. Python: `get()`.
    ///
    /// ```
    /// let pool = multiproc::Pool::new(1)?;
    /// assert_eq!(pool.apply_async(|x: i32| -x, 5)?.get()?, -5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(self) -> Result<T, TaskError> {
        self.cell.wait(None);
        self.cell.take().unwrap_or(Err(TaskError::AlreadyTaken))
    }

    /// Waits at most `timeout` and takes the value if it came; else
    /// [`TaskError::WaitTimedOut`], leaving the task running and this handle usable.
    /// Python: `get(timeout)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiproc::{Pool, TaskError};
    ///
    /// let pool = Pool::new(1)?;
    /// let r = pool.apply_async(|x: u8| x, 9)?;
    /// assert_eq!(r.get_timeout(Duration::from_secs(30))?, 9);
    /// assert_eq!(r.get_timeout(Duration::ZERO), Err(TaskError::AlreadyTaken));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, TaskError> {
        if !self.cell.wait(Some(Instant::now() + timeout)) {
            return Err(TaskError::WaitTimedOut);
        }
        self.cell.take().unwrap_or(Err(TaskError::AlreadyTaken))
    }

    /// Waits until the result is ready. Python: `wait()`.
    ///
    /// ```
    /// let pool = multiproc::Pool::new(1)?;
    /// let r = pool.apply_async(|x: u8| x, 1)?;
    /// r.wait();
    /// assert!(r.ready());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&self) {
        self.cell.wait(None);
    }

    /// Waits at most `timeout`; true if the result is ready. Python: `wait(timeout)`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = multiproc::Pool::new(1)?;
    /// let r = pool.apply_async(|x: u8| x, 1)?;
    /// assert!(r.wait_timeout(Duration::from_secs(30)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.cell.wait(Some(Instant::now() + timeout))
    }

    /// Whether the result is ready. Python: `ready()`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = multiproc::Pool::new(1)?;
    /// let r = pool.apply_async(|s: u64| std::thread::sleep(Duration::from_secs(s)), 3600)?;
    /// assert!(!r.ready());
    /// pool.terminate();
    /// r.wait();
    /// assert!(r.ready());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ready(&self) -> bool {
        self.cell.is_ready()
    }

    /// Whether the task succeeded (an error it returned, a panic, a dead worker ... are
    /// failures); [`NotReady`] before it is ready. Python: `successful()`.
    ///
    /// ```
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(1)?;
    /// let r = pool.apply_async(|s: String| s.parse::<u8>(), "300".to_string())?;
    /// r.wait();
    /// assert_eq!(r.successful(), Ok(false));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn successful(&self) -> Result<bool, NotReady> {
        self.cell.successful().ok_or(NotReady)
    }

    /// Runs `callback` with the value when the task succeeds, before `get` returns.
    /// Python: `callback=`.
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = multiproc::Pool::new(1)?;
    /// let (tx, rx) = mpsc::channel();
    /// let r = pool.apply_async(|x: u8| x + 1, 1)?.on_success(move |v| tx.send(*v).unwrap());
    /// assert_eq!(r.get()?, 2);
    /// assert_eq!(rx.try_recv()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_success(self, callback: impl FnOnce(&T) + Send + 'static) -> Self {
        self.cell.on_success(Box::new(callback));
        self
    }

    /// Runs `callback` with the error when the task fails (an error it returned
    /// included), before `get` returns. Python: `error_callback=`.
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = multiproc::Pool::new(1)?;
    /// let (tx, rx) = mpsc::channel();
    /// let r = pool
    ///     .apply_async(|s: String| s.parse::<u8>(), "x".to_string())?
    ///     .on_error(move |e| tx.send(e.to_string()).unwrap());
    /// assert!(r.get().is_err());
    /// assert_eq!(rx.try_recv()?, "the task failed: invalid digit found in string");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_error(self, callback: impl FnOnce(&TaskError) + Send + 'static) -> Self {
        self.cell.on_error(Box::new(callback));
        self
    }
}
