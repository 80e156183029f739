//! [`Task`]: one task submitted with a completion callback, and a handle to see where it
//! is, cancel it while it waits, or kill its worker while it runs — the building block of
//! futures (`multiproc-executor`).

use std::sync::{Arc, Mutex};

use multiproc_process::{Function, TaskReturn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::answers::Answers;
use crate::error::TaskError;
use crate::plan::{JobId, Place};
use crate::pool::Pool;
use crate::shell::Core;
use crate::sink::{Sink, outcome};
use crate::submit::submit_one;

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting in the pool's queue: it can still be cancelled without touching a worker.
    Pending,
    /// Handed to a worker, queued behind its current task: it has not started, and can
    /// still be cancelled (the worker gives it back).
    Dispatched,
    /// Started on a worker.
    Running,
}

type OnDone<R> = Box<dyn FnOnce(Result<R, TaskError>) + Send>;

/// Calls the task's callback once with its decoded outcome.
struct CallbackSink<R> {
    on_done: Mutex<Option<OnDone<R>>>,
}

impl<R> CallbackSink<R> {
    fn call(&self, value: Result<R, TaskError>) {
        let cb = self.on_done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(cb) = cb {
            cb(value);
        }
    }
}

impl<R: DeserializeOwned + Send> Sink for CallbackSink<R> {
    fn deliver(&self, _first: usize, answers: &mut Answers<'_>) {
        for value in answers {
            self.call(outcome::<R>(value));
        }
    }

    fn fail(&self, _index: usize, error: TaskError) {
        self.call(Err(error));
    }
}

/// A handle on one task submitted with [`Pool::submit_with`].
///
/// Dropping it does not cancel the task.
pub struct Task {
    core: Arc<Core>,
    job: JobId,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Task {{ state: {:?} }}", self.state())
    }
}

impl Task {
    /// Pending (queued), dispatched (at a worker, not started) or running (started). A
    /// finished task reports `Running`; its callback has run or is running.
    pub fn state(&self) -> TaskState {
        match self.core.place(self.job, 0) {
            (Place::Queued, _) => TaskState::Pending,
            (Place::Sent { seq, .. }, Some(control)) if control.progress().started <= seq => {
                TaskState::Dispatched
            }
            _ => TaskState::Running,
        }
    }

    /// Cancels the task if it has not started: queued, or handed to a worker that gives
    /// it back. Its callback then gets [`TaskError::Cancelled`]. True if it was cancelled;
    /// a running or finished task is not touched.
    pub fn cancel(&self) -> bool {
        self.core.cancel(self.job) > 0
    }

    /// The pid of the worker that holds the task (dispatched to it, or running on it), when
    /// that worker is a local process; `None` while it is queued and once it has ended.
    pub fn worker_pid(&self) -> Option<u32> {
        match self.core.place(self.job, 0) {
            (Place::Sent { .. }, Some(control)) => control.pid(),
            _ => None,
        }
    }

    /// Kills the worker running this task, if the task has started on it: the task fails
    /// (its worker died) and the worker is replaced; the tasks the worker had not started
    /// run elsewhere. True if the worker was killed. Beyond Python, which cannot stop a
    /// running task.
    pub fn kill(&self) -> bool {
        let (Place::Sent { seq, .. }, Some(control)) = self.core.place(self.job, 0) else {
            return false;
        };
        let p = control.progress();
        // Only if this very item is the one running now.
        if p.started == seq + 1 && p.finished < p.started {
            control.kill();
            true
        } else {
            false
        }
    }
}

impl Pool {
    /// Submits `f(arg)`; `on_done` gets its outcome once, on a pool thread (or at once,
    /// here, if the argument cannot be encoded or the pool is broken). Returns a handle to
    /// watch, cancel or kill it.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use multiproc::Pool;
    ///
    /// let pool = Pool::new(1)?;
    /// let (tx, rx) = mpsc::channel();
    /// let _task = pool.submit_with(|x: u32| x * 2, 21, move |r| tx.send(r).unwrap())?;
    /// assert_eq!(rx.recv()?, Ok(42));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_with<A, R, Via>(
        &self,
        f: fn(A) -> R,
        arg: A,
        on_done: impl FnOnce(Result<R::Value, TaskError>) + Send + 'static,
    ) -> Result<Task, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        self.submit_function_with(Function::new(f), arg, on_done)
    }

    /// [`submit_with`](Self::submit_with) of a [`Function`]: one made by
    /// [`StarFn::into_function`](multiproc_process::StarFn::into_function) runs a function
    /// of several arguments on a tuple of them.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use multiproc::{Pool, StarFn};
    ///
    /// let pool = Pool::new(1)?;
    /// let (tx, rx) = mpsc::channel();
    /// let add = (|a: u32, b: u32| a + b).into_function();
    /// let _task = pool.submit_function_with(add, (2, 3), move |r| tx.send(r).unwrap())?;
    /// assert_eq!(rx.recv()?, Ok(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_function_with<A, R, Via>(
        &self,
        f: Function<A, R>,
        arg: A,
        on_done: impl FnOnce(Result<R::Value, TaskError>) + Send + 'static,
    ) -> Result<Task, TaskError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: TaskReturn<Via>,
    {
        let core = self.default_calls().valid_core()?;
        let sink =
            Arc::new(CallbackSink::<R::Value> { on_done: Mutex::new(Some(Box::new(on_done))) });
        let job = submit_one(core, f.id::<Via>(), sink, &arg)?;
        Ok(Task { core: Arc::clone(core), job })
    }

    /// Cancels every task that has not started (queued, or at a worker that gives it
    /// back); running ones go on. For `shutdown(cancel_futures=True)`.
    ///
    /// ```
    /// use multiproc::{Pool, TaskError};
    ///
    /// let pool = Pool::new(1)?;
    /// let _busy = pool.apply_async(|s: u64| std::thread::sleep(std::time::Duration::from_secs(s)), 3600)?;
    /// let queued: Vec<_> = (0..3u8).map(|x| pool.apply_async(|x: u8| x, x)).collect::<Result<_, _>>()?;
    /// pool.cancel_pending();
    /// assert!(queued.into_iter().all(|r| r.get() == Err(TaskError::Cancelled)));
    /// pool.terminate();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_pending(&self) {
        self.core().cancel_all();
    }
}
