//! [`Span`]: items of one job named by their indices, without their arguments — where a
//! run of answers goes, or which items a failure ends.

use super::run::{Encoded, Indices, JobId, Run};
use crate::backend::ItemRange;

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

    /// Its items as ranges of consecutive indices, in order.
    pub(crate) fn into_ranges(self) -> impl Iterator<Item = ItemRange> {
        let Span { job, indices, len } = self;
        let mut k = 0;
        std::iter::from_fn(move || {
            if k == len {
                return None;
            }
            let start = indices.at(k);
            let mut end = start + 1;
            k += 1;
            while k < len && indices.at(k) == end {
                end += 1;
                k += 1;
            }
            Some(ItemRange { job: job.0, start, end })
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_items_in_order() {
        let listed: std::sync::Arc<[usize]> = [0, 3, 4, 5, 9, 10, 2].into();
        let span = Span { job: JobId(7), indices: Indices::Listed(listed, 1), len: 6 };
        let ranges: Vec<(usize, usize)> =
            span.clone().into_ranges().map(|r| (r.start, r.end)).collect();
        assert_eq!(ranges, [(3, 6), (9, 11), (2, 3)]);
        assert!(span.into_ranges().all(|r| r.job == 7));
        let from = Span { job: JobId(1), indices: Indices::From(40), len: 40 };
        assert_eq!(
            from.into_ranges().collect::<Vec<_>>(),
            [ItemRange { job: 1, start: 40, end: 80 }]
        );
    }
}
