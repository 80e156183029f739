//! [`Span`]: items of one job named by their indices, without their arguments — where a
//! run of answers goes, or which items a failure ends.

use super::run::{Encoded, Indices, JobId, Run};

/// Consecutive items of a run: `len` items of `job` from `indices`.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    pub job: JobId,
    pub indices: Indices,
    pub len: usize,
}

impl Span {
    /// The items of `run`.
    pub(crate) fn of<E: Encoded>(run: &Run<E>) -> Span {
        Span { job: run.job, indices: run.indices.clone(), len: run.len() }
    }

    /// Their job indices, in order.
    pub(crate) fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).map(|i| self.indices.at(i))
    }

    /// The index of the first item and whether the rest follow it without a gap, so that
    /// a sink can take the whole span as one range.
    pub(crate) fn contiguous(&self) -> Option<usize> {
        match &self.indices {
            Indices::From(first) => Some(*first),
            Indices::Listed(list, start) => {
                let items = &list[*start..*start + self.len];
                let first = *items.first()?;
                items.iter().enumerate().all(|(k, &i)| i == first + k).then_some(first)
            }
        }
    }
}
