//! The scheduler's view of workers: a small trait, so that another kind of worker (ranks
//! of an MPI job) can plug in without touching the pool's API.
//!
//! A backend starts workers; each worker is reached through a frame sender, a frame
//! receiver and a control handle. Frames are the opaque bytes of `multiproc-codec`; the
//! worker on the other side runs the worker loop of `multiproc-process` (or its twin).

use std::sync::Arc;

use multiproc_codec::{FrameParts, SharedFrame};
use multiproc_ipc::{Receiver, Sender};
use multiproc_process::{Child, Context, ExitStatus, progress, start_worker};

/// The worker is gone (its channel closed or broke).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

/// Sends frames to one worker. Sends may block while the worker does not read
/// (backpressure); the scheduler keeps a reader draining every worker.
pub trait FrameSender: Send + Sync {
    /// Sends one frame, given as parts: its own bytes and large payloads held by
    /// reference (see [`FrameParts`]); what arrives is the parts' concatenation.
    fn send(&self, frame: FrameParts<'_>) -> Result<(), Lost>;

    /// The largest frame that [`send`](Self::send) delivers without blocking while the
    /// worker has at most three frames unread, none of them larger (the scheduler's
    /// window of two batches and a control message; it never lets more pile up). Such
    /// frames may be sent from a thread that reads workers' results, which saves a thread
    /// hop per batch. The default, 0, sends every frame from a thread that reads nothing.
    fn nonblocking_limit(&self) -> usize {
        0
    }
}

/// Receives frames from one worker.
pub trait FrameReceiver: Send {
    /// Blocks for the next frame; `Err(Lost)` once the worker is gone. With `soon`, the
    /// scheduler expects the frame within microseconds (the worker holds only quick
    /// tasks, or none yet): the receiver may poll for it rather than sleep at once.
    ///
    /// The frame comes as a [`SharedFrame`], so that large payloads decoded from it can
    /// read it in place.
    fn recv(&mut self, soon: bool) -> Result<SharedFrame, Lost>;
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
}

/// Controls one worker: identity, progress, kill, wait.
pub trait WorkerControl: Send + Sync {
    /// A name for messages (a pid, a rank and host).
    fn describe(&self) -> String;
    /// Where the worker is.
    fn progress(&self) -> Progress;
    /// Stops the worker at once.
    fn kill(&self);
    /// Waits until the worker has ended; its exit status when there is one.
    fn wait(&self) -> Option<ExitStatus>;
}

/// A started worker's three handles.
pub struct WorkerLink {
    /// Sends task frames.
    pub tx: Arc<dyn FrameSender>,
    /// Receives result frames.
    pub rx: Box<dyn FrameReceiver>,
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

/// Workers that are local child processes, started with a [`Context`].
#[derive(Debug, Clone)]
pub struct LocalBackend {
    ctx: Context,
}

impl LocalBackend {
    /// Local workers started with `ctx`'s start method.
    pub fn new(ctx: Context) -> LocalBackend {
        LocalBackend { ctx }
    }
}

struct LocalTx(Sender);
struct LocalRx(Receiver);
struct LocalControl {
    child: Child,
    progress: multiproc_ipc::SharedWords,
}

impl FrameSender for LocalTx {
    /// Each payload held by reference is copied once, straight into the shared memory
    /// the worker reads.
    fn send(&self, frame: FrameParts<'_>) -> Result<(), Lost> {
        self.0.send_parts(frame.iter()).map_err(|_| Lost)
    }

    /// Frames this small travel inline (below the shared-memory threshold), and three of
    /// them take a quarter of a socket's send buffer (Linux's default: 208 KiB).
    fn nonblocking_limit(&self) -> usize {
        16 << 10
    }
}

impl FrameReceiver for LocalRx {
    fn recv(&mut self, soon: bool) -> Result<SharedFrame, Lost> {
        // Results of a latency-bound caller (`apply` in a loop) come back within tens of
        // microseconds: poll briefly before sleeping. Results of a long batch do not,
        // and polling for them would take the CPU of the threads that produce them.
        let spin = if soon { multiproc_ipc::SPIN } else { std::time::Duration::ZERO };
        match self.0.recv_spin(spin) {
            Ok(m) => Ok(SharedFrame::new(m)),
            Err(_) => Err(Lost),
        }
    }
}

impl WorkerControl for LocalControl {
    fn describe(&self) -> String {
        format!("{} pid {}", self.child.name(), self.child.pid())
    }

    fn progress(&self) -> Progress {
        Progress {
            started: self.progress.load(progress::STARTED),
            finished: self.progress.load(progress::FINISHED),
            started_at_ns: self.progress.load(progress::STARTED_AT_NS),
        }
    }

    fn kill(&self) {
        let _ = self.child.kill();
    }

    fn wait(&self) -> Option<ExitStatus> {
        self.child.wait().ok()
    }
}

impl Backend for LocalBackend {
    fn start(&self, index: usize, stamp_items: bool) -> Result<WorkerLink, String> {
        let name = format!("{}PoolWorker-{}", pool_prefix(self.ctx), index + 1);
        let worker = start_worker(&self.ctx, Some(name), stamp_items).map_err(|e| e.to_string())?;
        let (tx, rx) = worker.channel.split();
        Ok(WorkerLink {
            tx: Arc::new(LocalTx(tx)),
            rx: Box::new(LocalRx(rx)),
            control: Arc::new(LocalControl { child: worker.child, progress: worker.progress }),
        })
    }
}

/// Python names pool workers `ForkPoolWorker-N`, `SpawnPoolWorker-N`, `ForkServerPoolWorker-N`.
fn pool_prefix(ctx: Context) -> &'static str {
    match ctx.start_method() {
        multiproc_process::StartMethod::Fork => "Fork",
        multiproc_process::StartMethod::Spawn => "Spawn",
        multiproc_process::StartMethod::ForkServer => "ForkServer",
    }
}
