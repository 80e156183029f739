//! The typed edge of results: sinks that decode a job's results as they arrive —
//! [`Collect`] for `map`/`apply` (one value when all are in) and [`Stream`] for `imap`.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use multiproc_codec::{FailedItem, What, decode};
use multiproc_ipc::{SPIN, spin};
use serde::de::DeserializeOwned;

use crate::answers::Answers;
use crate::backend::Answer;
use crate::error::TaskError;

/// Where a job's outcomes go: implemented by the typed edges. Called with no pool lock
/// held, from reader threads or the submitting thread.
pub(crate) trait Sink: Send + Sync {
    /// Delivers the answers of this job's items `first..first + answers.len()`, in order.
    /// One call per run of answers, so that the sink decodes a whole run in one loop.
    fn deliver(&self, first: usize, answers: &mut Answers<'_>);

    /// Fails item `index` of this job (the item never produced an answer).
    fn fail(&self, index: usize, error: TaskError);
}

/// The outcome of one result: its value decoded, or its failure.
#[inline(always)]
pub(crate) fn outcome<R: DeserializeOwned>(answer: Answer<'_>) -> Result<R, TaskError> {
    match answer {
        Answer::Value(bytes) => decode(bytes, What::Result).map_err(TaskError::Codec),
        Answer::Failed(failed) => Err(TaskError::from(failed.failure())),
        // The reader hands sinks no control frame.
        Answer::Control(bytes) => Err(TaskError::from(FailedItem::new(bytes).failure())),
    }
}

/// The values of a job of `len` items, gathered as runs of consecutive items (each
/// decoded in one piece) arrive: appended to the values of items `0..`, or set aside
/// until the items before them are in. Results mostly arrive in order, so the job's
/// vector grows as they come instead of being assembled after the last one.
pub(crate) struct Runs<R> {
    /// The values of items `0..values.len()`.
    values: Vec<R>,
    /// Runs that arrived ahead of `values`: `(index of the first, values)`.
    ahead: Vec<(usize, Vec<R>)>,
    /// The job's number of items: expected while its input is read, then known.
    len: usize,
    /// `values` is out, being appended to by one deliverer without the lock.
    out: bool,
}

impl<R> Runs<R> {
    fn new(len: usize) -> Runs<R> {
        Runs { values: Vec::new(), ahead: Vec::new(), len, out: false }
    }

    /// Adds the values of items `first..first + run.len()`.
    fn add(&mut self, first: usize, mut run: Vec<R>) {
        if run.is_empty() {
            return;
        }
        if !self.comes_next(first) {
            self.ahead.push((first, run));
            return;
        }
        self.size_for_all();
        self.values.append(&mut run);
        self.settle();
    }

    /// Whether values from item `first` on go straight onto the job's vector: they come
    /// next, and no one has the vector out.
    fn comes_next(&self, first: usize) -> bool {
        first == self.values.len() && !self.out
    }

    /// Sizes the job's vector for all of its items, the first time.
    fn size_for_all(&mut self) {
        if self.values.capacity() == 0 {
            self.values.reserve_exact(self.len);
            multiproc_process::advise_huge_pages(self.values.spare_capacity_mut());
        }
    }

    /// Takes the job's vector out to append the values of items from `first` on to it
    /// directly, if they come next (and no one else has it out): see [`put_back`].
    fn take_out(&mut self, first: usize) -> Option<Vec<R>> {
        if !self.comes_next(first) {
            return None;
        }
        self.out = true;
        self.size_for_all();
        Some(std::mem::take(&mut self.values))
    }

    /// Puts back the vector [`take_out`] gave.
    fn put_back(&mut self, values: Vec<R>) {
        self.values = values;
        self.out = false;
        self.settle();
    }

    /// Appends the runs set aside that now follow the job's vector.
    fn settle(&mut self) {
        while let Some(i) = self.ahead.iter().position(|(first, _)| *first == self.values.len()) {
            self.values.append(&mut self.ahead.swap_remove(i).1);
        }
    }

