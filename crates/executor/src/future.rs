//! [`Future`]: the outcome of one submitted task, to block on or `.await`.
//! Python: `concurrent.futures.Future`.

use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use multiproc_pool::{Task, TaskError, TaskState, WaitError};

type DoneCallback<R> = Box<dyn FnOnce(&Future<R>) + Send>;

/// Someone waiting on several futures at once (`as_completed`, `wait`).
pub(crate) struct Notify {
    pub done: Mutex<Vec<usize>>,
    pub cond: Condvar,
}

enum Outcome<R> {
    Waiting,
    Done(Result<R, TaskError>),
    /// `.await` moved the value out.
    Taken,
}

struct State<R> {
    outcome: Outcome<R>,
    cancelled: bool,
    /// `cancel_and_kill` is killing the worker: its death means "cancelled".
    killing: bool,
    callbacks: Vec<DoneCallback<R>>,
    wakers: Vec<Waker>,
    notify: Vec<(Arc<Notify>, usize)>,
}

pub(crate) struct Shared<R> {
    state: Mutex<State<R>>,
    cond: Condvar,
    task: Mutex<Option<Task>>,
}

/// The outcome of a task submitted to a
/// [`ProcessPoolExecutor`](crate::ProcessPoolExecutor). Python: `concurrent.futures.Future`.
///
/// Block on it ([`result`](Self::result), [`result_timeout`](Self::result_timeout)), ask
/// it ([`done`](Self::done), [`running`](Self::running), [`cancelled`](Self::cancelled)),
/// [`cancel`](Self::cancel) it while it waits, or `.await` it on any async runtime (it
/// implements [`std::future::Future`]; this crate depends on no runtime).
///
/// ```
/// use multiproc::ProcessPoolExecutor;
///
/// let ex = ProcessPoolExecutor::new(2)?;
/// let f = ex.submit(|x: u64| x * x, 7)?;
/// assert_eq!(f.result()?, 49);
/// assert!(f.done() && !f.cancelled());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping a `Future` does not cancel its task: the task runs and its value is dropped.
#[must_use = "a Future does nothing unless its result is taken, awaited or waited for"]
pub struct Future<R> {
    shared: Arc<Shared<R>>,
}

impl<R> std::fmt::Debug for Future<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.cancelled() {
            "cancelled"
        } else if self.done() {
            "finished"
        } else if self.running() {
            "running"
        } else {
            "pending"
        };
        write!(f, "<Future state={state}>")
    }
}

impl<R: Send + 'static> Future<R> {
    /// A future whose task has not been submitted yet.
    pub(crate) fn new() -> Future<R> {
        Future {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    outcome: Outcome::Waiting,
                    cancelled: false,
                    killing: false,
                    callbacks: Vec::new(),
                    wakers: Vec::new(),
                    notify: Vec::new(),
                }),
                cond: Condvar::new(),
                task: Mutex::new(None),
            }),
        }
    }

    /// What completes the future when the task ends.
    pub(crate) fn completer(&self) -> impl FnOnce(Result<R, TaskError>) + Send + 'static {
        let shared = Arc::clone(&self.shared);
        move |outcome| Future { shared }.complete(outcome)
    }

    /// Cancels the task even if it is running, by killing its worker (which is replaced;
    /// other tasks go on). True if the task was cancelled: the future is then done and
    /// cancelled at once. False if it already finished, or was handed to a worker that has
    /// not started it yet (it is queued behind that worker's current task). Beyond
    /// Python, which cannot stop a running task.
    pub fn cancel_and_kill(&self) -> bool {
        if self.cancel() {
            return true;
        }
        // Marked before the kill: the worker's death may reach `complete` (on a pool
        // thread) before `kill` even returns here.
        self.lock().killing = true;
        let killed = {
            let task = self.shared.task.lock().unwrap_or_else(|e| e.into_inner());
            task.as_ref().is_some_and(Task::kill)
        };
        if killed {
            self.complete(Err(TaskError::Cancelled));
        } else {
            self.lock().killing = false;
        }
        self.cancelled()
    }

    pub(crate) fn set_task(&self, task: Task) {
        *self.shared.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    fn complete(&self, outcome: Result<R, TaskError>) {
        let (callbacks, wakers, notify) = {
            let mut st = self.lock();
            if !matches!(st.outcome, Outcome::Waiting) {
                return;
            }
            let outcome = match outcome {
                Err(TaskError::WorkerDied { .. }) if st.killing => Err(TaskError::Cancelled),
                other => other,
            };
            if matches!(outcome, Err(TaskError::Cancelled)) {
                st.cancelled = true;
            }
            st.outcome = Outcome::Done(outcome);
            self.shared.cond.notify_all();
            (
                std::mem::take(&mut st.callbacks),
                std::mem::take(&mut st.wakers),
                std::mem::take(&mut st.notify),
            )
        };
        for (n, index) in notify {
            n.done.lock().unwrap_or_else(|e| e.into_inner()).push(index);
            n.cond.notify_all();
        }
        for w in wakers {
            w.wake();
        }
        for cb in callbacks {
            run_callback(cb, self);
        }
    }
}

