//! Rank 0's side of the worker ranks. The pool's threads send frames themselves, each
//! under its rank's send lock; rank 0's MPI thread receives every rank's replies and
//! hands them to the rank's current link.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use mpi::topology::SimpleCommunicator;
use mpi::{Rank, Tag};
use multiproc_codec::{Frame, parse, task_header};
use multiproc_pool::{ItemRange, Lost, Progress};

use crate::journal::Journal;
use crate::protocol::{CLOSED, END, END_ACK, FRAME, RESET, RESET_DONE};
use crate::spare::Spare;
use crate::transport::{Endpoint, Inbox, drive, poll};
use crate::wire::{Gate, send_control, send_frame};

/// What rank 0's MPI thread is told by the other threads.
#[derive(Debug)]
pub(crate) enum Command {
    /// Something was sent: a reply is due soon (poll hard).
    Wake,
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

/// The current link of a rank, as the MPI thread delivers to it.
#[derive(Debug)]
struct Link {
    deliver: Sender<Spare>,
    progress: Arc<LinkProgress>,
}

/// Where a rank's replies go.
#[derive(Debug, Default)]
struct Inbound {
    link: Option<Link>,
    /// RESETs sent and not yet answered: replies before the answer are stale.
    stale: u32,
}

/// Rank 0's view of one worker rank.
#[derive(Debug, Default)]
struct Peer {
    /// The link frames go out on. Held while sending: one frame's messages at a time.
    out: Mutex<Option<u64>>,
    inbound: Mutex<Inbound>,
}

/// Every worker rank's links, shared by rank 0's threads.
#[derive(Debug)]
pub(crate) struct Links {
    /// By rank (index 0 unused).
    peers: Vec<Peer>,
    gate: Gate,
    journal: Option<Mutex<Journal>>,
    panicked: AtomicBool,
    wake: Sender<Command>,
}

impl Links {
    /// The links of a job of `size` ranks.
    pub(crate) fn new(size: usize, journal: Option<Journal>, wake: Sender<Command>) -> Links {
        Links {
            peers: (0..size).map(|_| Peer::default()).collect(),
            gate: Gate::open(),
            journal: journal.map(Mutex::new),
            panicked: AtomicBool::new(false),
            wake,
        }
    }

    fn peer(&self, rank: Rank) -> &Peer {
        &self.peers[rank as usize]
    }

    /// `rank`'s replies go to a new link from now on, and its frames go out on it.
    pub(crate) fn open(
        &self,
        rank: Rank,
        id: u64,
        deliver: Sender<Spare>,
        progress: Arc<LinkProgress>,
    ) {
        let peer = self.peer(rank);
        let mut out = lock(&peer.out);
        lock(&peer.inbound).link = Some(Link { deliver, progress });
        *out = Some(id);
    }

    /// Sends a frame to `rank` on link `id` (dropped when the link is no longer
    /// current); a task batch holds the job items `held`. `Err(Lost)` once the job has
    /// ended.
    pub(crate) fn send(
        &self,
        rank: Rank,
        id: u64,
        progress: &LinkProgress,
        parts: &[&[u8]],
        held: &[ItemRange],
    ) -> Result<(), Lost> {
        let out = lock(&self.peer(rank).out);
        if *out != Some(id) {
            return Ok(());
        }
        if let Some((batch, items)) = parts.first().and_then(|head| task_header(head)) {
            progress.in_flight.fetch_add(1, Ordering::AcqRel);
            self.note(|j| j.sent(rank, batch, items, held));
        }
        self.gate.pass(|| send_frame(rank, parts)).ok_or(Lost)?;
        drop(out);
        let _ = self.wake.send(Command::Wake);
        Ok(())
    }

    /// Tells the MPI thread to end the job (the world is dropped).
    pub(crate) fn end(&self) {
        let _ = self.wake.send(Command::End);
    }

    /// Drops link `id` of `rank`: its receiver sees the end, and the rank discards the
    /// link's queued frames.
    pub(crate) fn kill(&self, rank: Rank, id: u64) {
        let peer = self.peer(rank);
        let mut out = lock(&peer.out);
        if *out != Some(id) {
            return;
        }
        *out = None;
        {
            // Before RESET goes: its answer must find it counted.
            let mut inbound = lock(&peer.inbound);
            inbound.link = None;
            inbound.stale += 1;
        }
        self.note(|j| j.dropped(rank));
        let _ = self.gate.pass(|| send_control(rank, RESET));
    }

    /// Rank 0 panicked (first time only): the journal keeps what was in flight then.
    /// Never waits: the panicking thread may hold the journal.
    pub(crate) fn panicked(&self, message: &str) {
        if let Some(journal) = &self.journal
            && !self.panicked.swap(true, Ordering::AcqRel)
            && let Ok(mut j) = journal.try_lock()
        {
            j.panicked(message);
        }
    }

    fn note(&self, write: impl FnOnce(&mut Journal)) {
        if let Some(journal) = &self.journal {
            write(&mut lock(journal));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rank 0's MPI thread: hands replies to their links until [`Command::End`] (or until
/// every sender is gone).
pub(crate) fn run(world: &SimpleCommunicator, links: &Links, commands: &Receiver<Command>) {
    drive(world, &mut Hub { links }, commands);
}

/// Ends the job: no more sends, END to every worker rank, and their last messages read
/// until each has said END_ACK.
pub(crate) fn end(world: &SimpleCommunicator, links: &Links) {
    links.gate.close();
    let workers = links.peers.len().saturating_sub(1);
    for rank in 1..links.peers.len() {
        send_control(rank as Rank, END);
    }
    let mut drain = Drain { acks: 0 };
    let mut inbox = Inbox::default();
    while drain.acks < workers {
        if !poll(world, &mut drain, &mut inbox) {
            std::thread::yield_now();
        }
    }
}

/// The hub: the MPI thread's receiving end.
struct Hub<'a> {
    links: &'a Links,
}

impl Endpoint for Hub<'_> {
    type Local = Command;
    const PEER: Option<Rank> = None;

    fn local(&mut self, command: Command) -> bool {
        matches!(command, Command::Wake)
    }

    /// A message from a worker rank.
    fn incoming(&mut self, rank: Rank, tag: Tag, buf: Spare) {
        let Some(peer) = self.links.peers.get(rank as usize) else { return };
        let mut inbound = lock(&peer.inbound);
        match tag {
            FRAME if inbound.stale == 0 => {
                if let Some(link) = &inbound.link {
                    if let Ok(Frame::Results(results)) = parse(&buf) {
                        link.progress.done.fetch_add(results.len() as u64, Ordering::AcqRel);
                        link.progress.in_flight.fetch_sub(1, Ordering::AcqRel);
                        self.links.note(|j| j.received(rank, results.batch()));
                    }
                    let _ = link.deliver.send(buf);
                }
            }
            RESET_DONE => inbound.stale = inbound.stale.saturating_sub(1),
            CLOSED if inbound.stale == 0 => inbound.link = None,
            _ => {} // a stale reply, or a late hello
        }
    }
}

/// Rank 0 after END: counts the workers' END_ACKs, dropping whatever came before them.
struct Drain {
    acks: usize,
}

impl Endpoint for Drain {
    type Local = ();
    const PEER: Option<Rank> = None;

    fn local(&mut self, (): ()) -> bool {
        true
    }

    fn incoming(&mut self, _: Rank, tag: Tag, _: Spare) {
        if tag == END_ACK {
            self.acks += 1;
        }
    }
}
