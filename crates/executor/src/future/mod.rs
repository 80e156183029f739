//! [`Future`]: the outcome of one submitted task, to block on or `.await`.
//! Python: `concurrent.futures.Future`.

mod shared;

use std::pin::Pin;
use std::sync::{Arc, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use multiproc_codec::{What, decode, encode};
use multiproc_pool::{Task, TaskError, TaskState};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use shared::Notify;
use shared::{Outcome, Shared, State};

/// The outcome of a task submitted to a
/// [`ProcessPoolExecutor`](crate::ProcessPoolExecutor). Python: `concurrent.futures.Future`.
///
/// Block on it ([`result`](Self::result), [`result_timeout`](Self::result_timeout)), ask
/// it ([`done`](Self::done), [`running`](Self::running), [`cancelled`](Self::cancelled)),
/// [`cancel`](Self::cancel) it while it waits, or `.await` it on any async runtime (it
/// implements [`std::future::Future`]; this crate depends on no runtime). A task that
/// returns `Err`, panics or loses its worker fails its future: [`exception`](Self::exception)
/// gives the [`TaskError`].
///
/// ```
/// use multiproc::ProcessPoolExecutor;
///
/// let ex = ProcessPoolExecutor::new(2)?;
/// let f = ex.submit(|x: u64| x * x, 7)?;
/// assert_eq!(f.result()?, 49);
/// assert!(f.done() && !f.cancelled());
/// assert_eq!(format!("{f:?}"), "<Future state=finished returned u64>");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// **Dropping a `Future` withdraws its task if the task has not started**: it is taken
/// out of the queue (or back from the worker it was sent to) and never runs, so
/// `tokio::time::timeout(d, ex.submit(f, x)?)` leaves no abandoned work behind. A task
/// that has started runs to its end and its value is dropped. To let an unstarted task
/// run anyway, [`detach`](Self::detach) the future instead of dropping it.
#[must_use = "a Future does nothing unless its result is taken, awaited or waited for; dropping it withdraws its task (see `detach`)"]
pub struct Future<R> {
    shared: Arc<Shared<R>>,
    /// Whether dropping this handle withdraws the task (the user's handle, not detached).
    withdraws: bool,
}

impl<R> std::fmt::Debug for Future<R> {
    /// Python's repr: `<Future state=pending>`, `running`, `cancelled`,
    /// `finished returned u64`, `finished raised Failed(std::io::error::Error)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        match &st.outcome {
            _ if st.cancelled => write!(f, "<Future state=cancelled>"),
            Outcome::Done(Ok(_)) | Outcome::Taken => {
                write!(f, "<Future state=finished returned {}>", std::any::type_name::<R>())
            }
            Outcome::Done(Err(e)) => write!(f, "<Future state=finished raised {}>", kind(e)),
            Outcome::Waiting => {
                drop(st);
                let state = if self.running() { "running" } else { "pending" };
                write!(f, "<Future state={state}>")
            }
        }
    }
}

/// The kind of a task's failure, as Python's repr names an exception's class.
fn kind(e: &TaskError) -> String {
    match e {
        TaskError::Failed(info) => format!("Failed({})", info.type_name()),
        other => {
            let debug = format!("{other:?}");
            debug.chars().take_while(char::is_ascii_alphanumeric).collect()
        }
    }
}

impl<R: Send + 'static> Future<R> {
    /// A future whose task has not been submitted yet.
    pub(crate) fn new() -> Future<R> {
        Future { shared: Arc::new(Shared::new()), withdraws: true }
    }

    /// What completes the future when the task ends.
    pub(crate) fn completer(&self) -> impl FnOnce(Result<R, TaskError>) + Send + 'static {
        let shared = Arc::clone(&self.shared);
        move |outcome| Future { shared, withdraws: false }.complete(outcome)
    }

    /// Cancels the task even if it is running, by killing its worker (which is replaced;
    /// other tasks go on). True if the task was cancelled: the future is then done and
    /// cancelled at once. False if it already finished, or was handed to a worker that has
    /// not started it yet (it is queued behind that worker's current task). Beyond
    /// Python, which cannot stop a running task.
    ///
    /// ```
    /// use multiproc::ProcessPoolExecutor;
    ///
    /// let ex = ProcessPoolExecutor::new(1)?;
    /// let hung = ex.submit(|s: u64| std::thread::sleep(std::time::Duration::from_secs(s)), 3600)?;
    /// while !hung.running() { std::thread::yield_now() }
    /// assert!(hung.cancel_and_kill());
    /// assert!(hung.cancelled());
    /// assert_eq!(ex.submit(|x: u8| x, 1)?.result()?, 1); // a new worker took its place
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_and_kill(&self) -> bool {
        if self.cancel() {
            return true;
        }
        // Marked before the kill: the worker's death may reach `complete` (on a pool
        // thread) before `kill` even returns here.
        self.lock().killing = true;
        let killed = self.shared.task().as_ref().is_some_and(Task::kill);
        if killed {
            self.complete(Err(TaskError::Cancelled));
        } else {
            self.lock().killing = false;
        }
        self.cancelled()
    }

    pub(crate) fn set_task(&self, task: Task) {
        *self.shared.task() = Some(task);
    }

    fn complete(&self, outcome: Result<R, TaskError>) {
        if let Some(wake) = self.shared.complete(outcome) {
            for cb in wake.wake() {
                run_callback(cb, self);
            }
        }
    }
}

