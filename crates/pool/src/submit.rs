//! Reading a job's input into encoded runs: each item is encoded as it is read, into runs
//! of a bounded size that are queued as soon as they are full, so workers start at once.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use multiproc_codec::{ArgsBuf, CodecError, FRAME_LIMIT, FnId, TooLarge, What, encode};
use serde::Serialize;

use crate::chunk::{FRAME_BYTES, frame_items};
use crate::error::TaskError;
use crate::plan::{JobId, Run};
use crate::shell::Core;
use crate::sink::Sink;

/// How reading input ended.
#[derive(Debug)]
pub(crate) enum Input {
    /// It has more items.
    More,
    /// It ended.
    Ended,
    /// Its `next` panicked, with this payload (the item at the position where it did is
    /// not there).
    Panicked(Box<dyn Any + Send>),
}

/// Reads up to `count` items of `items` as items `first..` of `job` and queues them in
/// runs: of whole chunks of `chunksize` items cut in runs of at most [`frame_items`]
/// items and about [`FRAME_BYTES`]. Items that cannot be encoded (or encode larger than a
/// frame) fail through `fail` and are left out. Returns how many items were read and how
/// the input stands.
pub(crate) fn submit<A: Serialize>(
    core: &Core,
    job: JobId,
    first: usize,
    count: usize,
    chunksize: usize,
    items: &mut impl Iterator<Item = A>,
    fail: &dyn Fn(usize, TaskError),
) -> (usize, Input) {
    let per_run = frame_items(chunksize.max(1));
    // Runs are sized for the items the input says it holds (up to a run), or 1 Ki.
    let expected =
        |read: usize, hint: (usize, _)| per_run.min(count - read).min(hint.0.max(1 << 10));
    let mut read = 0;
    let mut run = RunBuf::new(job, first, per_run, expected(read, items.size_hint()));
    let input = loop {
        match run.fill(core, items, count - read, &mut read, fail) {
            Fill::Full => {
                run.submit(core);
                run = RunBuf::new(job, first + read, per_run, expected(read, items.size_hint()));
            }
            Fill::Room => {}
            Fill::Counted => break Input::More,
            Fill::Input(input) => break input,
        }
    };
    run.submit(core);
    (read, input)
}

/// Reads all of `items` (in chunks of `chunksize`) as items `0..` of `job`, then seals
/// it; returns how many items there were. A panic of the input's `next` cancels the job
/// and resumes in the caller (the caller's own iterator panicked on its own thread).
pub(crate) fn submit_all<A: Serialize>(
    core: &Core,
    job: JobId,
    chunksize: usize,
    mut items: impl Iterator<Item = A>,
    fail: &dyn Fn(usize, TaskError),
) -> usize {
    let (read, input) = submit(core, job, 0, usize::MAX, chunksize, &mut items, fail);
    core.seal(job);
    if let Input::Panicked(payload) = input {
        core.cancel(job);
        std::panic::resume_unwind(payload);
    }
    read
}

/// Queues the job of `func` on the one `item`, its outcome going to `sink`: encoded
/// first, then added, queued and sealed under one lock of the pool (see
/// [`Core::add_whole_job`]). An item that cannot be encoded, or is larger than a frame,
/// fails through `sink` as item 0. `Err(NotRunning)` when the pool takes no more work.
pub(crate) fn submit_one<A: Serialize>(
    core: &Core,
    func: FnId,
    sink: Arc<dyn Sink>,
    item: &A,
) -> Result<JobId, TaskError> {
    let mut buf = ArgsBuf::new();
    let failure = match buf.push_with(|out| encode(item, What::Argument, out)) {
        Ok(None) => return core.add_whole_job(func, sink, buf.finish()),
        Ok(Some(size)) => too_large(size),
        Err(e) => TaskError::Codec(e),
    };
    if !core.accepting() {
        return Err(TaskError::NotRunning);
    }
    let job = core.add_job(func, Arc::clone(&sink));
    sink.fail(0, failure);
    core.seal(job);
    Ok(job)
}

/// The error of an argument of `size` bytes, more than a frame holds.
fn too_large(size: u64) -> TaskError {
    TaskError::TooLarge(TooLarge { what: What::Argument, size, limit: FRAME_LIMIT })
}

/// How filling a run ended.
enum Fill {
    /// It is as long as a run may be.
    Full,
    /// As many items as asked for were read.
    Counted,
    /// Neither: it has room for more.
    Room,
    /// The input ended, or its `next` panicked.
    Input(Input),
}

