//! [`Task`]: one task submitted with a completion callback, and a handle to see where it
//! is, cancel it while it waits, or kill its worker while it runs — the building block of
//! futures (`multiproc-executor`).

use std::sync::{Arc, Mutex};

use multiproc_process::Function;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{PoolError, TaskError};
use crate::plan::{JobId, Place};
use crate::pool::Pool;
use crate::shell::Core;
use crate::sink::{Answers, Sink, outcome};
use crate::submit::submit_all;

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
    fn deliver(&self, _first: usize, answers: Answers<'_>) {
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
    pub fn submit_with<A, R>(
        &self,
        f: fn(A) -> R,
        arg: A,
        on_done: impl FnOnce(Result<R, TaskError>) + Send + 'static,
    ) -> Result<Task, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let core = self.core();
        if !core.accepting() {
            return Err(PoolError::NotRunning);
        }
        let sink = Arc::new(CallbackSink::<R> { on_done: Mutex::new(Some(Box::new(on_done))) });
        let job = core.add_job(Function::new(f).id(), sink.clone());
        let fail = |i: usize, e: TaskError| sink.fail(i, e);
        submit_all(core, job, 1, std::iter::once(arg), &fail);
        Ok(Task { core: Arc::clone(core), job })
    }

    /// Cancels every task that has not started (queued, or at a worker that gives it
    /// back); running ones go on. For `shutdown(cancel_futures=True)`.
    pub fn cancel_pending(&self) {
        self.core().cancel_all();
    }
}