    /// Every value in index order, when every item has one.
    fn concat(mut self) -> Vec<R> {
        self.ahead.sort_unstable_by_key(|(first, _)| *first);
        for (_, mut run) in self.ahead {
            self.values.append(&mut run);
        }
        self.values
    }
}

/// Turns the per-item results of a job into its one outcome.
pub(crate) type Finish<R, T> = fn(Runs<R>, Vec<(usize, TaskError)>) -> Result<T, TaskError>;

/// All values in order, or the failure of the lowest index.
pub(crate) fn all_or_first_error<R>(
    values: Runs<R>,
    mut errors: Vec<(usize, TaskError)>,
) -> Result<Vec<R>, TaskError> {
    if !errors.is_empty() {
        errors.sort_by_key(|(i, _)| *i);
        return Err(errors.swap_remove(0).1);
    }
    Ok(values.concat())
}

/// Every item's own outcome, in order.
pub(crate) fn each<R>(
    values: Runs<R>,
    errors: Vec<(usize, TaskError)>,
) -> Result<Vec<Result<R, TaskError>>, TaskError> {
    let mut out: Vec<Result<R, TaskError>> =
        (0..values.len).map(|_| Err(TaskError::Cancelled)).collect();
    for (first, run) in std::iter::once((0, values.values)).chain(values.ahead) {
        for (slot, value) in out[first..].iter_mut().zip(run) {
            *slot = Ok(value);
        }
    }
    for (i, e) in errors {
        out[i] = Err(e);
    }
    Ok(out)
}

/// The single value of a one-item job.
pub(crate) fn single<R>(values: Runs<R>, errors: Vec<(usize, TaskError)>) -> Result<R, TaskError> {
    all_or_first_error(values, errors).map(|mut v| v.pop().expect("one item"))
}

type Callback<T> = Box<dyn FnOnce(&T) + Send>;

struct Collected<R, T> {
    values: Runs<R>,
    errors: Vec<(usize, TaskError)>,
    /// Items with an outcome so far.
    done: usize,
    /// The job's number of items, once its input has been read to the end.
    sealed: Option<usize>,
    outcome: Option<Result<T, TaskError>>,
    /// The outcome was taken; whether it was a success.
    taken: Option<bool>,
    on_success: Vec<Callback<T>>,
    on_error: Vec<Callback<TaskError>>,
}

/// Collects a job's results; when the last arrives, computes the job's outcome, runs the
/// callbacks, then wakes the waiters.
///
/// Results may arrive while the job's input is still being read: the job is complete
/// once [`seal`](Self::seal) has said how many items it has and they all have outcomes.
pub(crate) struct Collect<R, T> {
    state: Mutex<Collected<R, T>>,
    ready: Condvar,
    /// Set once the outcome is in: lets a waiter spin briefly without the lock.
    done: AtomicBool,
    finish: Finish<R, T>,
}

fn run_callback<V>(cb: Box<dyn FnOnce(&V) + Send>, value: &V) {
    // A panicking callback must not stop the others or poison the pool's threads.
    if catch_unwind(AssertUnwindSafe(|| cb(value))).is_err() {
        eprintln!("multiproc: a result callback panicked");
    }
}

impl<R, T> Collect<R, T> {
    /// A collector for a job of about `expected` items (a capacity hint), open until
    /// [`seal`](Self::seal)ed.
    pub(crate) fn new(expected: usize, finish: Finish<R, T>) -> Collect<R, T> {
        Collect {
            state: Mutex::new(Collected {
                values: Runs::new(expected),
                errors: Vec::new(),
                done: 0,
                sealed: None,
                outcome: None,
                taken: None,
                on_success: Vec::new(),
                on_error: Vec::new(),
            }),
            ready: Condvar::new(),
            done: AtomicBool::new(false),
            finish,
        }
    }

