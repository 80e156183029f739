//! A worker rank: its MPI thread talks to rank 0; the thread that called `init` runs the
//! tasks. The MPI thread is always ready to receive, so rank 0 never waits on a worker
//! that is busy computing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

use mpi::Rank;
use mpi::point_to_point::Status;
use mpi::topology::SimpleCommunicator;
use multiproc_codec::SharedFrame;
use multiproc_process::{FrameServer, Served};

use crate::protocol::{CLOSED, END, FRAME, NOTHING, RESET, RESET_DONE};
use crate::transport::{Endpoint, Spare, drive, recv_spin, send};

/// What the MPI thread hands the task thread.
#[derive(Debug)]
pub(crate) enum Job {
    /// A frame received during link epoch `.0`.
    Frame(u64, Spare),
    /// Answer a RESET once everything before it is done.
    ResetDone,
}

/// What the task thread hands back to the MPI thread.
#[derive(Debug)]
pub(crate) enum Reply {
    Frame(Spare),
    ResetDone,
    Closed,
}

/// The two ends the task thread uses.
#[derive(Debug)]
pub(crate) struct TaskSide {
    jobs: Receiver<Job>,
    replies: Sender<Reply>,
    epoch: Arc<AtomicU64>,
}

/// The two ends the MPI thread uses.
#[derive(Debug)]
pub(crate) struct MpiSide {
    jobs: Sender<Job>,
    replies: Receiver<Reply>,
    epoch: Arc<AtomicU64>,
}

/// Connects a worker rank's two threads.
pub(crate) fn sides() -> (MpiSide, TaskSide) {
    let (jobs_tx, jobs_rx) = channel();
    let (replies_tx, replies_rx) = channel();
    let epoch = Arc::new(AtomicU64::new(0));
    (
        MpiSide { jobs: jobs_tx, replies: replies_rx, epoch: Arc::clone(&epoch) },
        TaskSide { jobs: jobs_rx, replies: replies_tx, epoch },
    )
}

/// A worker rank's MPI thread: hands frames to the task thread and sends its replies.
struct Worker {
    jobs: Sender<Job>,
    epoch: Arc<AtomicU64>,
    ended: bool,
}

/// The MPI thread of a worker rank: runs until rank 0 says END (or the task thread is
/// gone).
pub(crate) fn serve_mpi(world: &SimpleCommunicator, side: MpiSide) {
    let MpiSide { jobs, replies, epoch } = side;
    drive(world, &mut Worker { jobs, epoch, ended: false }, &replies);
}

impl Endpoint for Worker {
    type Local = Reply;
    const PEER: Option<Rank> = Some(0);

    fn local(&mut self, world: &SimpleCommunicator, reply: Reply) -> bool {
        let (tag, body): (_, &[u8]) = match &reply {
            Reply::Frame(frame) => (FRAME, frame),
            Reply::ResetDone => (RESET_DONE, &NOTHING),
            Reply::Closed => (CLOSED, &NOTHING),
        };
        send(world, self, 0, tag, body);
        true
    }

    fn incoming(&mut self, buf: Spare, status: Status) {
        match status.tag() {
            FRAME => {
                let _ = self.jobs.send(Job::Frame(self.epoch.load(Ordering::Acquire), buf));
            }
            RESET => {
                self.epoch.fetch_add(1, Ordering::AcqRel);
                let _ = self.jobs.send(Job::ResetDone);
            }
            END => self.ended = true,
            _ => {}
        }
    }

    fn ended(&self) -> bool {
        self.ended
    }
}

/// The task thread of a worker rank: serves frames until the MPI thread is gone.
pub(crate) fn serve_tasks(side: TaskSide) {
    let TaskSide { jobs, replies, epoch } = side;
    let mut server = FrameServer::new(false);
    while let Ok(job) = recv_spin(&jobs, server.spin()) {
        let reply = match job {
            Job::Frame(from, _) if from < epoch.load(Ordering::Acquire) => continue,
            // Lent: a large `Bytes` argument reads the frame in place.
            Job::Frame(_, frame) => match SharedFrame::new(frame).lend(|f| server.serve(f, None)) {
                // A failed initializer: rank 0 drops the link and decides what is next;
                // a rank cannot exit without taking the job down.
                Ok(Served::Reply(reply) | Served::InitFailed(Some(reply))) => {
                    Reply::Frame(Spare::copy(reply.iter()))
                }
                // Nothing is taken back from a rank (it has no claim word), and it answers
                // in frames: every frame gets its reply.
                Ok(Served::Done | Served::InitFailed(None)) => continue,
                Ok(Served::Stop) => Reply::Closed,
                Err(e) => {
                    eprintln!("multiproc-mpi worker {}: {e}", std::process::id());
                    std::process::abort();
                }
            },
            Job::ResetDone => Reply::ResetDone,
        };
        server.sent();
        if replies.send(reply).is_err() {
            return;
        }
    }
}
