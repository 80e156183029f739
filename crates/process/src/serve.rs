//! [`FrameServer`]: what a pool worker does with each frame it receives, whatever carries
//! the frames (the local worker's channel, or the messages of an MPI rank), and where its
//! answers go (an answer ring, or a results frame per batch).

use multiproc_codec::{
    Control, FnId, Frame, FrameBuf, FrameParts, ItemBuf, RemoteFailure, What, decode, parse,
};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use multiproc_ipc::{RingWriter, SPIN, SharedWords};

use crate::answers::{Out, push_control};
use crate::batch::{BatchRun, ProgressWords};
use crate::function::Resolved;
use crate::protocol::progress::BUSY_NS;

/// What a worker does after serving one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served<'a> {
    /// Send this reply to the parent (a server that answers in frames) and wait for the
    /// next frame. Its large payloads are held by reference (see [`FrameParts`]): a
    /// transport that copies the parts straight to their destination copies them once.
    /// Call [`FrameServer::sent`] once it is sent.
    Reply(FrameParts<'a>),
    /// Nothing to send: the answers went into the ring as they came, or the parent took
    /// the batch back before any of it started.
    Done,
    /// The initializer failed: send the reply if there is one, then stop serving (a local
    /// worker exits with code 3; a worker that cannot exit waits to be told what to do).
    InitFailed(Option<FrameParts<'a>>),
    /// Stop serving: the parent asked the worker to shut down.
    Stop,
}

/// A frame that a worker cannot serve: not a task batch or a worker control message, or
/// damaged. The parent sent something a worker never receives; the worker should stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnexpectedFrame(String);

impl std::fmt::Display for UnexpectedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnexpectedFrame {}

/// Runs task batches and initializers: the body of every pool worker's loop. The function
/// of the last batch stays resolved for the next one.
///
/// ```
/// use multiproc::process::{FrameServer, Served};
/// use multiproc::codec::{Control, FrameBuf};
///
/// let mut server = FrameServer::new(false);
/// let shutdown = FrameBuf::new().control(&Control::Shutdown).to_vec();
/// assert_eq!(server.serve(&shutdown, None), Ok(Served::Stop));
/// assert!(server.serve(b"not a frame", None).is_err());
/// ```
#[derive(Debug)]
pub struct FrameServer {
    out: Out,
    cached: Option<Resolved>,
    started: u64,
    stamp: bool,
    /// Whether the last frame was served quickly (see [`spin`](Self::spin)).
    quick: bool,
}

impl FrameServer {
    /// A server for a fresh worker. With `stamp_items`, it records when each item starts
    /// in the progress words (for per-task timeouts).
    ///
    /// The process becomes a worker: from now on its panics are captured (message,
    /// location, backtrace) for the parent instead of printed, and its allocator keeps
    /// freed memory for the next task's buffers (up to 64 MiB) instead of returning it.
    pub fn new(stamp_items: bool) -> FrameServer {
        FrameServer::answering(Out::Frames(FrameBuf::new().by_reference()), stamp_items)
    }

    /// A server that writes each answer into `ring` as soon as its item ends, instead of
    /// replying with a frame per batch (a local pool worker).
    pub(crate) fn with_ring(stamp_items: bool, ring: RingWriter) -> FrameServer {
        FrameServer::answering(Out::Ring { writer: ring, item: ItemBuf::new() }, stamp_items)
    }

    fn answering(out: Out, stamp: bool) -> FrameServer {
        crate::panic::capture();
        crate::sys::keep_freed_memory();
        FrameServer { out, cached: None, started: 0, stamp, quick: true }
    }

    /// How long to poll for the next frame before sleeping on it. After a quick frame the
    /// next one is usually a few microseconds away (a caller of `apply` answers at once):
    /// [`SPIN`]. After a long batch the parent's window of two has the next one queued
    /// already, or the parent is busy: then polling would only take its CPU, and this is
    /// zero.
    pub fn spin(&self) -> Duration {
        if self.quick { SPIN } else { Duration::ZERO }
    }

    /// Serves one frame. Around every item it updates `progress` (see
    /// [`progress`](crate::progress)) when given, and adds the batch's time to its
    /// [`BUSY_NS`](crate::progress::BUSY_NS) word.
    pub fn serve(
        &mut self,
        frame: &[u8],
        progress: Option<&SharedWords>,
    ) -> Result<Served<'_>, UnexpectedFrame> {
        let start = Instant::now();
        match parse(frame) {
            Ok(Frame::Tasks(task)) => {
                if let Out::Frames(fb) = &mut self.out {
                    fb.begin_results(task.batch());
                }
                let words = progress.map(ProgressWords::new);
                // The answers of slow items go back one by one, those of quick ones together.
                let answers = self.out.answers(task.revocable());
                let Some(mut run) = BatchRun::new(task, answers, words, self.stamp, self.started)
                else {
                    // Taken back before it started.
                    return Ok(self.out.skipped(task.batch()));
                };
                let resolved = match self.cached {
                    Some(r) if r.id() == task.func() => Ok(r),
                    _ => Resolved::new(task.func()),
                };
                let cached = &mut self.cached;
                if let Err(failure) = resolved.and_then(|f| {
                    *cached = Some(f);
                    f.run(&mut run)
                }) {
                    run.fail_all(failure);
                }
                self.started = run.started;
                let skipped = run.skipped;
                // Publishes the last answers.
                drop(run);
                let took = start.elapsed();
                self.quick = took < SPIN;
                if let Some(words) = progress {
                    let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
                    words.word(BUSY_NS).fetch_add(ns, Ordering::Relaxed);
                }
                if let Some(from) = skipped
                    && self.out.skipped(from) == Served::Stop
                {
                    return Ok(Served::Stop);
                }
                match &mut self.out {
                    // Every item was taken back: nothing to say.
                    Out::Frames(fb) if fb.is_empty() => Ok(Served::Done),
                    Out::Frames(fb) => Ok(Served::Reply(fb.finish_parts())),
                    Out::Ring { .. } => Ok(Served::Done),
                }
            }
            Ok(Frame::Control(Control::Initialize { func, args })) => {
                let (reply, failed) = match initialize(func, &args) {
                    Ok(()) => (Control::Initialized, false),
                    Err(failure) => (Control::InitFailed(failure), true),
                };
                let reply = match &mut self.out {
                    Out::Frames(fb) => Some(FrameParts::whole(fb.control(&reply))),
                    Out::Ring { writer, .. } => {
                        if push_control(writer, &reply) == Served::Stop {
                            // The parent is gone.
                            return Ok(Served::Stop);
                        }
                        None
                    }
                };
                Ok(match (failed, reply) {
                    (true, reply) => Served::InitFailed(reply),
                    (false, Some(reply)) => Served::Reply(reply),
                    (false, None) => Served::Done,
                })
            }
            Ok(Frame::Control(Control::Shutdown)) => Ok(Served::Stop),
            Ok(other) => Err(UnexpectedFrame(format!("unexpected frame {other:?}"))),
            Err(e) => Err(UnexpectedFrame(format!("bad frame: {e}"))),
        }
    }
}

impl FrameServer {
    /// The last reply was sent: lets go of the payloads it held by reference (a large
    /// argument echoed back holds the frame it arrived in, which its sender then reuses).
    pub fn sent(&mut self) {
        if let Out::Frames(fb) = &mut self.out {
            fb.clear();
        }
    }
}

/// Runs an initializer: its trampoline encodes a `Result<(), String>`.
fn initialize(func: FnId, args: &[u8]) -> Result<(), RemoteFailure> {
    let f = Resolved::new(func)?;
    let mut out = Vec::new();
    f.initialize(args, &mut out)?;
    match decode::<Result<(), String>>(&out, What::Result) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(RemoteFailure::Error(message)),
        Err(e) => Err(RemoteFailure::Codec(e)),
    }
}
