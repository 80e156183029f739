//! A worker rank: its MPI thread talks to rank 0; the thread that called `init` runs the
//! tasks. The MPI thread is always ready to receive, so rank 0 never waits on a worker
//! that is busy computing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

use mpi::topology::SimpleCommunicator;
use mpi::{Rank, Tag};
use multiproc_codec::SharedFrame;
use multiproc_process::{FrameServer, Served};

use crate::protocol::{CLOSED, END, END_ACK, FRAME, RESET, RESET_DONE};
use crate::spare::Spare;
use crate::transport::{Endpoint, drive, recv_spin};
use crate::wire::{Gate, send_control, send_frame};

/// What the MPI thread hands the task thread.
#[derive(Debug)]
pub(crate) enum Job {
    /// A frame received during link epoch `.0`.
    Frame(u64, Spare),
    /// Answer a RESET once everything before it is done.
    ResetDone,
}

/// The ends the task thread uses.
#[derive(Debug)]
pub(crate) struct TaskSide {
    jobs: Receiver<Job>,
    /// Wakes the MPI thread after a send: rank 0's next frame is due soon.
    sent: Sender<()>,
    epoch: Arc<AtomicU64>,
    gate: Arc<Gate>,
}

/// The ends the MPI thread uses.
#[derive(Debug)]
pub(crate) struct MpiSide {
    jobs: Sender<Job>,
    sent: Receiver<()>,
    epoch: Arc<AtomicU64>,
    gate: Arc<Gate>,
}

/// Connects a worker rank's two threads.
pub(crate) fn sides() -> (MpiSide, TaskSide) {
    let (jobs_tx, jobs_rx) = channel();
    let (sent_tx, sent_rx) = channel();
    let epoch = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Gate::open());
    (
        MpiSide {
            jobs: jobs_tx,
            sent: sent_rx,
            epoch: Arc::clone(&epoch),
            gate: Arc::clone(&gate),
        },
        TaskSide { jobs: jobs_rx, sent: sent_tx, epoch, gate },
    )
}

/// A worker rank's MPI thread: hands frames to the task thread.
struct Worker {
    jobs: Sender<Job>,
    epoch: Arc<AtomicU64>,
    ended: bool,
}

/// The MPI thread of a worker rank: runs until rank 0 says END, then waits for the task
/// thread's send under way (rank 0 reads until it has this rank's END_ACK), sends none
/// after, and says END_ACK.
pub(crate) fn serve_mpi(world: &SimpleCommunicator, side: MpiSide) {
    let MpiSide { jobs, sent, epoch, gate } = side;
    drive(world, &mut Worker { jobs, epoch, ended: false }, &sent);
    gate.close();
    send_control(0, END_ACK);
}

impl Endpoint for Worker {
    type Local = ();
    const PEER: Option<Rank> = Some(0);

    fn local(&mut self, (): ()) -> bool {
        true
    }

    fn incoming(&mut self, _: Rank, tag: Tag, buf: Spare) {
        match tag {
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

/// The task thread of a worker rank: serves frames and sends the replies itself, from
/// where they lie, until the job ends.
///
/// # Panics
///
/// When rank 0 sends a frame that no worker serves (the caller aborts the job).
pub(crate) fn serve_tasks(side: TaskSide) {
    let TaskSide { jobs, sent, epoch, gate } = side;
    let mut server = FrameServer::new(false);
    while let Ok(job) = recv_spin(&jobs, server.spin()) {
        // `Some(sent)`, or `None` once the job is ending.
        let step = match job {
            Job::Frame(from, _) if from < epoch.load(Ordering::Acquire) => continue,
            // Lent: a large `Bytes` argument reads the frame in place.
            Job::Frame(_, frame) => SharedFrame::new(frame).lend(|f| {
                match server.serve(f, None) {
                    // A failed initializer: rank 0 drops the link and decides what is next;
                    // a rank cannot exit without taking the job down.
                    Ok(Served::Reply(reply) | Served::InitFailed(Some(reply))) => {
                        // A reply in one piece (the common case) goes without a list.
                        let (whole, listed): ([&[u8]; 1], Vec<&[u8]>);
                        let parts: &[&[u8]] = match reply.contiguous() {
                            Some(bytes) => {
                                whole = [bytes];
                                &whole
                            }
                            None => {
                                listed = reply.iter().collect();
                                &listed
                            }
                        };
                        gate.pass(|| send_frame(0, parts)).map(|()| true)
                    }
                    // Nothing is taken back from a rank (it has no claim word), and it
                    // answers in frames: every frame gets its reply.
                    Ok(Served::Done | Served::InitFailed(None)) => Some(false),
                    Ok(Served::Stop) => gate.pass(|| send_control(0, CLOSED)).map(|()| true),
                    Err(e) => panic!("rank 0 sent a frame no worker serves: {e}"),
                }
            }),
            Job::ResetDone => gate.pass(|| send_control(0, RESET_DONE)).map(|()| true),
        };
        match step {
            None => return,
            Some(false) => {}
            Some(true) => {
                server.sent();
                let _ = sent.send(());
            }
        }
    }
}
