//! [`LocalBackend`]: workers that are child processes of this one.
//!
//! A worker writes each answer into its answer ring as soon as the item ends; this side
//! reads the ring. A thread per worker waits on the worker's exit (its pidfd) and closes
//! the ring when it comes: the reader then takes what the worker wrote before it died —
//! the answers of the items it finished are never lost — and reports the loss, within
//! moments of the exit, whoever else holds the worker's sockets (a grandchild forked by a
//! task).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use multiproc_codec::{FailedItem, SharedFrame};
use multiproc_ipc::{Record, RingReader, Sender, Wait};
use multiproc_process::progress::{self, pack_claim, unpack_claim};
use multiproc_process::{Child, Context, ExitStatus, StartMethod, answer, start_worker};

use crate::backend::{
    Answer, AnswerReceiver, Backend, FrameSender, Lost, Progress, WorkerControl, WorkerLink,
};

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
struct LocalRx(RingReader);
struct LocalControl {
    child: Child,
    progress: multiproc_ipc::SharedWords,
}

impl FrameSender for LocalTx {
    /// Each part is copied once: into the socket, or straight into the shared memory the
    /// worker reads.
    fn send(&self, parts: &[&[u8]]) -> Result<(), Lost> {
        self.0.send_parts(parts.iter().copied()).map_err(|_| Lost)
    }
}

impl AnswerReceiver for LocalRx {
    fn recv(&mut self, soon: bool, f: &mut dyn FnMut(&[Answer<'_>])) -> Result<(), Lost> {
        // Answers of a latency-bound caller (`apply` in a loop) come back within tens of
        // microseconds: poll briefly before sleeping. Answers of a long batch do not, and
        // polling for them would take the CPU of the threads that produce them.
        let spin = if soon { multiproc_ipc::SPIN } else { Duration::ZERO };
        loop {
            // After the close, what the worker wrote before it went is still read.
            let closed = self.0.is_closed();
            if hand_over(&mut self.0, f)? {
                return Ok(());
            }
            if closed {
                return Err(Lost);
            }
            // Ready, closed or a spurious wake-up: look again.
            let _: Wait = self.0.wait(spin, None);
        }
    }
}

/// Hands every record published so far to `f`: runs of answers in the ring in one call,
/// each answer staged in a region alone, while its region is lent. Whether there was
/// any; `Err` if the worker wrote something that is not an answer.
fn hand_over(reader: &mut RingReader, f: &mut dyn FnMut(&[Answer<'_>])) -> Result<bool, Lost> {
    let mut any = false;
    let mut run: Vec<Answer<'_>> = Vec::new();
    for record in reader.records() {
        any = true;
        match record.map_err(|_| Lost)? {
            Record::Inline { kind, bytes } => run.push(answer_of(kind, bytes)?),
            Record::Staged { kind, message } => {
                if !run.is_empty() {
                    f(&run);
                    run.clear();
                }
                let frame = SharedFrame::new(message);
                frame.lend(|bytes| answer_of(kind, bytes).map(|a| f(&[a])))?;
            }
        }
    }
    if !run.is_empty() {
        f(&run);
    }
    Ok(any)
}

fn answer_of(kind: u8, bytes: &[u8]) -> Result<Answer<'_>, Lost> {
    match kind {
        answer::VALUE => Ok(Answer::Value(bytes)),
        answer::FAILED => Ok(Answer::Failed(FailedItem::new(bytes))),
        answer::CONTROL => Ok(Answer::Control(bytes)),
        _ => Err(Lost),
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

    /// Bumps the epoch of the claim word the worker claims items from: frames of the old
    /// epoch it has not started are skipped, and the count says what it had claimed.
    fn revoke(&self) -> Option<u64> {
        let word = self.progress.word(progress::CLAIM);
        let mut current = word.load(Ordering::Acquire);
        loop {
            let (epoch, claimed) = unpack_claim(current);
            let next = pack_claim(epoch.wrapping_add(1), claimed);
            match word.compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(claimed),
                Err(seen) => current = seen,
            }
        }
    }
}

impl Backend for LocalBackend {
    fn start(&self, index: usize, stamp_items: bool) -> Result<WorkerLink, String> {
        let name = format!("{}PoolWorker-{}", pool_prefix(self.ctx), index + 1);
        let worker = start_worker(&self.ctx, Some(name), stamp_items).map_err(|e| e.to_string())?;
        let (tx, rx) = worker.channel.split();
        let reader = RingReader::new(worker.ring, rx);
        let closer = reader.closer();
        let control = Arc::new(LocalControl { child: worker.child, progress: worker.progress });
        let watched = Arc::clone(&control);
        std::thread::Builder::new()
            .name(format!("multiproc-pool-exit-{}", control.child.pid()))
            .stack_size(64 << 10)
            .spawn(move || {
                // The worker's exit, seen on its pidfd: not the end of its sockets, which a
                // grandchild may keep open for as long as it likes.
                let _ = watched.child.wait();
                closer.close();
            })
            .map_err(|e| format!("cannot start a thread to watch the worker: {e}"))?;
        Ok(WorkerLink { tx: Arc::new(LocalTx(tx)), rx: Box::new(LocalRx(reader)), control })
    }
}

/// Python names pool workers `ForkPoolWorker-N`, `SpawnPoolWorker-N`, `ForkServerPoolWorker-N`.
fn pool_prefix(ctx: Context) -> &'static str {
    match ctx.start_method() {
        StartMethod::Fork => "Fork",
        StartMethod::Spawn => "Spawn",
        StartMethod::ForkServer => "ForkServer",
    }
}