fn run_callback<R>(cb: DoneCallback<R>, f: &Future<R>) {
    // A panicking callback must not stop the others (Python logs and goes on).
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(f))).is_err() {
        eprintln!("multiproc: a done-callback panicked");
    }
}

impl<R> Future<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, State<R>>> {
        let mut st = self.lock();
        while matches!(st.outcome, Outcome::Waiting) {
            match deadline {
                None => st = self.shared.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    st = self
                        .shared
                        .cond
                        .wait_timeout(st, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        Some(st)
    }

    /// Whether the task finished (with a value or an error) or was cancelled. Python:
    /// `done()`.
    pub fn done(&self) -> bool {
        !matches!(self.lock().outcome, Outcome::Waiting)
    }

    /// Whether the task was cancelled. Python: `cancelled()`.
    pub fn cancelled(&self) -> bool {
        self.lock().cancelled
    }

    /// Whether a worker has started the task and it has not finished. Unlike CPython, a
    /// task waiting in the queue is not "running" — and can still be cancelled. Python:
    /// `running()`.
    pub fn running(&self) -> bool {
        !self.done()
            && self
                .shared
                .task
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .is_some_and(|t| t.state() == TaskState::Running)
    }

    /// Cancels the task if it is still waiting in the queue: true if it is (or already
    /// was) cancelled, false if it is running or done. Python: `cancel()`.
    pub fn cancel(&self) -> bool {
        if self.cancelled() {
            return true;
        }
        if self.done() {
            return false;
        }
        let task = self.shared.task.lock().unwrap_or_else(|e| e.into_inner());
        task.as_ref().is_some_and(Task::cancel)
    }

    /// Waits for the task and returns a clone of its value, or its error. Python:
    /// `result()`. (To move a value out instead, `.await` the future or use
    /// [`into_result`](Self::into_result).)
    pub fn result(&self) -> Result<R, TaskError>
    where
        R: Clone,
    {
        let st = self.wait_until(None).expect("no deadline");
        self.read(&st)
    }

    /// Like [`result`](Self::result) but gives up after `timeout` with
    /// [`WaitError::Timeout`]; the task goes on. Python: `result(timeout)`.
    pub fn result_timeout(&self, timeout: Duration) -> Result<R, WaitError>
    where
        R: Clone,
    {
        match self.wait_until(Some(Instant::now() + timeout)) {
            Some(st) => self.read(&st).map_err(WaitError::Task),
            None => Err(WaitError::Timeout),
        }
    }

    fn read(&self, st: &State<R>) -> Result<R, TaskError>
    where
        R: Clone,
    {
        match &st.outcome {
            _ if st.cancelled => Err(TaskError::Cancelled),
            Outcome::Done(r) => r.clone(),
            Outcome::Taken => Err(TaskError::Cancelled),
            Outcome::Waiting => unreachable!("waited until done"),
        }
    }

    /// Waits for the task and moves its value out.
    pub fn into_result(self) -> Result<R, TaskError> {
        let mut st = self.wait_until(None).expect("no deadline");
        let cancelled = st.cancelled;
        match std::mem::replace(&mut st.outcome, Outcome::Taken) {
            _ if cancelled => Err(TaskError::Cancelled),
            Outcome::Done(r) => r,
            _ => Err(TaskError::Cancelled),
        }
    }

    /// Waits for the task and returns its error, or `None` if it succeeded. Python:
    /// `exception()`.
    pub fn exception(&self) -> Option<TaskError> {
        let st = self.wait_until(None).expect("no deadline");
        match &st.outcome {
            _ if st.cancelled => Some(TaskError::Cancelled),
            Outcome::Done(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }

    /// Like [`exception`](Self::exception), giving up after `timeout`. Python:
    /// `exception(timeout)`.
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<TaskError>, WaitError> {
        let st = self.wait_until(Some(Instant::now() + timeout)).ok_or(WaitError::Timeout)?;
        Ok(match &st.outcome {
            _ if st.cancelled => Some(TaskError::Cancelled),
            Outcome::Done(Err(e)) => Some(e.clone()),
            _ => None,
        })
    }

    /// Runs `callback(&future)` when the task is done — at once, here, if it already is.
    /// Callbacks run in the order added; one that panics does not stop the others.
    /// Python: `add_done_callback()`.
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

impl<R> std::future::Future for Future<R> {
    type Output = Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.lock();
        if st.cancelled {
            return Poll::Ready(Err(TaskError::Cancelled));
        }
        match std::mem::replace(&mut st.outcome, Outcome::Taken) {
            Outcome::Done(r) => Poll::Ready(r),
            Outcome::Waiting => {
                st.outcome = Outcome::Waiting;
                if !st.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    st.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
            Outcome::Taken => Poll::Ready(Err(TaskError::Cancelled)),
        }
    }
}
