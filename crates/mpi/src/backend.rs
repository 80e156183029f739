//! [`MpiBackend`]: the pool scheduler's [`Backend`] whose workers are MPI ranks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use multiproc_codec::SharedFrame;
use multiproc_pool::{
    AnswerReceiver, Answers, Backend, Expect, FrameSender, ItemRange, Lost, Progress,
    WorkerControl, WorkerLink, frame_answers,
};
use multiproc_process::ExitStatus;

use crate::hub::LinkProgress;
use crate::spare::Spare;
use crate::transport::{SPIN, recv_spin};
use crate::world::{Shared, WorkerRank};

/// Workers that are some of the ranks of an MPI job; holds the ranks until its pool has
/// stopped (or it is dropped).
#[derive(Debug)]
pub(crate) struct MpiBackend {
    shared: Arc<Shared>,
    /// Its ranks, slot by slot.
    ranks: Vec<WorkerRank>,
    released: AtomicBool,
}

impl MpiBackend {
    /// A backend over `ranks`, which the caller holds for it.
    pub(crate) fn new(shared: Arc<Shared>, ranks: Vec<WorkerRank>) -> MpiBackend {
        MpiBackend { shared, ranks, released: AtomicBool::new(false) }
    }
}

impl Drop for MpiBackend {
    fn drop(&mut self) {
        self.release();
    }
}

impl Backend for MpiBackend {
    /// Links slot `index` to the backend's `index`-th rank. A replacement is a new link
    /// to the same rank: MPI gives a job a fixed set of processes.
    fn start(&self, index: usize, _stamp_items: bool) -> Result<WorkerLink, String> {
        let info = self.ranks.get(index).ok_or("no such worker rank")?.clone();
        let link = self.shared.next_link.fetch_add(1, Ordering::Relaxed);
        let (deliver, replies) = channel();
        let progress = Arc::new(LinkProgress::default());
        self.shared.links.open(info.rank, link, deliver, Arc::clone(&progress));
        let shared = Arc::clone(&self.shared);
        Ok(WorkerLink {
            tx: Arc::new(RankSender {
                shared: Arc::clone(&shared),
                info: info.clone(),
                link,
                progress: Arc::clone(&progress),
            }),
            rx: Box::new(RankReceiver(replies)),
            control: Arc::new(RankControl { shared, info, link, progress }),
        })
    }

    /// The pool has stopped: the ranks are free for the next pool (once).
    fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.shared.release(&self.ranks);
        }
    }
}

struct RankSender {
    shared: Arc<Shared>,
    info: WorkerRank,
    link: u64,
    progress: Arc<LinkProgress>,
}

impl FrameSender for RankSender {
    /// Sends from the frame's own parts, on this thread.
    fn send(&self, parts: &[&[u8]]) -> Result<(), Lost> {
        self.send_tasks(parts, &[])
    }

    /// The items go into the journal, for the supervisor's report.
    fn send_tasks(&self, parts: &[&[u8]], items: &[ItemRange]) -> Result<(), Lost> {
        self.shared.links.send(self.info.rank, self.link, &self.progress, parts, items)
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
        self.shared.links.kill(self.info.rank, self.link);
    }

    fn wait(&self) -> Option<ExitStatus> {
        None
    }
}
