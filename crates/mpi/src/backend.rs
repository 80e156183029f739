//! [`MpiBackend`]: the pool scheduler's [`Backend`] whose workers are MPI ranks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use multiproc_codec::SharedFrame;
use multiproc_pool::{
    AnswerReceiver, Answers, Backend, Expect, FrameSender, Lost, Progress, WorkerControl,
    WorkerLink, frame_answers,
};
use multiproc_process::ExitStatus;

use crate::hub::{Command, LinkProgress};
use crate::transport::{SPIN, Spare, recv_spin};
use crate::world::{Shared, WorkerRank};

/// Workers that are the ranks of an MPI job; holds the ranks until its pool has stopped
/// (or it is dropped).
#[derive(Debug)]
pub(crate) struct MpiBackend {
    pub(crate) shared: Arc<Shared>,
    pub(crate) released: AtomicBool,
}

impl Drop for MpiBackend {
    fn drop(&mut self) {
        self.release();
    }
}

impl Backend for MpiBackend {
    /// Links slot `index` to rank `index + 1`. A replacement is a new link to the same
    /// rank: MPI gives a job a fixed set of processes.
    fn start(&self, index: usize, _stamp_items: bool) -> Result<WorkerLink, String> {
        let info = self.shared.workers.get(index).ok_or("no such worker rank")?.clone();
        let link = self.shared.next_link.fetch_add(1, Ordering::Relaxed);
        let (deliver, replies) = channel();
        let progress = Arc::new(LinkProgress::default());
        let open =
            Command::Open { rank: info.rank, link, deliver, progress: Arc::clone(&progress) };
        self.shared
            .command(open)
            .map_err(|Lost| "the MPI job has ended (its `World` was dropped)".to_string())?;
        let shared = Arc::clone(&self.shared);
        Ok(WorkerLink {
            tx: Arc::new(RankSender { shared: Arc::clone(&shared), rank: info.rank, link }),
            rx: Box::new(RankReceiver(replies)),
            control: Arc::new(RankControl { shared, info, link, progress }),
        })
    }

    /// The pool has stopped: the ranks are free for the next pool (once).
    fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.shared.busy.store(false, Ordering::Release);
        }
    }
}

struct RankSender {
    shared: Arc<Shared>,
    rank: mpi::Rank,
    link: u64,
}

impl FrameSender for RankSender {
    fn send(&self, parts: &[&[u8]]) -> Result<(), Lost> {
        let frame = Spare::copy(parts.iter().copied());
        self.shared.command(Command::Send { rank: self.rank, link: self.link, frame })
    }
}

struct RankReceiver(Receiver<Spare>);

impl AnswerReceiver for RankReceiver {
    fn recv(&mut self, expect: Expect, f: &mut dyn FnMut(Answers<'_>)) -> Result<(), Lost> {
        let spin = if expect == Expect::Later { Duration::ZERO } else { SPIN };
        let frame = recv_spin(&self.0, spin).map(SharedFrame::new).map_err(|()| Lost)?;
        frame_answers(&frame, f)
    }
}

struct RankControl {
    shared: Arc<Shared>,
    info: WorkerRank,
    link: u64,
    progress: Arc<LinkProgress>,
}

impl WorkerControl for RankControl {
    fn describe(&self) -> String {
        self.info.to_string()
    }

    /// Counted by rank 0 from the batches it sent and the results it received (item
    /// starts are not stamped: no per-task timeout over MPI).
    fn progress(&self) -> Progress {
        self.progress.get()
    }

    /// A rank cannot be killed without ending the job: its link is dropped instead (the
    /// rank discards the link's queued batches; a running task finishes unseen, and the
    /// rank's next link waits for it).
    fn kill(&self) {
        let _ = self.shared.command(Command::Kill { rank: self.info.rank, link: self.link });
    }

    fn wait(&self) -> Option<ExitStatus> {
        None
    }
}
