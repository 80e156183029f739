//! What a [`Future`](super::Future) shares with the pool thread that completes it: the
//! outcome, who waits for it (threads, wakers, multi-future waiters, callbacks), and the
//! task's handle.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

use multiproc_pool::{Task, TaskError};

/// Someone waiting on several futures at once (`as_completed`, `wait`).
pub(crate) struct Notify {
    pub done: Mutex<Vec<usize>>,
    pub cond: Condvar,
}

pub(crate) enum Outcome<R> {
    Waiting,
    Done(Result<R, TaskError>),
    /// `.await` or `into_result` moved the value out.
    Taken,
}

/// A done-callback: called with the future once it is done.
pub(crate) type DoneCallback<R> = Box<dyn FnOnce(&super::Future<R>) + Send>;

pub(crate) struct State<R> {
    pub outcome: Outcome<R>,
    pub cancelled: bool,
    /// `cancel_and_kill` is killing the worker: its death means "cancelled".
    pub killing: bool,
    pub callbacks: Vec<DoneCallback<R>>,
    pub wakers: Vec<Waker>,
    pub notify: Vec<(Arc<Notify>, usize)>,
}

pub(crate) struct Shared<R> {
    state: Mutex<State<R>>,
    cond: Condvar,
    task: Mutex<Option<Task>>,
}

/// What `complete` leaves the caller to do once the lock is released.
pub(crate) struct Wake<R> {
    callbacks: Vec<DoneCallback<R>>,
    wakers: Vec<Waker>,
    notify: Vec<(Arc<Notify>, usize)>,
}

impl<R> Shared<R> {
    pub(crate) fn new() -> Shared<R> {
        Shared {
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
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The task's handle, once submitted.
    pub(crate) fn task(&self) -> MutexGuard<'_, Option<Task>> {
        self.task.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the outcome (the first one only) and wakes the threads that wait; returns
    /// who else to tell, or `None` if the future was done already.
    pub(crate) fn complete(&self, outcome: Result<R, TaskError>) -> Option<Wake<R>> {
        let mut st = self.lock();
        if !matches!(st.outcome, Outcome::Waiting) {
            return None;
        }
        let outcome = match outcome {
            Err(TaskError::WorkerDied { .. }) if st.killing => Err(TaskError::Cancelled),
            other => other,
        };
        if matches!(outcome, Err(TaskError::Cancelled)) {
            st.cancelled = true;
        }
        st.outcome = Outcome::Done(outcome);
        self.cond.notify_all();
        Some(Wake {
            callbacks: std::mem::take(&mut st.callbacks),
            wakers: std::mem::take(&mut st.wakers),
            notify: std::mem::take(&mut st.notify),
        })
    }

    /// Waits until done or `deadline`; the state when done.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, State<R>>> {
        let mut st = self.lock();
        while matches!(st.outcome, Outcome::Waiting) {
            match deadline {
                None => st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    st = self.cond.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
        Some(st)
    }
}

impl<R> Wake<R> {
    /// Tells the multi-future waiters and the async tasks (callbacks are the caller's).
    pub(crate) fn wake(self) -> Vec<DoneCallback<R>> {
        for (n, index) in self.notify {
            n.done.lock().unwrap_or_else(|e| e.into_inner()).push(index);
            n.cond.notify_all();
        }
        for w in self.wakers {
            w.wake();
        }
        self.callbacks
    }
}
