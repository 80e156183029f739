//! [`BatchRun`]: one task batch being run by a worker — claiming its items so that the
//! parent can take back those not started, reporting progress around each item, and
//! writing each item's answer.
//!
//! # Claims
//!
//! A pool worker shares one word with its parent, the *claim*: an epoch (high 16 bits) and
//! how many items the worker has claimed (low 48 bits). Every item sent to the worker has
//! a sequence number, and every task frame is stamped with its epoch and the sequence
//! number of its first item. The worker starts an item only after claiming it with a
//! compare-and-swap from `(epoch, seq)` to `(epoch, seq + 1)`; the parent takes back what
//! has not started by bumping the epoch with a compare-and-swap of its own, which tells it
//! atomically how many items were claimed. A frame of another epoch was sent before a
//! take-back and is skipped whole; an item whose claim fails was taken back under the
//! worker's feet, and so is the rest of its frame. Either way the worker says so (with the
//! claim it found taken), so that the parent can tell a take-back of its own from a claim
//! word written over by a task, which would otherwise leave items waiting for ever.
//!
//! A compare-and-swap costs about 10 ns, as much as a quick item. So a frame of quick
//! items (not *revocable*) is claimed whole when the worker starts it; only frames of
//! items long enough for the cost to be noise are claimed item by item.

use std::sync::atomic::{AtomicU64, Ordering};

use multiproc_codec::{RemoteFailure, TaskFrame};
use multiproc_ipc::SharedWords;

use crate::answers::Answers;
use crate::limits::{self, Watch};
use crate::protocol::progress::{self, pack_claim, unpack_claim};
use crate::sys;

/// How long a worker may take to write up a panicked item (resolve its backtrace: up to a
/// few hundred milliseconds the first time in a process) before the item's timeout clock
/// runs again: the report is not the task's own time, but it is bounded.
pub(crate) const REPORT_GRACE_NS: u64 = 10_000_000_000;

/// The progress words (see [`progress`]), looked up once per batch: an item costs two
/// plain stores (and a compare-and-swap when claimed alone).
#[derive(Clone, Copy)]
pub(crate) struct ProgressWords<'a> {
    started: &'a AtomicU64,
    finished: &'a AtomicU64,
    started_at_ns: &'a AtomicU64,
    claim: &'a AtomicU64,
    failed: &'a AtomicU64,
}

impl<'a> ProgressWords<'a> {
    pub(crate) fn new(words: &'a SharedWords) -> ProgressWords<'a> {
        ProgressWords {
            started: words.word(progress::STARTED),
            finished: words.word(progress::FINISHED),
            started_at_ns: words.word(progress::STARTED_AT_NS),
            claim: words.word(progress::CLAIM),
            failed: words.word(progress::FAILED),
        }
    }
}

impl ProgressWords<'_> {
    /// The worker's item `started` (counting from its first) starts, at this time if
    /// `stamp`.
    #[inline(always)]
    fn begin(&self, started: u64, stamp: bool) {
        if stamp {
            self.started_at_ns.store(sys::monotonic_ns(), Ordering::Release);
        }
        self.started.store(started, Ordering::Release);
    }
}

/// The items a worker has started, and the progress words that say so around each item:
/// what every item of a batch updates, kept apart so that a batch run back to back holds
/// it in a local (see [`BatchRun::run_plain`]).
#[derive(Clone, Copy)]
pub(crate) struct Counter<'a> {
    progress: Option<ProgressWords<'a>>,
    stamp: bool,
    /// Items started by this worker so far.
    started: u64,
}

impl Counter<'_> {
    /// The next item starts.
    #[inline(always)]
    pub(crate) fn begin(&mut self) {
        self.started += 1;
        if let Some(p) = self.progress {
            p.begin(self.started, self.stamp);
        }
    }

    /// The current item ended: its answer is written.
    #[inline(always)]
    pub(crate) fn end(&self) {
        if let Some(p) = self.progress {
            p.finished.store(self.started, Ordering::Release);
        }
    }

    /// Restarts the current item's timeout clock `grace_ns` from now: the time until then
    /// does not count (see [`REPORT_GRACE_NS`]).
    pub(crate) fn restart_clock(&self, grace_ns: u64) {
        if let (Some(p), true) = (self.progress, self.stamp) {
            p.started_at_ns.store(sys::monotonic_ns() + grace_ns, Ordering::Release);
        }
    }
}

/// How the items of a batch are claimed.
#[derive(Debug, Clone, Copy)]
enum Claim {
    /// Nothing to claim (a `Process`, an MPI rank), or claimed whole already.
    Done,
    /// One by one: the claim word holds `(epoch, next)` while the next item is ours.
    Each { epoch: u16, next: u64 },
}

/// A batch being run: its items, where answers go, and the progress words to update
/// around every item.
pub(crate) struct BatchRun<'a> {
    pub items: TaskFrame<'a>,
    pub out: Answers<'a>,
    counter: Counter<'a>,
    /// The last item failure, kept for a `Process` to report.
    pub last_failure: Option<RemoteFailure>,
    claim: Claim,
    /// The claim found taken when an item of the batch was to start, if one was: the
    /// rest of the batch was skipped (the worker tells the parent: see
    /// [`Control::Skipped`](multiproc_codec::Control::Skipped)).
    pub skipped: Option<u64>,
    /// This process's limits, when it has any (see `limits`).
    watch: Option<&'static Watch>,
}

