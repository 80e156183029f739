//! The watchdog thread of a pool with a per-task timeout: ticks the plan while a worker
//! holds items, so that an item past its timeout gets its worker killed.

use std::time::Duration;

use multiproc_process::monotonic_ns;

use super::Core;

impl Core {
    /// Ticks the plan every eighth of the timeout (at least every millisecond, at most
    /// every 20 ms) while a worker holds items; sleeps while none does. Ends when the pool
    /// stops.
    pub(super) fn watchdog(&self) {
        let Some(timeout) = self.settings.timeout else { return };
        let every = (timeout / 8).clamp(Duration::from_millis(1), Duration::from_millis(20));
        let mut st = self.lock();
        loop {
            // Every wake-up re-checks why it waits: a notification that came before the
            // wait began is not lost.
            while st.plan.wants_worker() && !st.plan.busy() {
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if !st.plan.wants_worker() {
                return;
            }
            let progress: Vec<_> =
                st.workers.iter().map(|w| w.as_ref().map(|h| h.control.progress())).collect();
            st.plan.on_tick(monotonic_ns(), |w| progress[w]);
            self.finish(st);
            st = self.lock();
            if st.plan.wants_worker() {
                st = self.changed.wait_timeout(st, every).unwrap_or_else(|e| e.into_inner()).0;
            }
        }
    }
}
