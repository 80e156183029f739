//! [`Queue`]: the runs waiting for a worker, and how the next batch is cut from them.

use std::collections::VecDeque;

use multiproc_codec::FnId;

use super::pace::Paces;
use super::run::{Encoded, JobId, Run};

/// Small runs of a quick function are merged into one batch up to this many bytes of
/// arguments (the frame stays a few hundred KiB).
pub(crate) const MERGE_BYTES: usize = 256 << 10;

/// A batch holds at most this many items: at a quick function's pace, a batch is about a
/// millisecond of work, but a pace misjudged low (it is measured from the parent) would
/// otherwise make batches of tens of thousands of items, which the other workers wait for
/// at the end of a job.
pub(crate) const MAX_ITEMS: usize = 16 << 10;

/// A queued run and the function its items call.
#[derive(Debug, Clone)]
pub(crate) struct Queued<E> {
    pub func: FnId,
    pub run: Run<E>,
}

/// Runs waiting for a worker, oldest first.
#[derive(Debug)]
pub(crate) struct Queue<E> {
    runs: VecDeque<Queued<E>>,
    /// Items in all runs.
    items: usize,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue { runs: VecDeque::new(), items: 0 }
    }
}

/// What bounds the next batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Workers that share the queue.
    pub workers: usize,
    /// Items the worker may still run (`max_tasks_per_child`).
    pub quota: Option<u64>,
}

impl<E: Encoded> Queue<E> {
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Items queued.
    #[cfg(test)]
    pub(crate) fn items(&self) -> usize {
        self.items
    }

    /// The function of the next batch.
    pub(crate) fn head_func(&self) -> Option<FnId> {
        self.runs.front().map(|q| q.func)
    }

    /// Appends a new run.
    pub(crate) fn push_back(&mut self, queued: Queued<E>) {
        self.items += queued.run.len();
        self.runs.push_back(queued);
    }

    /// Puts runs taken back from a worker at the front, in their order: they were
    /// submitted before anything still queued.
    pub(crate) fn push_front(&mut self, runs: Vec<Queued<E>>) {
        for queued in runs.into_iter().rev() {
            self.items += queued.run.len();
            self.runs.push_front(queued);
        }
    }

    /// Removes every run of `job`.
    pub(crate) fn remove_job(&mut self, job: JobId) -> Vec<Run<E>> {
        let (gone, kept): (Vec<_>, Vec<_>) = self.runs.drain(..).partition(|q| q.run.job == job);
        self.runs = kept.into();
        self.items -= gone.iter().map(|q| q.run.len()).sum::<usize>();
        gone.into_iter().map(|q| q.run).collect()
    }

    /// Removes every run.
    pub(crate) fn drain(&mut self) -> Vec<Run<E>> {
        self.items = 0;
        self.runs.drain(..).map(|q| q.run).collect()
    }

    /// Whether a run of `job` is queued.
    pub(crate) fn holds(&self, job: JobId) -> bool {
        self.runs.iter().any(|q| q.run.job == job)
    }

    /// Cuts the next batch from the front of the queue: runs of one function, in order.
    ///
    /// - At most a fair share of what is queued (every worker gets some of a short queue).
    /// - A function whose pace is known: about [`QUICK_NS`](super::pace::QUICK_NS) of
    ///   work, merging its consecutive small runs (up to [`MERGE_BYTES`]); a slow one, one
    ///   item per batch (a worker never holds a slow item that another could be running).
    /// - A function not seen yet: its first run, up to the fair share; it is taken back
    ///   item by item if it turns out slow.
    /// - Never more than the worker's quota.
    pub(crate) fn take(&mut self, paces: &Paces, limits: Limits) -> Option<(FnId, Vec<Run<E>>)> {
        let func = self.head_func()?;
        let share = self.items.div_ceil(limits.workers.max(1)).max(1);
        let known = paces.get(func).is_some();
        // About QUICK_NS of work (at most MAX_ITEMS), or a fair share of a short queue.
        let mut limit =
            if known { paces.quick_items(func).min(MAX_ITEMS).min(share) } else { share };
        if let Some(quota) = limits.quota {
            limit = limit.min(usize::try_from(quota.max(1)).unwrap_or(usize::MAX));
        }
        let mut runs = Vec::new();
        let (mut items, mut bytes) = (0, 0);
        while let Some(next) = self.runs.front_mut() {
            let fits = runs.is_empty()
                || (known && next.func == func && bytes + next.run.args.bytes() <= MERGE_BYTES);
            if !fits || items == limit {
                break;
            }
            let room = limit - items;
            let run = if next.run.len() > room {
                let tail = next.run.split_off(room);
                std::mem::replace(&mut next.run, tail)
            } else {
                self.runs.pop_front().expect("the front run exists").run
            };
            items += run.len();
            bytes += run.args.bytes();
            runs.push(run);
        }
        self.items -= items;
        Some((func, runs))
    }
}
