//! [`Answers`]: a run of one worker's answers, in the order of the items they answer —
//! read where they lie (the entries of a block in a worker's answer ring) or from a list.
//!
//! A block of a thousand quick answers goes from the ring to the sink that decodes it
//! without being copied or listed first: its entries are counted once when it is read,
//! and each is parsed as it is decoded.

use multiproc_codec::FailedItem;
use multiproc_process::answer;

use crate::backend::Answer;

/// A run of a worker's answers, in order: an iterator of [`Answer`]s that knows its
/// length.
///
/// ```
/// use multiproc::pool::{Answer, Answers};
/// use multiproc::process::answer::entry_header;
///
/// // A block of two entries: a value, then a failure (as a worker writes them).
/// let mut block = entry_header(1, false).to_vec();
/// block.push(7);
/// block.extend_from_slice(&entry_header(0, true));
/// let mut answers = Answers::entries(&block).expect("whole entries");
/// assert_eq!(answers.len(), 2);
/// let first: Vec<_> = answers.window(1, |first| first.collect());
/// assert!(matches!(first[..], [Answer::Value(&[7])]));
/// assert!(matches!(answers.collect::<Vec<_>>()[..], [Answer::Failed(_)]));
///
/// let listed = [Answer::Control(b"hello")];
/// assert!(Answers::list(&listed).has_control());
/// ```
#[derive(Debug, Clone)]
pub struct Answers<'a> {
    repr: Repr<'a>,
    len: usize,
}

#[derive(Debug, Clone)]
enum Repr<'a> {
    /// The entries of a block not read yet (see [`answer::next_entry`]).
    Entries(&'a [u8]),
    List(std::slice::Iter<'a, Answer<'a>>),
}

impl<'a> Answers<'a> {
    /// The answers in `answers`.
    pub fn list(answers: &'a [Answer<'a>]) -> Answers<'a> {
        Answers { repr: Repr::List(answers.iter()), len: answers.len() }
    }

    /// The answers in a block of entries; `None` unless it holds whole entries only.
    pub fn entries(block: &'a [u8]) -> Option<Answers<'a>> {
        let (mut rest, mut len) = (block, 0);
        while !rest.is_empty() {
            rest = answer::next_entry(rest)?.2;
            len += 1;
        }
        Some(Answers { repr: Repr::Entries(block), len })
    }

    /// Hands the next `n` answers to `f` as a run of their own (which `f` may leave
    /// unread), then moves past them: how a reader hands each job its part of a block
    /// without counting through the block twice.
    ///
    /// ```
    /// use multiproc::pool::{Answer, Answers};
    ///
    /// let listed = [Answer::Value(b"a"), Answer::Value(b"b"), Answer::Value(b"c")];
    /// let mut answers = Answers::list(&listed);
    /// assert_eq!(answers.window(2, |head| head.len()), 2);
    /// assert_eq!(answers.len(), 1);
    /// assert!(matches!(answers.next(), Some(Answer::Value(b"c"))));
    /// ```
    ///
    /// # Panics
    ///
    /// When `n` is above the number of answers.
    pub fn window<T>(&mut self, n: usize, f: impl FnOnce(&mut Answers<'a>) -> T) -> T {
        assert!(n <= self.len, "{n} answers of {}", self.len);
        let after = self.len - n;
        self.len = n;
        let out = f(self);
        while self.len > 0 && self.next().is_some() {}
        self.len = after;
        out
    }

    /// Whether one of them is a control frame (entries never are).
    pub fn has_control(&self) -> bool {
        match &self.repr {
            Repr::Entries(_) => false,
            Repr::List(list) => list.as_slice().iter().any(|a| matches!(a, Answer::Control(_))),
        }
    }
}

impl<'a> Iterator for Answers<'a> {
    type Item = Answer<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Answer<'a>> {
        if self.len == 0 {
            return None;
        }
        let answer = match &mut self.repr {
            Repr::Entries(rest) => {
                let (failed, bytes, next) = answer::next_entry(rest)?;
                *rest = next;
                match failed {
                    false => Answer::Value(bytes),
                    true => Answer::Failed(FailedItem::new(bytes)),
                }
            }
            Repr::List(list) => *list.next()?,
        };
        self.len -= 1;
        Some(answer)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len, Some(self.len))
    }
}

impl ExactSizeIterator for Answers<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(entries: &[(bool, Vec<u8>)]) -> Vec<u8> {
        let mut block = Vec::new();
        for (failed, bytes) in entries {
            block.extend_from_slice(&answer::entry_header(bytes.len(), *failed));
            block.extend_from_slice(bytes);
        }
        block
    }

    /// Each answer as it prints: the same bytes print the same.
    fn printed(answers: Answers<'_>) -> Vec<String> {
        answers.map(|a| format!("{a:?}")).collect()
    }

    fn expected(entries: &[(bool, Vec<u8>)]) -> Vec<String> {
        let answer = |(failed, bytes): &(bool, Vec<u8>)| match failed {
            false => format!("{:?}", Answer::Value(bytes)),
            true => format!("{:?}", Answer::Failed(FailedItem::new(bytes))),
        };
        entries.iter().map(answer).collect()
    }

    proptest! {
        /// Split anywhere, a block gives back its entries in order, each part with its
        /// exact length.
        #[test]
        fn a_block_splits_into_its_entries_in_order(
            entries in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..12)), 0..40),
            at in any::<prop::sample::Index>(),
        ) {
            let bytes = block(&entries);
            let mut answers = Answers::entries(&bytes).expect("whole entries");
            prop_assert_eq!(answers.len(), entries.len());
            let n = at.index(entries.len() + 1);
            let mut got = answers.window(n, |head| {
                assert_eq!(head.len(), n);
                head.map(|a| format!("{a:?}")).collect::<Vec<_>>()
            });
            prop_assert_eq!(answers.len(), entries.len() - n);
            got.extend(printed(answers));
            prop_assert_eq!(got, expected(&entries));
        }

        /// Windows of any sizes, each read partly or not at all, hand out the block's
        /// entries in order: each window its own, then the rest.
        #[test]
        fn windows_hand_out_the_entries_in_order(
            entries in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..12)), 0..40),
            cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..6),
        ) {
            let bytes = block(&entries);
            let mut answers = Answers::entries(&bytes).expect("whole entries");
            let expected = expected(&entries);
            let mut at = 0;
            for (size, read) in cuts {
                let n = size.index(answers.len() + 1);
                let k = read.index(n + 1);
                let got = answers.window(n, |w| {
                    assert_eq!(w.len(), n);
                    w.take(k).map(|a| format!("{a:?}")).collect::<Vec<_>>()
                });
                prop_assert_eq!(&got[..], &expected[at..at + k]);
                at += n;
                prop_assert_eq!(answers.len(), entries.len() - at);
            }
            prop_assert_eq!(printed(answers), expected[at..].to_vec());
        }

        /// A block cut short inside an entry is refused.
        #[test]
        fn a_block_cut_inside_an_entry_is_refused(
            entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..12), 1..20),
            cut in any::<prop::sample::Index>(),
        ) {
            let bytes = block(&entries.into_iter().map(|b| (false, b)).collect::<Vec<_>>());
            let mut ends = vec![0];
            let mut rest = &bytes[..];
            while let Some((_, _, next)) = answer::next_entry(rest) {
                ends.push(bytes.len() - next.len());
                rest = next;
            }
            let at = cut.index(bytes.len());
            prop_assert_eq!(Answers::entries(&bytes[..at]).is_some(), ends.contains(&at));
        }
    }
}
