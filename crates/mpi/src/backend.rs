//! [`MpiBackend`]: the pool scheduler's [`Backend`] whose workers are MPI ranks.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, channel};

use multiproc_pool::{
    Backend, FrameReceiver, FrameSender, Lost, Progress, WorkerControl, WorkerLink,
};
use multiproc_process::ExitStatus;

use crate::hub::Command;
use crate::world::{Shared, WorkerRank};

/// Workers that are the ranks of an MPI job; holds the ranks until dropped.
#[derive(Debug)]
pub(crate) struct MpiBackend {
    pub(crate) shared: Arc<Shared>,
}

impl Drop for MpiBackend {
    fn drop(&mut self) {
        self.shared.busy.store(false, Ordering::Release);
    }
}

impl Backend for MpiBackend {
    /// Links slot `index` to rank `index + 1`. A replacement is a new link to the same
    /// rank: MPI gives a job a fixed set of processes.
    fn start(&self, index: usize, _stamp_items: bool) -> Result<WorkerLink, String> {
        let info = self.shared.workers.get(index).ok_or("no such worker rank")?.clone();
        let link = self.shared.next_link.fetch_add(1, Ordering::Relaxed);
        let (deliver, replies) = channel();
        self.shared
            .command(Command::Open { rank: info.rank, link, deliver })
            .map_err(|Lost| "the MPI job has ended (its `World` was dropped)".to_string())?;
        let shared = Arc::clone(&self.shared);
        Ok(WorkerLink {
            tx: Arc::new(RankSender { shared: Arc::clone(&shared), rank: info.rank, link }),
            rx: Box::new(RankReceiver(replies)),
            control: Arc::new(RankControl { shared, info, link }),
        })
    }
}

struct RankSender {
    shared: Arc<Shared>,
    rank: mpi::Rank,
    link: u64,
}

impl FrameSender for RankSender {
    fn send(&self, frame: &[u8]) -> Result<(), Lost> {
        let frame = frame.to_vec();
        self.shared.command(Command::Send { rank: self.rank, link: self.link, frame })
    }
}

struct RankReceiver(Receiver<Vec<u8>>);

impl FrameReceiver for RankReceiver {
    fn recv(&mut self) -> Result<Box<dyn Deref<Target = [u8]> + Send>, Lost> {
        self.0.recv().map(|frame| Box::new(frame) as _).map_err(|_| Lost)
    }
}

struct RankControl {
    shared: Arc<Shared>,
    info: WorkerRank,
    link: u64,
}

impl WorkerControl for RankControl {
    fn describe(&self) -> String {
        self.info.to_string()
    }

    /// A rank's progress is not visible from rank 0: a rank cannot die alone (the MPI
    /// runtime ends the whole job), so no item is ever blamed for a death.
    fn progress(&self) -> Progress {
        Progress::default()
    }

    /// A rank cannot be killed without ending the job: its link is dropped instead (the
    /// rank discards the link's queued batches; a running task finishes unseen).
    fn kill(&self) {
        let _ = self.shared.command(Command::Kill { rank: self.info.rank, link: self.link });
    }

    fn wait(&self) -> Option<ExitStatus> {
        None
    }
}
