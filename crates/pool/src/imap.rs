//! [`IMap`]: the lazy iterator of `imap` and `imap_unordered`, which reads its input only
//! as its results are taken.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use multiproc_codec::FnId;
use multiproc_process::take_panic;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::chunk::{FRAME_TIME, LAZY_FRAME_ITEMS};
use crate::error::TaskError;
use crate::plan::JobId;
use crate::shell::Core;
use crate::sink::{Sink, Slot, Stream};
use crate::submit::{Input, submit};

/// The lazy iterator of [`Pool::imap`](crate::Pool::imap) and [`Pool::imap_unordered`](crate::Pool::imap_unordered): each item's result,
/// in order or as completed.
///
/// It reads its input only to keep a bounded number of items in flight, so an endless
/// input runs in bounded memory, and results wait for the consumer without piling up.
#[must_use = "an IMap does nothing unless iterated"]
pub struct IMap<A, R, I> {
    core: Arc<Core>,
    job: JobId,
    func: FnId,
    stream: Arc<Stream<R>>,
    /// Where the job's outcomes go: the stream, or a progress bar in front of it.
    sink: Arc<dyn Sink>,
    input: I,
    chunksize: usize,
    /// Items in the next frame (see [`frame_len`](Self::frame_len)).
    frame: usize,
    /// Items to keep in flight.
    window: usize,
    submitted: usize,
    yielded: usize,
    exhausted: bool,
    /// Results taken from the stream in one lock (filled slots), handed out one by one.
    ready: VecDeque<Slot<R>>,
    /// What ends the results once every item read was taken: the pool stopped taking work
    /// with input left unread (`NotRunning`), or the input panicked (`InputPanicked`).
    tail: Option<TaskError>,
    _arg: PhantomData<fn(A)>,
}

impl<A, R, I> std::fmt::Debug for IMap<A, R, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IMap {{ submitted: {}, yielded: {} }}", self.submitted, self.yielded)
    }
}

impl<A, R, I> IMap<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    /// A lazy job of `func` over `input`, in chunks of `chunksize`; results in input
    /// order when `ordered`, else as they complete. Its outcomes go to the sink `watch`
    /// makes of its stream.
    pub(crate) fn new(
        core: Arc<Core>,
        func: FnId,
        input: I,
        chunksize: usize,
        ordered: bool,
        watch: impl FnOnce(Arc<dyn Sink>) -> Arc<dyn Sink>,
    ) -> IMap<A, R, I> {
        let stream = Arc::new(Stream::new(ordered));
        let sink = watch(stream.clone());
        let job = core.add_job(func, Arc::clone(&sink));
        let window = chunksize.max(64) * 8 * core.processes();
        IMap {
            core,
            job,
            func,
            stream,
            sink,
            input,
            chunksize,
            frame: chunksize,
            window,
            submitted: 0,
            yielded: 0,
            exhausted: false,
            ready: VecDeque::new(),
            tail: None,
            _arg: PhantomData,
        }
    }

    /// Reads more input while fewer than the window's items are in flight. Once the pool
    /// stops taking work (`close`, `terminate`, an executor's `shutdown`), the input is
    /// no longer read: what is in flight completes, then one `NotRunning` error says the
    /// rest was never run. An input whose `next` panics is read no further: the results
    /// before it come first, then its `InputPanicked` error, then the end.
    fn refill(&mut self) {
        while !self.exhausted && self.submitted - self.yielded < self.window {
            if !self.core.accepting() {
                self.end_input();
                let left = catch_unwind(AssertUnwindSafe(|| self.input.next().is_some()));
                self.tail = left.is_ok_and(|left| left).then_some(TaskError::NotRunning);
                break;
            }
            let sink = &self.sink;
            let fail = |i: usize, e: TaskError| sink.fail(i, e);
            let frame = self.frame;
            let (read, input) = submit(
                &self.core,
                self.job,
                self.submitted,
                frame,
                self.chunksize,
                &mut self.input,
                &fail,
            );
            self.submitted += read;
            match input {
                Input::More => {}
                Input::Ended => self.end_input(),
                Input::Panicked(payload) => {
                    self.end_input();
                    self.tail = Some(TaskError::InputPanicked(take_panic(payload.as_ref())));
                }
            }
            // A frame at most doubles from one to the next: a job whose tasks turn slow
            // after quick ones has at most twice the last frame's items on one worker.
            self.frame = self.frame_len().min(2 * frame);
            // Enough in flight to keep every worker's window full, and no more.
            // Three frames per worker: two in its window, one being read by the caller.
            self.window = (self.chunksize.max(64) * 8).max(3 * self.frame) * self.core.processes();
        }
    }

    /// Items to encode into the next frame: whole chunks, as many as run in about
    /// [`FRAME_TIME`] at the pace the job's results showed so far, and at most
    /// [`LAZY_FRAME_ITEMS`] items; one chunk before any result, for slow tasks, and
    /// always with the default chunk size of 1.
    ///
    /// A chunk of quick tasks is over in microseconds, and a frame per chunk then costs
    /// more than the tasks (W2: a third of the throughput at 1000 items per chunk). Slow
    /// tasks keep a frame per chunk: their results stream back as they complete, and a
    /// worker never holds many of them while another is idle. A chunk size of 1 is how
    /// Python users ask for that balance whatever the tasks, so it is never merged.
    fn frame_len(&self) -> usize {
        if self.chunksize == 1 {
            return 1;
        }
        let per_chunk = self
            .core
            .pace(self.func)
            .map_or(u64::MAX, |ns| ns.saturating_mul(self.chunksize as u64));
        let by_time =
            usize::try_from(FRAME_TIME.as_nanos() as u64 / per_chunk).unwrap_or(usize::MAX);
        let by_count = LAZY_FRAME_ITEMS / self.chunksize;
        by_time.min(by_count).max(1) * self.chunksize
    }

    /// Every item of the input was read (or will never be).
    fn end_input(&mut self) {
        if !self.exhausted {
            self.exhausted = true;
            self.core.seal(self.job);
        }
    }

    /// Items read from the input whose results have not been taken yet.
    ///
    /// ```
    /// let pool = multiproc::Pool::new(2)?;
    /// let mut it = pool.imap(|x: u32| x, 0..3)?;
    /// assert_eq!(it.pending(), 0); // nothing is read before the first `next`
    /// assert_eq!(it.next(), Some(Ok(0)));
    /// assert_eq!(it.pending(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending(&self) -> usize {
        self.submitted - self.yielded
    }

    /// The next result, waiting at most `timeout`: the same answers as
    /// [`next`](Iterator::next), and `Some(Err(TaskError::WaitTimedOut))` when the wait
    /// ran out (the iterator stays usable). Python: `next(timeout)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiproc::{Pool, TaskError};
    ///
    /// let pool = Pool::new(1)?;
    /// let mut it = pool.imap(|s: u64| { std::thread::sleep(Duration::from_secs(s)); s }, [3600])?;
    /// assert_eq!(it.next_timeout(Duration::from_millis(10)), Some(Err(TaskError::WaitTimedOut)));
    /// # pool.terminate();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, TaskError>> {
        self.take(Some(Instant::now() + timeout))
    }

    /// The next result, waiting until `deadline` at most.
    fn take(&mut self, deadline: Option<Instant>) -> Option<Result<R, TaskError>> {
        self.refill();
        if self.exhausted && self.yielded == self.submitted {
            return self.tail.take().map(Err);
        }
        if self.ready.is_empty() && !self.stream.drain(&mut self.ready, deadline) {
            return Some(Err(TaskError::WaitTimedOut));
        }
        self.pop_ready()
    }

    /// Yields the first ready result.
    #[inline]
    fn pop_ready(&mut self) -> Option<Result<R, TaskError>> {
        self.yielded += 1;
        self.ready.pop_front().flatten().map(|r| r.map_err(|e| *e))
    }
}

