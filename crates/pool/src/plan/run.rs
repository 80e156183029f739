//! [`Run`]: consecutive queued items of one job, with their encoded arguments; slicing a
//! run is how the plan splits, re-queues and takes back work without touching bytes.

use std::ops::Range;
use std::sync::Arc;

/// The encoded arguments of a run of items, as the plan sees them: a length, a size and
/// slices. The pool's implementation is bytes plus an offset table shared by its slices
/// (`multiproc_codec::Args`); the plan's tests use a bare count.
pub(crate) trait Encoded: Clone {
    /// Number of items.
    fn len(&self) -> usize;
    /// Bytes of encoded arguments.
    fn bytes(&self) -> usize;
    /// Items `range` (relative to this run), sharing the same storage.
    fn slice(&self, range: Range<usize>) -> Self;
}

/// A job of the pool: one call of `map`, `imap`, `apply`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct JobId(pub u64);

/// Which items of its job a run holds: consecutive indices, or a listed few (a job whose
/// input had items that could not be encoded, which were failed at once and left out).
#[derive(Debug, Clone)]
pub(crate) enum Indices {
    From(usize),
    Listed(Arc<[usize]>, usize),
}

impl Indices {
    /// The job index of the run's item `i`.
    pub(crate) fn at(&self, i: usize) -> usize {
        match self {
            Indices::From(first) => first + i,
            Indices::Listed(list, start) => list[start + i],
        }
    }

    /// The indices from the run's item `i` on.
    fn skip(&self, i: usize) -> Indices {
        match self {
            Indices::From(first) => Indices::From(first + i),
            Indices::Listed(list, start) => Indices::Listed(Arc::clone(list), start + i),
        }
    }
}

/// Items of one job, in order, with their encoded arguments.
#[derive(Debug, Clone)]
pub(crate) struct Run<E> {
    pub job: JobId,
    pub indices: Indices,
    pub args: E,
}

impl<E: Encoded> Run<E> {
    /// Items `first..first + args.len()` of `job`.
    pub(crate) fn new(job: JobId, first: usize, args: E) -> Run<E> {
        Run { job, indices: Indices::From(first), args }
    }

    /// The items of `job` whose indices are `listed`, in that order.
    pub(crate) fn listed(job: JobId, listed: Arc<[usize]>, args: E) -> Run<E> {
        debug_assert_eq!(listed.len(), args.len());
        Run { job, indices: Indices::Listed(listed, 0), args }
    }

    pub(crate) fn len(&self) -> usize {
        self.args.len()
    }

    /// Items `range` of this run.
    pub(crate) fn slice(&self, range: Range<usize>) -> Run<E> {
        Run { job: self.job, indices: self.indices.skip(range.start), args: self.args.slice(range) }
    }

    /// Cuts this run after `at` items: this keeps the head, the tail is returned.
    pub(crate) fn split_off(&mut self, at: usize) -> Run<E> {
        let tail = self.slice(at..self.len());
        *self = self.slice(0..at);
        tail
    }

    /// The job indices of its items, in order.
    pub(crate) fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len()).map(|i| self.indices.at(i))
    }
}

impl Encoded for multiproc_codec::Args {
    fn len(&self) -> usize {
        multiproc_codec::Args::len(self)
    }

    fn bytes(&self) -> usize {
        usize::try_from(multiproc_codec::Args::bytes(self)).unwrap_or(usize::MAX)
    }

    fn slice(&self, range: Range<usize>) -> Self {
        multiproc_codec::Args::slice(self, range)
    }
}