fn run_callback<R>(cb: shared::DoneCallback<R>, f: &Future<R>) {
    // A panicking callback must not stop the others (Python logs and goes on).
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(f))).is_err() {
        eprintln!("multiproc: a done-callback panicked");
    }
}

/// A copy of a task's value, made through its serde form (every task value has one), so
/// that [`Future::result`] needs no `Clone`.
fn copy_of<R: Serialize + DeserializeOwned>(value: &R) -> Result<R, TaskError> {
    let mut bytes = Vec::new();
    encode(value, What::Result, &mut bytes).map_err(TaskError::Codec)?;
    decode(&bytes, What::Result).map_err(TaskError::Codec)
}

impl<R> Future<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.shared.lock()
    }

    /// Whether the task finished (with a value or an error) or was cancelled. Python:
    /// `done()`.
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|x: u8| x, 1)?;
    /// f.result()?;
    /// assert!(f.done());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn done(&self) -> bool {
        !matches!(self.lock().outcome, Outcome::Waiting)
    }

    /// Whether the task was cancelled. Python: `cancelled()`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// let busy = ex.submit(|s: u64| std::thread::sleep(Duration::from_secs(s)), 3600)?;
    /// let queued = ex.submit(|s: u64| std::thread::sleep(Duration::from_secs(s)), 0)?;
    /// while !busy.running() { std::thread::yield_now() }
    /// assert!(queued.cancel() && queued.cancelled());
    /// # busy.cancel_and_kill();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancelled(&self) -> bool {
        self.lock().cancelled
    }

    /// Whether a worker has started the task and it has not finished. Unlike CPython, a
    /// task waiting in the queue is not "running" — and can still be cancelled. Python:
    /// `running()`.
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|s: u64| std::thread::sleep(std::time::Duration::from_secs(s)), 3600)?;
    /// while !f.running() { std::thread::yield_now() }
    /// assert!(!f.done());
    /// # f.cancel_and_kill();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn running(&self) -> bool {
        !self.done() && self.shared.task().as_ref().is_some_and(|t| t.state() == TaskState::Running)
    }

    /// The pid of the worker process that holds the task — it was sent to that worker, or
    /// runs there; `None` while the task waits in the queue, once it has ended, and for
    /// workers that are not local processes. Beyond Python.
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|s: u64| std::thread::sleep(std::time::Duration::from_secs(s)), 3600)?;
    /// while !f.running() { std::thread::yield_now() }
    /// assert_eq!(f.worker_pid().map(|pid| ex.worker_pids().contains(&pid)), Some(true));
    /// # f.cancel_and_kill();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_pid(&self) -> Option<u32> {
        if self.done() {
            return None;
        }
        self.shared.task().as_ref().and_then(Task::worker_pid)
    }

    /// Cancels the task if it has not started (queued, or sent to a worker that gives it
    /// back): true if it is (or already was) cancelled, false if it is running or done.
    /// Python: `cancel()`.
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|x: u8| x, 1)?;
    /// f.result()?;
    /// assert!(!f.cancel()); // done already
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel(&self) -> bool {
        if self.cancelled() {
            return true;
        }
        if self.done() {
            return false;
        }
        self.shared.task().as_ref().is_some_and(Task::cancel)
    }

    /// Lets the task run even if this future is dropped before it starts (dropping a
    /// future withdraws an unstarted task); its value is dropped.
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// let log = std::env::temp_dir().join(format!("multiproc-detach-{}", std::process::id()));
    /// ex.submit(|p: String| std::fs::write(p, "ran").unwrap(), log.display().to_string())?.detach();
    /// ex.shutdown(true, false);
    /// assert_eq!(std::fs::read_to_string(&log)?, "ran");
    /// # std::fs::remove_file(log)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detach(mut self) {
        self.withdraws = false;
    }

    /// Waits for the task and returns its value, or its error. Python: `result()`. It can
    /// be asked again: each call returns a copy of the value, made through its serde form
    /// (so `R` needs no `Clone`). To move the value out instead, `.await` the future or
    /// use [`into_result`](Self::into_result).
    ///
    /// ```
    /// use multiproc::serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// #[serde(crate = "multiproc::serde")]
    /// struct Report { lines: u32 } // no Clone
    ///
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|lines: u32| Report { lines }, 3)?;
    /// assert_eq!(f.result()?, Report { lines: 3 });
    /// assert_eq!(f.result()?, Report { lines: 3 });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn result(&self) -> Result<R, TaskError>
    where
        R: Serialize + DeserializeOwned,
    {
        let st = self.shared.wait_until(None).expect("no deadline");
        read(&st)
    }

    /// Like [`result`](Self::result) but gives up after `timeout` with
    /// [`TaskError::WaitTimedOut`]; the task goes on. Python: `result(timeout)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiproc::{ProcessPoolExecutor, TaskError};
    ///
    /// let ex = ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|s: u64| std::thread::sleep(Duration::from_secs(s)), 3600)?;
    /// assert_eq!(f.result_timeout(Duration::from_millis(10)), Err(TaskError::WaitTimedOut));
    /// # f.cancel_and_kill();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn result_timeout(&self, timeout: Duration) -> Result<R, TaskError>
    where
        R: Serialize + DeserializeOwned,
    {
        match self.shared.wait_until(Some(Instant::now() + timeout)) {
            Some(st) => read(&st),
            None => Err(TaskError::WaitTimedOut),
        }
    }

    /// Waits for the task and moves its value out.
    ///
    /// ```
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// assert_eq!(ex.submit(|s: String| s + "!", "hi".into())?.into_result()?, "hi!");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_result(self) -> Result<R, TaskError> {
        let mut st = self.shared.wait_until(None).expect("no deadline");
        take(&mut st)
    }

    /// Waits for the task and returns its error, or `None` if it succeeded. Python:
    /// `exception()`.
    ///
    /// ```
    /// use multiproc::{ProcessPoolExecutor, TaskError};
    ///
    /// let ex = ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|s: String| s.parse::<u8>(), "256".to_string())?;
    /// assert!(matches!(f.exception(), Some(TaskError::Failed(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exception(&self) -> Option<TaskError> {
        let st = self.shared.wait_until(None).expect("no deadline");
        error_of(&st)
    }

    /// Like [`exception`](Self::exception), giving up after `timeout` with
    /// [`TaskError::WaitTimedOut`]. Python: `exception(timeout)`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|x: u8| x, 1)?;
    /// assert_eq!(f.exception_timeout(Duration::from_secs(30))?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<TaskError>, TaskError> {
        let st = self
            .shared
            .wait_until(Some(Instant::now() + timeout))
            .ok_or(TaskError::WaitTimedOut)?;
        Ok(error_of(&st))
    }

    /// Runs `callback(&future)` when the task is done — at once, here, if it already is.
    /// Callbacks run in the order added; one that panics does not stop the others.
    /// Python: `add_done_callback()`.
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let ex = multiproc::ProcessPoolExecutor::new(1)?;
    /// let (tx, rx) = mpsc::channel();
    /// let f = ex.submit(|x: u8| x + 1, 1)?;
    /// f.add_done_callback(move |f| tx.send(f.result()).unwrap());
    /// assert_eq!(rx.recv()?, Ok(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&Future<R>) + Send + 'static) {
        let mut st = self.lock();
        if matches!(st.outcome, Outcome::Waiting) {
            st.callbacks.push(Box::new(callback));
        } else {
            drop(st);
            run_callback(Box::new(callback), self);
        }
    }

    /// Registers a multi-future waiter; true if already done (nothing registered).
    pub(crate) fn notify_on_done(&self, n: &Arc<Notify>, index: usize) -> bool {
        let mut st = self.lock();
        if matches!(st.outcome, Outcome::Waiting) {
            st.notify.push((Arc::clone(n), index));
            false
        } else {
            true
        }
    }

    /// Whether the task failed (done, not cancelled, with an error).
    pub(crate) fn failed(&self) -> bool {
        let st = self.lock();
        !st.cancelled && matches!(st.outcome, Outcome::Done(Err(_)))
    }

    /// The identity of the shared state (for de-duplication).
    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.shared) as *const () as usize
    }
}

