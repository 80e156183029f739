//! A worker rank: its MPI thread talks to rank 0; the thread that called `init` runs the
//! tasks. The MPI thread is always ready to receive, so rank 0 never waits on a worker
//! that is busy computing.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

use mpi::point_to_point::Status;
use mpi::topology::SimpleCommunicator;
use multiproc_process::{FrameServer, Served};

use crate::protocol::{CLOSED, END, FRAME, NOTHING, RESET, RESET_DONE};
use crate::transport::{Idle, poll, recv_spin, send_draining};

/// What the MPI thread hands the task thread.
#[derive(Debug)]
pub(crate) enum Job {
    /// A frame received during link epoch `.0`.
    Frame(u64, Vec<u8>),
    /// Answer a RESET once everything before it is done.
    ResetDone,
}

/// What the task thread hands back to the MPI thread.
#[derive(Debug)]
pub(crate) enum Reply {
    Frame(Vec<u8>),
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

/// The MPI thread of a worker rank: runs until rank 0 says END (or the task thread is
/// gone).
pub(crate) fn serve_mpi(world: &SimpleCommunicator, side: MpiSide) {
    let MpiSide { jobs, replies, epoch } = side;
    let ended = Cell::new(false);
    let mut incoming = |buf: Vec<u8>, status: Status| match status.tag() {
        FRAME => {
            let _ = jobs.send(Job::Frame(epoch.load(Ordering::Acquire), buf));
        }
        RESET => {
            epoch.fetch_add(1, Ordering::AcqRel);
            let _ = jobs.send(Job::ResetDone);
        }
        END => ended.set(true),
        _ => {}
    };
    let mut idle = Idle::new();
    let send = |reply: Reply, incoming: &mut dyn FnMut(Vec<u8>, Status)| {
        let (tag, body): (_, &[u8]) = match &reply {
            Reply::Frame(frame) => (FRAME, frame),
            Reply::ResetDone => (RESET_DONE, &NOTHING),
            Reply::Closed => (CLOSED, &NOTHING),
        };
        send_draining(world, 0, tag, body, Some(0), incoming);
    };
    loop {
        let mut busy = false;
        while let Ok(reply) = replies.try_recv() {
            busy = true;
            send(reply, &mut incoming);
        }
        while poll(world, Some(0), &mut incoming) {
            busy = true;
        }
        if ended.get() {
            return;
        }
        if busy {
            idle.active();
            continue;
        }
        match idle.wait(&replies) {
            Ok(Some(reply)) => {
                idle.active();
                send(reply, &mut incoming);
            }
            Ok(None) => {}
            Err(()) => return,
        }
    }
}

/// The task thread of a worker rank: serves frames until the MPI thread is gone.
pub(crate) fn serve_tasks(side: TaskSide) {
    let TaskSide { jobs, replies, epoch } = side;
    let mut server = FrameServer::new(false);
    while let Ok(job) = recv_spin(&jobs) {
        let reply = match job {
            Job::Frame(from, _) if from < epoch.load(Ordering::Acquire) => continue,
            Job::Frame(_, frame) => match server.serve(&frame, None) {
                // A failed initializer: rank 0 drops the link and decides what is next;
                // a rank cannot exit without taking the job down.
                Ok(Served::Reply(reply) | Served::ReplyAndStop(reply)) => {
                    Reply::Frame(reply.to_vec())
                }
                Ok(Served::Stop) => Reply::Closed,
                Err(e) => {
                    eprintln!("multiproc-mpi worker {}: {e}", std::process::id());
                    std::process::abort();
                }
            },
            Job::ResetDone => Reply::ResetDone,
        };
        if replies.send(reply).is_err() {
            return;
        }
    }
}
