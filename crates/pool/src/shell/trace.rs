//! The pool's `tracing` spans and events (cargo feature `tracing`): a worker's start and
//! initializer, its exit and replacement, kills (task timeouts, `terminate`), and the
//! pool's `close`, `terminate` and `join`. Each names the pool and, for a worker, its
//! slot, pid and name. None is on the path of items: only the events of workers and of
//! the pool. Without the feature every function here is empty.

#[cfg(feature = "tracing")]
use tracing::field::Empty;

use crate::backend::WorkerControl;
use crate::error::TaskError;
use crate::plan::{Ended, Startup};
use multiproc_process::ExitStatus;

/// Entered while a worker starts (and initializes); leaves it when dropped.
#[must_use]
pub(super) struct Entered {
    #[cfg(feature = "tracing")]
    span: tracing::span::EnteredSpan,
}

/// The span of a worker's start in `slot` (its pid and name recorded once known).
pub(super) fn starting(pool: u64, slot: usize) -> Entered {
    #[cfg(not(feature = "tracing"))]
    let _ = (pool, slot);
    Entered {
        #[cfg(feature = "tracing")]
        span: tracing::info_span!("worker_start", pool, slot, pid = Empty, worker = Empty)
            .entered(),
    }
}

impl Entered {
    /// Records the started worker's pid and name in the span.
    pub(super) fn identify(&self, control: &dyn WorkerControl) {
        #[cfg(feature = "tracing")]
        if !self.span.is_disabled() {
            self.span.record("pid", control.pid());
            self.span.record("worker", tracing::field::display(control.describe()));
        }
        #[cfg(not(feature = "tracing"))]
        let _ = control;
    }
}

/// The span of an initializer run on `control`'s worker.
pub(super) fn initializer(pool: u64, slot: usize, control: &dyn WorkerControl) -> Entered {
    #[cfg(not(feature = "tracing"))]
    let _ = (pool, slot, control);
    Entered {
        #[cfg(feature = "tracing")]
        span: tracing::info_span!(
            "initializer",
            pool,
            slot,
            pid = control.pid(),
            worker = %control.describe()
        )
        .entered(),
    }
}

/// A worker is ready for work.
pub(super) fn started(pool: u64, slot: usize, control: &dyn WorkerControl, startup: Startup) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        pool,
        slot,
        pid = control.pid(),
        worker = %control.describe(),
        startup_us = startup.startup_ns / 1_000,
        initializer_us = startup.init_ns / 1_000,
        "worker started"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (pool, slot, control, startup);
}

/// A worker could not be started or initialized.
pub(super) fn start_failed(pool: u64, slot: usize, error: &TaskError) {
    #[cfg(feature = "tracing")]
    tracing::warn!(pool, slot, error = %error, "worker failed to start");
    #[cfg(not(feature = "tracing"))]
    let _ = (pool, slot, error);
}

/// A worker ended; `ended` says whether it is replaced and why.
pub(super) fn exited(
    pool: u64,
    slot: usize,
    control: &dyn WorkerControl,
    status: Option<ExitStatus>,
    ended: Ended,
) {
    #[cfg(feature = "tracing")]
    {
        let status = status.map(tracing::field::display);
        let pid = control.pid();
        match ended.cause {
            Some(cause) => tracing::warn!(
                pool,
                slot,
                pid,
                worker = %control.describe(),
                status,
                cause = %cause,
                replaced = ended.restart,
                "worker exited"
            ),
            None => tracing::info!(
                pool,
                slot,
                pid,
                worker = %control.describe(),
                status,
                "worker exited"
            ),
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (pool, slot, control, status, ended);
}

/// The pool kills a worker: a task of it ran past the timeout, or the pool terminates.
pub(super) fn killing(pool: u64, control: &dyn WorkerControl, timed_out: bool) {
    #[cfg(feature = "tracing")]
    if timed_out {
        tracing::warn!(pool, pid = control.pid(), worker = %control.describe(), "task timed out: killing its worker");
    } else {
        tracing::debug!(pool, pid = control.pid(), worker = %control.describe(), "killing worker");
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (pool, control, timed_out);
}

/// The pool was closed, terminated or joined (`what`).
pub(super) fn pool(pool: u64, what: &'static str) {
    #[cfg(feature = "tracing")]
    tracing::info!(pool, "pool {what}");
    #[cfg(not(feature = "tracing"))]
    let _ = (pool, what);
}
