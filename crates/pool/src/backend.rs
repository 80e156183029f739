//! The scheduler's view of workers: a small trait, so that another kind of worker (ranks
//! of an MPI job) can plug in without touching the pool's API.
//!
//! A backend starts workers; each worker is reached through a frame sender, a frame
//! receiver and a control handle. Frames are the opaque bytes of `multiproc-codec`; the
//! worker on the other side runs the worker loop of `multiproc-process` (or its twin).

use std::sync::Arc;

use multiproc_codec::{FailedItem, Frame, Limit, SharedFrame, parse};
use multiproc_process::ExitStatus;

use crate::answers::Answers;

/// The worker is gone (its channel closed or broke).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

/// Sends frames to one worker.
///
/// A send must not wait for the worker to read: the threads that send also read other
/// workers' answers, and a worker that waits for its answers to be read would never read
/// its frames. (The local backend's frames above a few KiB go through shared memory, and
/// the scheduler never lets more than a few frames pile up unread.)
pub trait FrameSender: Send + Sync {
    /// Sends one frame, given as parts whose concatenation is the frame (a header, the
    /// arguments where they were encoded, an offset table): a transport copies them once,
    /// straight to where they go.
    fn send(&self, parts: &[&[u8]]) -> Result<(), Lost>;

    /// Sends a task batch's frame, as [`send`](Self::send) does; `items` says which items
    /// of which jobs it holds, for a backend that reports them (the MPI backend's
    /// journal). By default, `items` is not looked at.
    fn send_tasks(&self, parts: &[&[u8]], items: &[ItemRange]) -> Result<(), Lost> {
        let _ = items;
        self.send(parts)
    }
}

/// Consecutive items of one job: indices `start..end` of the pool's job number `job`
/// (jobs are numbered from 0 in the order the pool's calls made them: each `map`,
/// `apply`, `imap`, `submit`, ... is one job).
///
/// ```
/// let r = multiproc::pool::ItemRange { job: 2, start: 40, end: 80 };
/// assert_eq!(r.to_string(), "items 40-79 of job 2");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRange {
    /// The job.
    pub job: u64,
    /// Its first item's index.
    pub start: usize,
    /// One past its last item's index.
    pub end: usize,
}

impl std::fmt::Display for ItemRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.end - self.start {
            1 => write!(f, "item {} of job {}", self.start, self.job),
            _ => {
                write!(f, "items {}-{} of job {}", self.start, self.end.saturating_sub(1), self.job)
            }
        }
    }
}