    /// Says that the job has `len` items (all of its input was read and submitted).
    pub(crate) fn seal(&self, len: usize) {
        let mut st = self.lock();
        st.sealed = Some(len);
        st.values.len = len;
        self.complete_if_done(&mut st);
    }

    /// Completes the job if every item of a sealed job has its outcome.
    fn complete_if_done(&self, st: &mut Collected<R, T>) {
        if st.sealed == Some(st.done) && st.outcome.is_none() && st.taken.is_none() {
            self.complete(st);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Collected<R, T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn complete(&self, st: &mut Collected<R, T>) {
        let values = std::mem::replace(&mut st.values, Runs::new(0));
        let errors = std::mem::take(&mut st.errors);
        let outcome = (self.finish)(values, errors);
        match &outcome {
            Ok(v) => st.on_success.drain(..).for_each(|cb| run_callback(cb, v)),
            Err(e) => st.on_error.drain(..).for_each(|cb| run_callback(cb, e)),
        }
        st.on_success.clear();
        st.on_error.clear();
        st.outcome = Some(outcome);
        self.done.store(true, Ordering::Release);
        self.ready.notify_all();
    }

    pub(crate) fn is_ready(&self) -> bool {
        let st = self.lock();
        st.outcome.is_some() || st.taken.is_some()
    }

    /// Whether the job succeeded, once ready (also after its outcome was taken).
    pub(crate) fn successful(&self) -> Option<bool> {
        let st = self.lock();
        st.outcome.as_ref().map(Result::is_ok).or(st.taken)
    }

    /// Waits until ready or `deadline`; true if ready.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        // A quick task's result is usually in within tens of microseconds: poll the flag
        // briefly before sleeping on the condition variable, while that pays.
        spin(SPIN, deadline, || self.done.load(Ordering::Acquire).then_some(()));
        let mut st = self.lock();
        while st.outcome.is_none() && st.taken.is_none() {
            match deadline {
                None => st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    st = self.ready.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
        true
    }

    /// Takes the outcome (once ready); `None` if an earlier call took it.
    pub(crate) fn take(&self) -> Option<Result<T, TaskError>> {
        let mut st = self.lock();
        let out = st.outcome.take();
        if let Some(outcome) = &out {
            st.taken = Some(outcome.is_ok());
        }
        out
    }

    pub(crate) fn on_success(&self, cb: Callback<T>) {
        let mut st = self.lock();
        match &st.outcome {
            Some(Ok(v)) => run_callback(cb, v),
            Some(Err(_)) => {}
            None if st.taken.is_none() => st.on_success.push(cb),
            None => {}
        }
    }

    pub(crate) fn on_error(&self, cb: Callback<TaskError>) {
        let mut st = self.lock();
        match &st.outcome {
            Some(Err(e)) => run_callback(cb, e),
            Some(Ok(_)) => {}
            None if st.taken.is_none() => st.on_error.push(cb),
            None => {}
        }
    }
}

impl<R: DeserializeOwned + Send, T: Send> Sink for Collect<R, T> {
    fn deliver(&self, first: usize, answers: &mut Answers<'_>) {
        // Decoded without the lock, so that the readers of several workers decode at the
        // same time: straight onto the job's vector when the values come next in order
        // (the vector is taken out meanwhile), else into a run set aside. A failed item
        // ends a run of values; the next run starts after.
        let n = answers.len();
        let mut runs = Vec::new();
        let mut errors = Vec::new();
        let vector = self.lock().values.take_out(first);
        let in_order = vector.is_some();
        let mut run = (first, vector.unwrap_or_else(|| Vec::with_capacity(n)));
        let mut index = first;
        loop {
            // Values up to the next failure, in one loop over the answers.
            let mut failed = None;
            let before = run.1.len();
            answers.each_while(|answer| match outcome::<R>(answer) {
                Ok(value) => {
                    run.1.push(value);
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            });
            index += run.1.len() - before;
            let Some(e) = failed else { break };
            errors.push((index, e));
            index += 1;
            end_run(&mut run, &mut runs, index);
        }
        let mut st = self.lock();
        let mut runs = runs.into_iter().chain([run]);
        if in_order {
            let (_, vector) = runs.next().expect("the vector's run comes first");
            st.values.put_back(vector);
        }
        for (first, values) in runs {
            st.values.add(first, values);
        }
        st.errors.append(&mut errors);
        st.done += n;
        self.complete_if_done(&mut st);
    }

    /// Records an outcome computed elsewhere (an argument that failed to encode, a
    /// worker that died).
    fn fail(&self, index: usize, error: TaskError) {
        let mut st = self.lock();
        st.errors.push((index, error));
        st.done += 1;
        self.complete_if_done(&mut st);
    }
}

/// Closes the run of values at a failed item: the next run starts at `next`. The run is
/// kept even when empty: the first may be the job's vector, taken out.
#[cold]
fn end_run<R>(run: &mut (usize, Vec<R>), runs: &mut Vec<(usize, Vec<R>)>, next: usize) {
    runs.push(std::mem::replace(run, (next, Vec::new())));
}

/// One result of a lazy job; the error is boxed so a queued value stays small.
pub(crate) type Item<R> = Result<R, Box<TaskError>>;

/// Where a result waits for the taker: `None` until it arrives (in order).
pub(crate) type Slot<R> = Option<Item<R>>;

struct Streamed<R> {
    /// Results not taken yet. In order, slot `i` is item `base + i`; else arrival order
    /// (all filled). A run of filled slots changes hands by swapping whole deques.
    slots: VecDeque<Slot<R>>,
    base: usize,
    /// The taker sleeps on `ready` (only then does a delivery wake it).
    waiting: bool,
}

/// Buffers a lazy job's results until the iterator takes them.
pub(crate) struct Stream<R> {
    state: Mutex<Streamed<R>>,
    ready: Condvar,
    /// Deliveries so far: lets the taker poll briefly without the lock before it sleeps.
    deliveries: AtomicUsize,
    ordered: bool,
}

impl<R> Stream<R> {
    pub(crate) fn new(ordered: bool) -> Stream<R> {
        Stream {
            state: Mutex::new(Streamed { slots: VecDeque::new(), base: 0, waiting: false }),
            ready: Condvar::new(),
            deliveries: AtomicUsize::new(0),
            ordered,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Streamed<R>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the results of items `first..`, in order, then wakes the taker if it sleeps.
    fn put(&self, first: usize, values: impl ExactSizeIterator<Item = Item<R>>) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if self.ordered {
            let (at, n) = (first - st.base, values.len());
            if st.slots.len() < at + n {
                st.slots.resize_with(at + n, || None);
            }
            for (slot, value) in st.slots.range_mut(at..at + n).zip(values) {
                *slot = Some(value);
            }
        } else {
            st.slots.extend(values.map(Some));
        }
        self.deliveries.fetch_add(1, Ordering::Release);
        if st.waiting {
            self.ready.notify_all();
        }
    }

    /// Moves every result that is ready for the taker (in order: the filled prefix; else
    /// all) into `into`, as filled slots, waiting until `deadline` for at least one.
    /// False on timeout.
    pub(crate) fn drain(&self, into: &mut VecDeque<Slot<R>>, deadline: Option<Instant>) -> bool {
        let mut st = self.lock();
        let mut polled = false;
        loop {
            let ready = match self.ordered {
                true => st.slots.iter().position(Option::is_none).unwrap_or(st.slots.len()),
                false => st.slots.len(),
            };
            if ready == st.slots.len() && into.is_empty() {
                std::mem::swap(&mut st.slots, into);
            } else {
                into.extend(st.slots.drain(..ready));
            }
            st.base += ready;
            if !into.is_empty() {
                st.waiting = false;
                return true;
            }
            if !polled {
                // The next results are usually a few microseconds away: poll for them
                // before sleeping (a sleep and a wake-up per batch cost more).
                polled = true;
                let seen = self.deliveries.load(Ordering::Acquire);
                drop(st);
                spin(SPIN, deadline, || {
                    (self.deliveries.load(Ordering::Acquire) != seen).then_some(())
                });
                st = self.lock();
                continue;
            }
            st.waiting = true;
            match deadline {
                None => st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        st.waiting = false;
                        return false;
                    }
                    st = self.ready.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
    }
}

impl<R: DeserializeOwned + Send> Sink for Stream<R> {
    fn deliver(&self, first: usize, answers: &mut Answers<'_>) {
        self.put(first, answers.map(|value| outcome::<R>(value).map_err(Box::new)));
    }

    /// Records an outcome computed elsewhere (an argument that failed to encode, a
    /// worker that died).
    fn fail(&self, index: usize, error: TaskError) {
        self.put(index, std::iter::once(Err(Box::new(error))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use multiproc_codec::{RemoteFailure, encode};
    use proptest::prelude::*;

    /// Item `i`'s answer: the value `i * 10`, or a failure for the items in `failed`.
    fn answer_bytes(i: usize, failed: &[usize]) -> (bool, Vec<u8>) {
        let mut bytes = Vec::new();
        if failed.contains(&i) {
            encode(&RemoteFailure::Error(format!("item {i}")), What::Result, &mut bytes).unwrap();
            (true, bytes)
        } else {
            encode(&(i as u64 * 10), What::Result, &mut bytes).unwrap();
            (false, bytes)
        }
    }

    proptest! {
        /// Runs of a job's answers delivered in any order, some of them failures, and the
        /// job's vector sometimes out (taken by one deliverer while the others add theirs):
        /// every item ends with its own outcome, in order.
        #[test]
        fn runs_in_any_order_give_every_item_its_own_outcome(
            n in 1usize..60,
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
            order in any::<prop::sample::Index>(),
            failed in prop::collection::vec(0usize..60, 0..4),
            hold in any::<bool>(),
        ) {
            let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(n)).filter(|&c| c > 0).collect();
            ends.push(n);
            ends.sort_unstable();
            ends.dedup();
            let mut starts = vec![0];
            starts.extend(&ends[..ends.len() - 1]);
            let mut spans: Vec<(usize, usize)> = starts.into_iter().zip(ends).collect();
            let k = spans.len();
            spans.rotate_left(order.index(k));
            let collect: Collect<u64, Vec<Result<u64, TaskError>>> = Collect::new(n, each);
            // Optionally, someone holds the job's vector out while the others deliver.
            let held = hold.then(|| collect.lock().values.take_out(0)).flatten();
            for (from, to) in spans {
                let owned: Vec<(bool, Vec<u8>)> = (from..to).map(|i| answer_bytes(i, &failed)).collect();
                let listed: Vec<Answer<'_>> = owned
                    .iter()
                    .map(|(f, b)| if *f { Answer::Failed(FailedItem::new(b)) } else { Answer::Value(b) })
                    .collect();
                collect.deliver(from, &mut Answers::list(&listed));
            }
            if let Some(vector) = held {
                collect.lock().values.put_back(vector);
            }
            collect.seal(n);
            prop_assert!(collect.wait(None));
            let got = collect.take().expect("the outcome").expect("each item's own");
            prop_assert_eq!(got.len(), n);
            for (i, outcome) in got.iter().enumerate() {
                match outcome {
                    Ok(v) => prop_assert!(!failed.contains(&i) && *v == i as u64 * 10, "{i}: {outcome:?}"),
                    Err(_) => prop_assert!(failed.contains(&i), "{i}: {outcome:?}"),
                }
            }
        }
    }
}
