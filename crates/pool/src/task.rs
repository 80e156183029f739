//! [`Task`]: one task submitted with a completion callback, and a handle to see where it
//! is, cancel it while it waits, or kill its worker while it runs — the building block of
//! futures (`multiproc-executor`).

use std::ops::Range;
use std::sync::{Arc, Mutex};

use multiproc_codec::{ResultFrame, What, encode};
use multiproc_process::Function;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{PoolError, TaskError};
use crate::pool::Pool;
use crate::scheduler::{Chunk, Core, Job, Sink, Watch};
use crate::sink::outcome;

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting in the pool's queue: it can still be cancelled without touching a worker.
    Pending,
    /// Handed to a worker, queued behind its current task: it can no longer be
    /// cancelled, and has not started.
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
    fn deliver(&self, _first: usize, results: &ResultFrame<'_>, at: Range<usize>) {
        for value in results.values(at) {
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
    job: Arc<Job>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Task {{ state: {:?} }}", self.state())
    }
}

impl Task {
    fn watch(&self) -> &Watch {
        self.job.watch.as_deref().expect("a task's job has a watch")
    }

    /// Pending (queued), dispatched (at a worker, not started) or running (started). A
    /// finished task reports its last state; its callback has run.
    pub fn state(&self) -> TaskState {
        let dispatched = self.watch().dispatched.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match dispatched {
            None => TaskState::Pending,
            Some((control, seq)) if control.progress().started > seq => TaskState::Running,
            Some(_) => TaskState::Dispatched,
        }
    }

    /// Removes the task from the queue if it is still there; its callback then gets
    /// [`TaskError::Cancelled`]. True if it was removed. A running task is not touched.
    pub fn cancel(&self) -> bool {
        self.core.cancel_queued(&self.job) > 0
    }

    /// Kills the worker running this task, if the task has started on it: the task fails
    /// (its worker died) and the worker is replaced; other tasks the worker held are run
    /// elsewhere. True if the worker was killed. Beyond Python, which cannot stop a
    /// running task.
    pub fn kill(&self) -> bool {
        let dispatched = self.watch().dispatched.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some((control, seq)) = dispatched else { return false };
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
        let mut job = Job::new(Function::new(f).id(), sink.clone());
        job.watch = Some(Arc::new(Watch::default()));
        let job = Arc::new(job);
        let mut fb = core.frame_buf();
        fb.begin_tasks(core.batch_id(), job.func);
        match fb.push_with(|buf| encode(&arg, What::Argument, buf)) {
            Ok(()) => core.submit(vec![Chunk::range(Arc::clone(&job), 0, 1, fb.finish_owned())]),
            Err(e) => sink.fail(0, TaskError::Encode(e)),
        }
        Ok(Task { core: Arc::clone(core), job })
    }

    /// Fails every queued task as cancelled; running ones go on. For
    /// `shutdown(cancel_futures=True)`.
    pub fn cancel_pending(&self) {
        self.core().cancel_all_queued();
    }
}