/// What a worker sent back, in the order it sent it.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// The encoded value of its next item.
    Value(&'a [u8]),
    /// Its next item's failure, still encoded.
    Failed(FailedItem<'a>),
    /// A control frame (the reply to an initializer).
    Control(&'a [u8]),
}

/// When the scheduler expects a worker's next answers: how a receiver should wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The worker holds nothing: an answer comes only after new work, which a caller of
    /// `apply` may send at once (poll briefly, then sleep until woken).
    Idle,
    /// The worker holds quick tasks: answers come every few microseconds (read them in
    /// runs, every so often, rather than one by one as they come).
    Stream,
    /// The worker holds slow tasks (sleep until woken).
    Later,
}

/// Receives one worker's answers.
pub trait AnswerReceiver: Send {
    /// Waits for what the worker sends next and hands it to `f`, in order, in one call or
    /// more. A large value may come alone, in a call made while the frame it arrived in is
    /// lent (see [`SharedFrame::lend`]), so that it is decoded in place. `expect` says
    /// when the scheduler expects answers.
    ///
    /// `Err(Lost)` once the worker is gone and everything it sent was handed over (or it
    /// sent something that is not an answer: it cannot be trusted).
    fn recv(&mut self, expect: Expect, f: &mut dyn FnMut(Answers<'_>)) -> Result<(), Lost>;

    /// Whether the last `Err(Lost)` was the worker breaking the protocol (sending what is
    /// not an answer) rather than its going away. The default: never.
    fn broke_protocol(&self) -> bool {
        false
    }
}

/// Hands the answers of a received frame to `f`, as an [`AnswerReceiver`] whose worker
/// answers in frames does (a results frame: its items; a control frame: itself); the
/// frame is lent meanwhile. `Err(Lost)` for anything else.
///
/// ```
/// use multiproc::codec::{encode, Control, FrameBuf, SharedFrame, What};
/// use multiproc::pool::{frame_answers, Answers};
///
/// let mut fb = FrameBuf::new();
/// fb.begin_results(1);
/// fb.push_with(|out| encode(&5u8, What::Result, out))?;
/// let frame = SharedFrame::new(fb.finish().to_vec());
/// let mut got = 0;
/// frame_answers(&frame, &mut |answers: Answers<'_>| got += answers.len()).unwrap();
/// assert_eq!(got, 1);
/// # Ok::<(), multiproc::codec::CodecError>(())
/// ```
pub fn frame_answers(frame: &SharedFrame, f: &mut dyn FnMut(Answers<'_>)) -> Result<(), Lost> {
    frame.lend(|bytes| match parse(bytes) {
        Ok(Frame::Results(results)) => {
            let answers: Vec<Answer<'_>> = results
                .values(0..results.len())
                .map(|v| match v {
                    Ok(bytes) => Answer::Value(bytes),
                    Err(failed) => Answer::Failed(failed),
                })
                .collect();
            f(Answers::list(&answers));
            Ok(())
        }
        Ok(Frame::Control(_)) => {
            f(Answers::list(&[Answer::Control(bytes)]));
            Ok(())
        }
        _ => Err(Lost),
    })
}

/// Where a worker is in its current task, read without asking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Items started since the worker began.
    pub started: u64,
    /// Items finished since the worker began.
    pub finished: u64,
    /// When the latest item started (`CLOCK_MONOTONIC` ns), if the worker stamps items.
    pub started_at_ns: u64,
    /// Items that failed (returned `Err` or panicked) since the worker began, if it
    /// reports them (for [`Pool::insights`](crate::Pool::insights)).
    pub failed: Option<u64>,
    /// Nanoseconds the worker spent running task batches (decoding, running, encoding),
    /// if it reports them (for [`Pool::insights`](crate::Pool::insights)).
    pub busy_ns: Option<u64>,
    /// The limit the worker ran into as it died, and the amount it saw if known (see
    /// `multiproc::process::progress::LIMIT`).
    pub limit: Option<(Limit, Option<u64>)>,
}

/// Controls one worker: identity, progress, kill, wait.
pub trait WorkerControl: Send + Sync {
    /// A name for messages (a pid, a rank and host).
    fn describe(&self) -> String;
    /// The worker's process id, when it is a process of this machine (the default: not).
    fn pid(&self) -> Option<u32> {
        None
    }
    /// Where the worker is.
    fn progress(&self) -> Progress;
    /// Stops the worker at once.
    fn kill(&self);
    /// Waits until the worker has ended; its exit status when there is one.
    fn wait(&self) -> Option<ExitStatus>;

    /// Takes back the items sent to the worker that it has not claimed: it will start
    /// none of them. Returns how many items it had claimed in all (the sequence number
    /// from which items are taken back), or `None` if this kind of worker cannot give
    /// work back (the default).
    fn revoke(&self) -> Option<u64> {
        None
    }

    /// Whether the worker asked to retire once its current task is answered (its memory
    /// went over `max_memory_per_child`, or a task ran out of descriptors). Never, by
    /// default.
    fn wants_retire(&self) -> bool {
        false
    }
}

/// A started worker's three handles.
pub struct WorkerLink {
    /// Sends task frames.
    pub tx: Arc<dyn FrameSender>,
    /// Receives answers.
    pub rx: Box<dyn AnswerReceiver>,
    /// Controls the worker.
    pub control: Arc<dyn WorkerControl>,
}

impl std::fmt::Debug for WorkerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorkerLink({})", self.control.describe())
    }
}

/// Starts workers for a pool.
pub trait Backend: Send + Sync + 'static {
    /// Starts worker number `index` (a replacement reuses the index). With
    /// `stamp_items`, the worker records when each item starts (for timeouts).
    fn start(&self, index: usize, stamp_items: bool) -> Result<WorkerLink, String>;

    /// Called when the pool has stopped for good (joined, after `close` or `terminate`):
    /// no worker will be started again, and the backend may hand its workers to another
    /// pool. Does nothing by default.
    fn release(&self) {}
}
