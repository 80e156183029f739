//! The clock thread: ticks the plan when time alone must change something — a per-task
//! timeout (every so often while a worker holds items, so that an item past its timeout
//! gets its worker killed) or a take-back the plan asked for ([`Plan::poll_timeout`]).
//!
//! [`Plan::poll_timeout`]: crate::plan::Plan::poll_timeout

use std::time::Duration;

use multiproc_process::monotonic_ns;

use super::Core;

/// The shortest wait between two ticks, so that a tick that leaves a deadline in the past
/// cannot make the clock spin.
const MIN_WAIT: Duration = Duration::from_micros(50);

impl Core {
    /// Ticks every eighth of the timeout (at least every millisecond, at most every
    /// 20 ms) while a worker holds items, and when the plan's next deadline comes; sleeps
    /// while there is neither. Ends when the pool stops.
    pub(super) fn clock(&self) {
        let every = self
            .settings
            .timeout
            .map(|t| (t / 8).clamp(Duration::from_millis(1), Duration::from_millis(20)));
        let mut st = self.lock();
        loop {
            if !st.plan.wants_worker() {
                return;
            }
            let timing = every.filter(|_| st.plan.busy());
            let due = st.plan.poll_timeout();
            let now = monotonic_ns();
            if timing.is_none() && due.is_none() {
                // Every wake-up re-checks why it waits: a notification that came before
                // the wait began is not lost.
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            if timing.is_some() || due.is_some_and(|at| at <= now) {
                let progress: Vec<_> = match timing {
                    Some(_) => st
                        .workers
                        .iter()
                        .map(|w| w.as_ref().map(|h| h.control.progress()))
                        .collect(),
                    None => Vec::new(),
                };
                st.plan.on_tick(now, |w| progress.get(w).copied().flatten());
                self.finish(st);
                st = self.lock();
            }
            let until_due = st
                .plan
                .poll_timeout()
                .map(|at| Duration::from_nanos(at.saturating_sub(monotonic_ns())));
            let wait = match (every.filter(|_| st.plan.busy()), until_due) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(Duration::MAX),
            };
            if wait == Duration::MAX {
                continue;
            }
            st = self
                .changed
                .wait_timeout(st, wait.max(MIN_WAIT))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