impl<'a> BatchRun<'a> {
    /// A run of `items`, claimed as their frame says when `progress` has a claim word.
    /// `None` if the frame was taken back before it started (it is skipped whole).
    pub(crate) fn new(
        items: TaskFrame<'a>,
        out: Answers<'a>,
        progress: Option<ProgressWords<'a>>,
        stamp: bool,
        started: u64,
    ) -> Option<BatchRun<'a>> {
        let claim = match progress {
            None => Claim::Done,
            Some(p) => {
                let (epoch, first) = unpack_claim(items.batch());
                let current = pack_claim(epoch, first);
                if p.claim.load(Ordering::Acquire) != current {
                    return None;
                }
                if items.revocable() {
                    Claim::Each { epoch, next: first }
                } else {
                    let all = pack_claim(epoch, first + items.len() as u64);
                    p.claim
                        .compare_exchange(current, all, Ordering::AcqRel, Ordering::Acquire)
                        .ok()?;
                    Claim::Done
                }
            }
        };
        let watch = limits::watch();
        Some(BatchRun {
            items,
            out,
            counter: Counter { progress, stamp, started },
            last_failure: None,
            claim,
            skipped: None,
            watch,
        })
    }

    /// Claims and starts the next item: false if it was taken back (then so was the rest
    /// of the batch, and nothing more is run).
    #[inline]
    pub(crate) fn begin_item(&mut self) -> bool {
        if let (Claim::Each { epoch, next }, Some(p)) = (&mut self.claim, self.counter.progress) {
            let (from, to) = (pack_claim(*epoch, *next), pack_claim(*epoch, *next + 1));
            if p.claim.compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire).is_err() {
                self.skipped = Some(from);
                return false;
            }
            *next += 1;
        }
        self.counter.begin();
        if let Some(watch) = self.watch {
            begin_watched(watch);
        }
        true
    }

    /// The current item's function returned (or panicked, or was not called); its answer
    /// comes next. Every [`begin_item`](Self::begin_item) that succeeds is followed by it.
    #[inline]
    pub(crate) fn returned(&mut self) {
        if let Some(watch) = self.watch {
            returned_watched(watch);
        }
    }

    #[inline]
    pub(crate) fn end_item(&mut self) {
        self.counter.end();
    }

    /// Restarts the current item's timeout clock (see [`Counter::restart_clock`]).
    pub(crate) fn restart_clock(&mut self, grace_ns: u64) {
        self.counter.restart_clock(grace_ns);
    }

    /// Items started by this worker so far.
    pub(crate) fn started(&self) -> u64 {
        self.counter.started
    }

    /// Runs items back to back while they go plainly, when the batch allows it: claimed
    /// whole, under no limits, its answers written in place (see
    /// [`Answers::values_in_place`]). `run` gets the counter of started items (to count
    /// each item it takes, and restart the clock of one that panicked) and the room for
    /// the next value; it returns the value's length, or `None` to stop. False when the
    /// batch cannot be run so (then `run` was not called): the caller runs its items one
    /// by one.
    ///
    /// An item `run` started but did not answer is the caller's to finish, with
    /// [`end_item`](Self::end_item) after its answer or [`fail_item`](Self::fail_item).
    #[inline(always)]
    pub(crate) fn run_plain(
        &mut self,
        mut run: impl FnMut(&mut Counter<'a>, &mut [u8]) -> Option<usize>,
    ) -> bool {
        if !matches!(self.claim, Claim::Done) || self.watch.is_some() {
            return false;
        }
        let mut counter = self.counter;
        let in_place = self.out.values_in_place(|room| {
            let len = run(&mut counter, room)?;
            counter.end();
            Some(len)
        });
        self.counter = counter;
        in_place
    }

    /// Fails every item of the batch with `failure` (nothing is called).
    pub(crate) fn fail_all(&mut self, failure: RemoteFailure) {
        for _ in 0..self.items.len() {
            if !self.begin_item() {
                break;
            }
            // Nothing is called: the limits' watch that `begin_item` started ends at once
            // (a CPU timer left armed would fire while the worker waits for work).
            self.returned();
            self.count_failure();
            self.out.failure(&failure);
            self.end_item();
        }
        self.last_failure = Some(failure);
    }

    pub(crate) fn fail_item(&mut self, failure: RemoteFailure) {
        self.count_failure();
        let failure = match self.watch {
            Some(watch) => watch.failed(failure),
            None => failure,
        };
        self.out.failure(&failure);
        self.last_failure = Some(failure);
    }

    /// Counts a failed item in the progress words, before its answer is written.
    fn count_failure(&self) {
        if let Some(p) = self.counter.progress {
            p.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A task starts under limits: out of line, so that a worker without limits (the common
/// case) keeps its per-item loop tight (measured: the inlined calls cost W1 about 12% of
/// the worker's time).
#[cold]
#[inline(never)]
fn begin_watched(watch: &Watch) {
    watch.begin();
}

/// A task under limits returned (see [`begin_watched`]).
#[cold]
#[inline(never)]
fn returned_watched(watch: &Watch) {
    watch.returned();
}
