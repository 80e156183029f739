//! [`Answers`]: a run of one worker's answers, in the order of the items they answer —
//! read where they lie (the entries of a block in a worker's answer ring) or from a list.
//!
//! A block of a thousand quick answers goes from the ring to the sink that decodes it
//! without being copied or listed first, nor read twice: the worker counted its entries
//! (a block says how many it holds), and each is parsed as it is decoded. That count is
//! the worker's word, checked as the entries are read: a count they do not bear out makes
//! the missing answers failures and the block not [`intact`](Answers::intact).

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
    /// An answer was missing or cut short (see [`counted`](Answers::counted)).
    garbled: bool,
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
        Answers { repr: Repr::List(answers.iter()), len: answers.len(), garbled: false }
    }

    /// The answers in a block of entries; `None` unless it holds whole entries only.
    pub fn entries(block: &'a [u8]) -> Option<Answers<'a>> {
        let (mut rest, mut len) = (block, 0);
        while !rest.is_empty() {
            rest = answer::next_entry(rest)?.2;
            len += 1;
        }
        Some(Answers::counted(block, len))
    }

    /// The answers in a block of entries that says it holds `count` of them, taken at its
    /// word: `count` answers, whatever the block holds. Where an entry is missing or cut
    /// short, the answer is a failure (an unreadable one) and the answers are no longer
    /// [`intact`](Self::intact); entries past `count` are left over, and neither are they.
    ///
    /// ```
    /// use multiproc::pool::{Answer, Answers};
    /// use multiproc::process::answer::entry_header;
    ///
    /// let mut block = entry_header(1, false).to_vec();
    /// block.push(7);
    /// // Says two: the second answer is missing.
    /// let mut answers = Answers::counted(&block, 2);
    /// assert!(matches!(answers.next(), Some(Answer::Value(&[7]))));
    /// assert!(matches!(answers.next(), Some(Answer::Failed(_))));
    /// assert!(answers.next().is_none() && !answers.intact());
    /// // Says one: all there.
    /// let mut answers = Answers::counted(&block, 1);
    /// assert_eq!(answers.by_ref().count(), 1);
    /// assert!(answers.intact());
    /// ```
    pub fn counted(block: &'a [u8], count: usize) -> Answers<'a> {
        Answers { repr: Repr::Entries(block), len: count, garbled: false }
    }

    /// Whether the answers read so far were whole and, once all are read, the block held
    /// no more than it said (always true of a list).
    pub fn intact(&self) -> bool {
        match &self.repr {
            Repr::Entries(rest) => !self.garbled && (self.len > 0 || rest.is_empty()),
            Repr::List(_) => true,
        }
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

    /// Hands the answers to `f` in order, for as long as it takes them (returns true);
    /// the answer it refuses is consumed all the same. The same answers as
    /// [`next`](Iterator::next) gives, read in one loop that keeps its place in the block
    /// at hand: how a sink decodes a run of answers.
    ///
    /// ```
    /// use multiproc::pool::{Answer, Answers};
    ///
    /// let listed = [Answer::Value(b"a"), Answer::Value(b"b"), Answer::Value(b"c")];
    /// let mut answers = Answers::list(&listed);
    /// let mut seen = 0;
    /// answers.each_while(|a| {
    ///     seen += 1;
    ///     !matches!(a, Answer::Value(b"b"))
    /// });
    /// assert_eq!((seen, answers.len()), (2, 1));
    /// ```
    #[inline(always)]
    pub fn each_while(&mut self, mut f: impl FnMut(Answer<'a>) -> bool) {
        let Repr::Entries(rest) = &mut self.repr else {
            return self.next_while(&mut f);
        };
        let (mut block, mut len) = (*rest, self.len);
        let mut refused = false;
        while len > 0 {
            let Some((failed, bytes, next)) = answer::next_entry(block) else { break };
            block = next;
            len -= 1;
            let answer = match failed {
                false => Answer::Value(bytes),
                true => Answer::Failed(FailedItem::new(bytes)),
            };
            if !f(answer) {
                refused = true;
                break;
            }
        }
        *rest = block;
        self.len = len;
        if !refused {
            // An entry is missing or cut short: `next` makes each answer left a failure.
            self.next_while(&mut f);
        }
    }

    /// [`each_while`](Self::each_while) through [`next`](Iterator::next).
    fn next_while(&mut self, f: &mut impl FnMut(Answer<'a>) -> bool) {
        for answer in self.by_ref() {
            if !f(answer) {
                return;
            }
        }
    }

    /// The answer where a counted block holds no whole entry: a failure that cannot be
    /// read (the rest of the block is dropped).
    #[cold]
    fn missing(&mut self) -> Answer<'a> {
        self.garbled = true;
        self.repr = Repr::Entries(&[]);
        Answer::Failed(FailedItem::new(&[]))
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
            Repr::Entries(rest) => match answer::next_entry(rest) {
                Some((failed, bytes, next)) => {
                    *rest = next;
                    match failed {
                        false => Answer::Value(bytes),
                        true => Answer::Failed(FailedItem::new(bytes)),
                    }
                }
                None => self.missing(),
            },
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

        /// Taken at its word, a block gives exactly as many answers as it says: its
        /// entries in order, then failures where they run out; intact once read only
        /// when it said the truth.
        #[test]
        fn a_counted_block_gives_as_many_answers_as_it_says(
            entries in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..12)), 0..40),
            count in 0usize..50,
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = block(&entries);
            // Sometimes cut short inside its last entries too.
            if count % 3 == 0 {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            let whole = Answers::entries(&bytes).map(|a| a.len());
            let mut answers = Answers::counted(&bytes, count);
            prop_assert_eq!(answers.len(), count);
            let got = answers.by_ref().map(|a| format!("{a:?}")).collect::<Vec<_>>();
            prop_assert_eq!(got.len(), count);
            let expected = expected(&entries);
            let good = got.iter().zip(&expected).take_while(|(g, e)| g == e).count();
            prop_assert!(got[good..].iter().all(|g| g.starts_with("Failed")), "{:?}", &got[good..]);
            prop_assert_eq!(answers.intact(), whole == Some(count));
        }

        /// Read with `each_while`, refusing now and then, a block (counted truly or not,
        /// cut short or not) gives the same answers as read with `next`, in order, and is
        /// as intact.
        #[test]
        fn each_while_gives_what_next_gives(
            entries in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..12)), 0..40),
            count in 0usize..50,
            cut in any::<prop::sample::Index>(),
            refusals in prop::collection::vec(0usize..8, 1..10),
        ) {
            let mut bytes = block(&entries);
            if count % 3 == 0 {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            let mut by_next = Answers::counted(&bytes, count);
            let want = by_next.by_ref().map(|a| format!("{a:?}")).collect::<Vec<_>>();
            let mut answers = Answers::counted(&bytes, count);
            let mut got = Vec::new();
            // Each round takes a few answers and refuses the next (which is consumed).
            for take in refusals.iter().cycle().take(count + 1) {
                let mut taken = 0;
                answers.each_while(|a| {
                    got.push(format!("{a:?}"));
                    taken += 1;
                    taken <= *take
                });
                prop_assert_eq!(answers.len(), count - got.len());
            }
            prop_assert_eq!(got, want);
            prop_assert_eq!(answers.intact(), by_next.intact());
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