/// The value of a done future (a copy), or its error.
fn read<R: Serialize + DeserializeOwned>(st: &State<R>) -> Result<R, TaskError> {
    match &st.outcome {
        _ if st.cancelled => Err(TaskError::Cancelled),
        Outcome::Done(Ok(v)) => copy_of(v),
        Outcome::Done(Err(e)) => Err(e.clone()),
        Outcome::Taken => Err(TaskError::AlreadyTaken),
        Outcome::Waiting => unreachable!("waited until done"),
    }
}

/// Moves the outcome of a done future out.
fn take<R>(st: &mut State<R>) -> Result<R, TaskError> {
    if st.cancelled {
        return Err(TaskError::Cancelled);
    }
    match std::mem::replace(&mut st.outcome, Outcome::Taken) {
        Outcome::Done(r) => r,
        _ => Err(TaskError::AlreadyTaken),
    }
}

/// The error of a done future, if it failed.
fn error_of<R>(st: &State<R>) -> Option<TaskError> {
    match &st.outcome {
        _ if st.cancelled => Some(TaskError::Cancelled),
        Outcome::Done(Err(e)) => Some(e.clone()),
        _ => None,
    }
}

impl<R> Drop for Future<R> {
    /// Withdraws the task if it has not started (see the type's docs).
    fn drop(&mut self) {
        if self.withdraws
            && !self.done()
            && let Some(task) = self.shared.task().as_ref()
        {
            task.cancel();
        }
    }
}

impl<R> std::future::Future for Future<R> {
    type Output = Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.lock();
        if matches!(st.outcome, Outcome::Waiting) {
            if !st.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                st.wakers.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        Poll::Ready(take(&mut st))
    }
}