/// The run being encoded.
struct RunBuf {
    job: JobId,
    buf: ArgsBuf,
    /// Job index of the run's first item.
    first: usize,
    /// Job indices of its items, once one of them failed and left a gap.
    listed: Option<Vec<usize>>,
    /// Items read into it (failed ones included).
    read: usize,
    per_run: usize,
    /// Items it is expected to hold, to size its buffers.
    expected: usize,
}

impl RunBuf {
    fn new(job: JobId, first: usize, per_run: usize, expected: usize) -> RunBuf {
        RunBuf { job, buf: ArgsBuf::new(), first, listed: None, read: 0, per_run, expected }
    }

    /// Reads items of `items` and encodes them into the run until it is full, `left` more
    /// were read (counted in `read`, the items read into the job so far), or the input
    /// ended or panicked. Items that cannot be encoded (or encode larger than a frame)
    /// fail through `fail` and are left out.
    ///
    /// The loop is the caller's per-item path: it is bounded by a count taken once, and
    /// an item that goes in plainly (the common case) costs its `next`, its encoding and
    /// one check of the run's size.
    #[inline(always)]
    fn fill<A: Serialize>(
        &mut self,
        core: &Core,
        items: &mut impl Iterator<Item = A>,
        left: usize,
        read: &mut usize,
        fail: &dyn Fn(usize, TaskError),
    ) -> Fill {
        if self.read == 0 {
            // Size the run up front (a generous guess per item beats regrowth).
            self.buf.reserve(self.expected, std::mem::size_of::<A>().clamp(1, 64));
        }
        let bound = (self.per_run - self.read).min(left);
        for _ in 0..bound {
            let item = match catch_unwind(AssertUnwindSafe(|| items.next())) {
                Ok(Some(item)) => item,
                Ok(None) => return Fill::Input(Input::Ended),
                Err(payload) => return Fill::Input(Input::Panicked(payload)),
            };
            let index = self.first + self.read;
            self.read += 1;
            *read += 1;
            match self.buf.push_within(FRAME_LIMIT, |out| encode(&item, What::Argument, out)) {
                Ok(None) if self.listed.is_none() => {}
                pushed => {
                    if let Err(e) = self.pushed(core, index, &item, pushed) {
                        fail(index, e);
                    }
                }
            }
            if self.buf.payload_len() >= FRAME_BYTES as u64 {
                return Fill::Full;
            }
        }
        if bound == left {
            Fill::Counted
        } else if self.read >= self.per_run {
            Fill::Full
        } else {
            // An item that did not fit started a new run on the way: it has room left.
            Fill::Room
        }
    }

    /// Item `index`, just read, was pushed as `pushed` says, other than plainly: it did not
    /// fit the run (it starts the next one), or failed (`Err`: it is left out), or an
    /// earlier item of the run did (its index is listed).
    #[cold]
    #[inline(never)]
    fn pushed<A: Serialize>(
        &mut self,
        core: &Core,
        index: usize,
        item: &A,
        pushed: Result<Option<u64>, CodecError>,
    ) -> Result<(), TaskError> {
        let pushed = match pushed {
            Ok(None) => Ok(()),
            Ok(Some(size)) if size > FRAME_LIMIT => Err(too_large(size)),
            Ok(Some(_)) => {
                // It fits a frame alone: the run so far goes, the item starts the next.
                self.read -= 1;
                self.submit(core);
                *self = RunBuf::new(self.job, index, self.per_run, self.expected);
                self.read = 1;
                match self.buf.push_with(|out| encode(item, What::Argument, out)) {
                    Ok(None) => Ok(()),
                    Ok(Some(size)) => Err(too_large(size)),
                    Err(e) => Err(TaskError::Codec(e)),
                }
            }
            Err(e) => Err(TaskError::Codec(e)),
        };
        match pushed {
            Ok(()) => {
                if let Some(list) = &mut self.listed {
                    list.push(index);
                }
                Ok(())
            }
            Err(e) => {
                self.listed.get_or_insert_with(|| (self.first..index).collect());
                Err(e)
            }
        }
    }

    /// Queues the run (if it holds any item) and leaves it empty.
    fn submit(&mut self, core: &Core) {
        if self.buf.is_empty() {
            return;
        }
        let args = self.buf.finish();
        let run = match self.listed.take() {
            None => Run::new(self.job, self.first, args),
            Some(list) => Run::listed(self.job, Arc::from(list), args),
        };
        core.submit(run);
    }
}
