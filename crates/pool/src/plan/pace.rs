//! [`Paces`]: how long each function's items take, as the plan has seen them, and what
//! that makes of a batch: quick (prefetched, merged, claimed whole) or not (one at a time
//! per worker, taken back item by item).

use super::IdMap;

use multiproc_codec::FnId;

/// A batch predicted to run at most this long is *quick*: a worker may hold a second one
/// behind it, and small runs of its function are merged up to this much work. A wrong
/// prediction makes the queued batch wait at most for the item that ran long, and it can
/// still be taken back while it has not started.
pub(crate) const QUICK_NS: u64 = 1_000_000;

/// Items at least this long are claimed one by one by the worker (an atomic operation
/// each, ~10 ns: at most 1% at this length), so that the items of their batch that have
/// not started can be taken back one by one. Quicker items are claimed a batch at a time,
/// unless the batch is small (see [`SMALL_BATCH`]).
pub(crate) const REVOCABLE_NS: u64 = 1_000;

/// Batches of at most this many items are always claimed item by item (at most ~640 ns a
/// batch): a wrong guess of their pace then costs no idle worker.
pub(crate) const SMALL_BATCH: usize = 64;

/// Nanoseconds per item of each function, from its latest batch (unknown before one).
#[derive(Debug, Default)]
pub(crate) struct Paces {
    per_item: IdMap<FnId, u64>,
}

impl Paces {
    /// Records that a batch of `items` items of `func` ran for `elapsed_ns`.
    pub(crate) fn record(&mut self, func: FnId, items: usize, elapsed_ns: u64) {
        let per_item = (elapsed_ns / items.max(1) as u64).max(1);
        self.per_item.insert(func, per_item);
    }

    /// Nanoseconds per item of `func`, once seen.
    pub(crate) fn get(&self, func: FnId) -> Option<u64> {
        self.per_item.get(&func).copied()
    }

    /// Whether `items` items of `func` are known to run within [`QUICK_NS`].
    pub(crate) fn quick(&self, func: FnId, items: usize) -> bool {
        self.get(func).is_some_and(|ns| ns.saturating_mul(items as u64) <= QUICK_NS)
    }

    /// How many items of `func` make about [`QUICK_NS`] of work (1 if unknown).
    pub(crate) fn quick_items(&self, func: FnId) -> usize {
        self.get(func).map_or(1, |ns| usize::try_from(QUICK_NS / ns).unwrap_or(usize::MAX).max(1))
    }

    /// Whether a batch of `items` items of `func` should let its unstarted items be taken
    /// back one by one.
    pub(crate) fn revocable(&self, func: FnId, items: usize) -> bool {
        items <= SMALL_BATCH || self.get(func).is_none_or(|ns| ns >= REVOCABLE_NS)
    }
}
