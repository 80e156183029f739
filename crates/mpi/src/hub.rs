//! Rank 0's MPI thread: the one thread of rank 0 that makes MPI calls. The pool's
//! threads talk to it through a channel of [`Command`]s; it hands each worker's replies
//! to that worker's current link.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use mpi::Rank;
use mpi::point_to_point::Status;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use multiproc_codec::{Frame, parse};
use multiproc_pool::Progress;

use crate::journal::Journal;
use crate::protocol::{CLOSED, FRAME, NOTHING, RESET, RESET_DONE};
use crate::transport::{Endpoint, Spare, drive, send};

/// What the pool's threads ask of the MPI thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// Deliver `rank`'s replies to a new link from now on.
    Open { rank: Rank, link: u64, deliver: Sender<Spare>, progress: Arc<LinkProgress> },
    /// Send a frame on `link` (dropped when the link is no longer current).
    Send { rank: Rank, link: u64, frame: Spare },
    /// Drop `link`: its receiver sees the end, the worker discards its queued frames.
    Kill { rank: Rank, link: u64 },
    /// The job is over: tell every worker, then return.
    End,
}

/// What rank 0 knows of a link's progress without asking the rank: a rank runs its
/// batches in order, so while batches are in flight, the first unanswered one is
/// running.
#[derive(Debug, Default)]
pub(crate) struct LinkProgress {
    /// Task batches sent and not answered.
    pub in_flight: AtomicU64,
    /// Items answered.
    pub done: AtomicU64,
}

impl LinkProgress {
    /// As the scheduler counts: the item after the answered ones has started when a
    /// batch is in flight.
    pub(crate) fn get(&self) -> Progress {
        let done = self.done.load(Ordering::Acquire);
        let running = self.in_flight.load(Ordering::Acquire) > 0;
        Progress {
            started: done + u64::from(running),
            finished: done,
            started_at_ns: 0,
            failed: None,
            busy_ns: None,
            limit: None,
        }
    }
}

/// The current link of a rank.
#[derive(Debug)]
struct Link {
    id: u64,
    deliver: Sender<Spare>,
    progress: Arc<LinkProgress>,
}

/// Rank 0's view of one worker rank.
#[derive(Debug, Default)]
struct Peer {
    /// The current link and where its replies go.
    link: Option<Link>,
    /// RESETs sent and not yet answered: replies before the answer are stale.
    stale: u32,
}

/// The hub's state: one peer per rank (index 0 unused).
struct Hub {
    peers: Vec<Peer>,
    journal: Option<Journal>,
}

/// Runs the MPI thread of rank 0 until [`Command::End`] or until every sender is gone.
pub(crate) fn run(
    world: &SimpleCommunicator,
    commands: &Receiver<Command>,
    journal: Option<Journal>,
) {
    let peers = (0..world.size()).map(|_| Peer::default()).collect();
    drive(world, &mut Hub { peers, journal }, commands);
}

impl Endpoint for Hub {
    type Local = Command;
    const PEER: Option<Rank> = None;

    /// Carries out one command; false for [`Command::End`].
    fn local(&mut self, world: &SimpleCommunicator, command: Command) -> bool {
        match command {
            Command::Open { rank, link, deliver, progress } => {
                self.peers[rank as usize].link = Some(Link { id: link, deliver, progress });
            }
            Command::Send { rank, link, frame } => {
                if let Some(current) =
                    self.peers[rank as usize].link.as_ref().filter(|l| l.id == link)
                {
                    if let Ok(Frame::Tasks(tasks)) = parse(&frame) {
                        current.progress.in_flight.fetch_add(1, Ordering::AcqRel);
                        if let Some(j) = &mut self.journal {
                            j.sent(rank, &tasks);
                        }
                    }
                    send(world, self, rank, FRAME, &frame);
                }
            }
            Command::Kill { rank, link } => {
                if self.current(rank) == Some(link) {
                    let peer = &mut self.peers[rank as usize];
                    peer.link = None;
                    peer.stale += 1;
                    if let Some(j) = &mut self.journal {
                        j.dropped(rank);
                    }
                    send(world, self, rank, RESET, &NOTHING);
                }
            }
            Command::End => return false,
        }
        true
    }

    /// A message from a worker rank.
    fn incoming(&mut self, buf: Spare, status: Status) {
        let rank = status.source_rank();
        let Some(peer) = self.peers.get_mut(rank as usize) else { return };
        match status.tag() {
            FRAME if peer.stale == 0 => {
                if let Some(link) = &peer.link {
                    if let Ok(Frame::Results(results)) = parse(&buf) {
                        link.progress.done.fetch_add(results.len() as u64, Ordering::AcqRel);
                        link.progress.in_flight.fetch_sub(1, Ordering::AcqRel);
                        if let Some(j) = &mut self.journal {
                            j.received(rank, &results);
                        }
                    }
                    let _ = link.deliver.send(buf);
                }
            }
            RESET_DONE => peer.stale = peer.stale.saturating_sub(1),
            CLOSED if peer.stale == 0 => peer.link = None,
            _ => {} // a stale reply, or a late hello
        }
    }
}

impl Hub {
    fn current(&self, rank: Rank) -> Option<u64> {
        self.peers.get(rank as usize)?.link.as_ref().map(|l| l.id)
    }
}
