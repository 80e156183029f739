//! A worker lost: what its death means for the items it held. The item it was running
//! fails (as timed out, or over a limit, if that is why it died), the items it answered
//! were delivered, and those it had not started go to the next worker, uncharged.

use multiproc_process::ExitStatus;

use super::ledger::Closed;
use super::slot::Phase;
use super::{Encoded, Ended, Plan};
use crate::backend::Progress;
use crate::error::TaskError;
use crate::insights::RestartCause;

impl<E: Encoded> Plan<E> {
    /// The worker in slot `worker` broke the protocol (an answer that is none, garbage
    /// in its ring): it is killed and [`on_lost`](Self::on_lost) follows, which then
    /// blames the item it was running whatever its progress words say.
    pub(crate) fn on_broken(&mut self, worker: usize, incarnation: u64) {
        let slot = &mut self.slots[worker];
        if slot.incarnation == incarnation {
            slot.broke = true;
        }
    }

    /// The worker in slot `worker` is gone, with `progress` as it last reported it; every
    /// answer it sent was taken first. The item it was running fails (as timed out if it
    /// was killed for that), the items it had not started are queued again. Says whether
    /// to start a replacement, and why the worker is replaced.
    pub(crate) fn on_lost(
        &mut self,
        worker: usize,
        incarnation: u64,
        progress: Progress,
        status: Option<ExitStatus>,
        name: &str,
        now: u64,
    ) -> Ended {
        let slot = &mut self.slots[worker];
        if slot.incarnation != incarnation {
            return Ended { restart: false, cause: None };
        }
        let cause = match (slot.timed_out, slot.phase, progress.limit) {
            _ if self.terminated || self.stopping => None,
            (Some(_), _, _) => Some(RestartCause::TimedOut),
            (None, _, Some((limit, _))) => Some(RestartCause::LimitExceeded(limit)),
            (None, Phase::Retiring, None) if slot.asked_to_retire => Some(RestartCause::Recycled),
            (None, Phase::Retiring, None) => Some(RestartCause::MaxTasks),
            (None, _, None) => Some(RestartCause::Died(status)),
        };
        // A worker that broke the protocol may have had its words written over too.
        let trusted = !(slot.broke || slot.halted);
        let mut closed = Closed {
            working_ns: slot.working_until(now),
            answered: slot.received,
            lost: 0,
            failed: progress.failed.filter(|_| trusted),
            busy_ns: progress.busy_ns.filter(|_| trusted),
            cause,
        };
        slot.working_ns = 0;
        slot.phase = Phase::Down;
        slot.revoking = false;
        if self.terminated {
            slot.in_flight.clear();
            self.ledger.closed(worker, now, closed);
            return Ended { restart: false, cause: None };
        }
        let (received, next) = (slot.received, slot.next_seq);
        // What the worker says it started, within what it was sent; a worker that broke
        // the protocol was running its first unanswered item at least (its progress words
        // are as untrustworthy as its answers: had they said "nothing started", that item
        // would go to the next worker, and break it too, for ever). A worker that said it
        // stopped right after its last answer (halted) had started nothing more.
        let floor = if slot.broke { (received + 1).min(next) } else { received };
        let started = if slot.halted { received } else { progress.started.clamp(floor, next) };
        let timed_out = slot.timed_out.take();
        let progressed = slot.progressed;
        let unstarted = slot.take_from(started);
        let mut ran = slot.take_from(received);
        closed.lost = ran.iter().map(|(_, run)| run.len() as u64).sum();
        self.ledger.closed(worker, now, closed);
        // The last item started is the one it died running; any before it should have
        // been answered (a worker whose answers went missing): they ran, so they fail too.
        if let Some((_, last)) = ran.last_mut() {
            let culprit = last.split_off(last.len() - 1);
            let configured = |(limit, observed)| {
                let configured = self.settings.limits.configured(limit)?;
                Some(TaskError::LimitExceeded { limit, configured, observed })
            };
            let error = match (timed_out, self.settings.timeout_ns) {
                (Some(seq), Some(after)) if seq == started - 1 => TaskError::TimedOut {
                    worker: name.to_string(),
                    after: std::time::Duration::from_nanos(after),
                },
                // The worker said, as it died, which of its limits the task ran into.
                _ => progress
                    .limit
                    .and_then(configured)
                    .unwrap_or_else(|| TaskError::WorkerDied { worker: name.to_string(), status }),
            };
            for (_, run) in &ran {
                if run.len() > 0 {
                    self.fail(run, TaskError::WorkerDied { worker: name.to_string(), status });
                }
            }
            self.fail(&culprit, error);
        }
        self.requeue(unstarted);
        if started == received && !progressed {
            // It died before running anything: as good as a failed start.
            let why = match status {
                Some(s) => format!("workers exit before running any task ({s})"),
                None => "workers exit before running any task".to_string(),
            };
            if !self.start_failed(TaskError::StartFailed(why)) {
                // The slot gave up (or the pool broke): the other workers take what it
                // held and had not started.
                self.pump(now);
                return Ended { restart: false, cause };
            }
        }
        self.pump(now);
        Ended { restart: !(self.stopping || self.terminated || self.broken.is_some()), cause }
    }
}