impl<A, R, I> Drop for IMap<A, R, I> {
    /// An abandoned iterator cancels what it read and did not start: those items never
    /// start. Items already running finish and their results are dropped.
    fn drop(&mut self) {
        if !self.exhausted {
            self.exhausted = true;
            self.core.seal(self.job);
        }
        if !(self.yielded == self.submitted && self.tail.is_none()) {
            self.core.cancel(self.job);
        }
    }
}

impl<A, R, I> Iterator for IMap<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    type Item = Result<R, TaskError>;

    #[inline]
    fn next(&mut self) -> Option<Result<R, TaskError>> {
        // The common case, kept small enough to inline into the caller's loop: a result is
        // ready and the input needs no topping up.
        if !self.ready.is_empty()
            && (self.exhausted || self.submitted - self.yielded >= self.window)
        {
            return self.pop_ready();
        }
        self.take(None)
    }

    /// Exact when the input's length is known, as long as the pool takes work and the
    /// input does not panic: then every item read is one result, and the input's rest
    /// is one `NotRunning` or `InputPanicked` error (the hint shrinks accordingly).
    fn size_hint(&self) -> (usize, Option<usize>) {
        let held = self.submitted - self.yielded + usize::from(self.tail.is_some());
        if self.exhausted {
            return (held, Some(held));
        }
        let (low, high) = self.input.size_hint();
        (held.saturating_add(low), high.and_then(|h| h.checked_add(held)))
    }
}

/// With an input of known length, `imap` has a known length too (see
/// [`size_hint`](Iterator::size_hint)): progress bars such as indicatif's
/// `ProgressIterator` can show how far it is.
///
/// ```
/// let pool = multiproc::Pool::new(2)?;
/// let mut it = pool.imap(|x: u32| x * 2, 0..10)?;
/// assert_eq!(it.len(), 10);
/// it.next();
/// assert_eq!(it.len(), 9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<A, R, I> ExactSizeIterator for IMap<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: ExactSizeIterator<Item = A>,
{
}
