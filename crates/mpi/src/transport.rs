//! Receiving on a process's MPI thread: messages from other ranks as they come (a large
//! frame's pieces put together where they go), messages from the process's other threads
//! between them, and a wait that does not burn a core when nothing happens.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use mpi::datatype::Equivalence;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::{Rank, Tag};

use crate::pieces::Assembly;
use crate::protocol::{FRAME, HEAD, PIECE};
use crate::spare::Spare;

/// One side of the MPI conversation, as its MPI thread sees it: messages from the
/// process's other threads (`Local`) and messages from other ranks.
pub(crate) trait Endpoint {
    /// What the process's other threads send this MPI thread.
    type Local;
    /// Where MPI messages come from (`None`: any rank).
    const PEER: Option<Rank>;
    /// Handles a local message; false to stop.
    fn local(&mut self, message: Self::Local) -> bool;
    /// Handles a message from rank `source` (a frame, whole, as [`FRAME`]).
    fn incoming(&mut self, source: Rank, tag: Tag, body: Spare);
    /// Whether another rank said to stop.
    fn ended(&self) -> bool {
        false
    }
}

/// Frames arriving in pieces, by source rank.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    assemblies: Vec<Option<Assembly>>,
}

/// Runs an MPI thread: local and MPI messages as they come, an [`Idle`] wait when
/// neither does, until `local` closes or the endpoint says stop.
pub(crate) fn drive<E: Endpoint>(
    world: &SimpleCommunicator,
    e: &mut E,
    local: &Receiver<E::Local>,
) {
    let mut idle = Idle::new();
    let mut inbox = Inbox::default();
    loop {
        let mut busy = false;
        loop {
            match local.try_recv() {
                Ok(message) => {
                    if !e.local(message) {
                        return;
                    }
                    busy = true;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
            }
        }
        while poll(world, e, &mut inbox) {
            busy = true;
        }
        if e.ended() {
            return;
        }
        if busy {
            idle.active();
            continue;
        }
        match idle.wait(local) {
            Ok(Some(message)) => {
                idle.active();
                if !e.local(message) {
                    return;
                }
            }
            Ok(None) => {}
            Err(()) => return,
        }
    }
}

/// Receives one waiting message for `e`, if there is one: a frame or control message
/// into a reused buffer, a piece straight into its frame.
///
/// # Panics
///
/// When a peer breaks the protocol (a piece with no frame announced, or past its end):
/// the MPI thread's panic ends the job.
pub(crate) fn poll<E: Endpoint>(world: &SimpleCommunicator, e: &mut E, inbox: &mut Inbox) -> bool {
    let probed = match E::PEER {
        Some(rank) => world.process_at_rank(rank).immediate_matched_probe(),
        None => world.any_process().immediate_matched_probe(),
    };
    let Some((message, status)) = probed else { return false };
    let source = status.source_rank();
    let len = status.count(u8::equivalent_datatype()) as usize;
    let slot = source as usize;
    if inbox.assemblies.len() <= slot {
        inbox.assemblies.resize_with(slot + 1, || None);
    }
    match status.tag() {
        HEAD => {
            let mut head = [0u8; 8];
            message.matched_receive_into(&mut head[..]);
            inbox.assemblies[slot] = Some(Assembly::new(u64::from_le_bytes(head) as usize));
        }
        PIECE => {
            // A broken piece is taken before the panic: a matched message may not be
            // dropped unreceived.
            let Some(assembly) = inbox.assemblies[slot].as_mut() else {
                message.matched_receive_into(Spare::for_len(len).bytes_mut());
                panic!("rank {source} sent a piece of a frame it did not announce");
            };
            match assembly.slot(len) {
                Ok(into) => {
                    message.matched_receive_into(into);
                }
                Err(overflow) => {
                    message.matched_receive_into(Spare::for_len(len).bytes_mut());
                    panic!("rank {source} sent {overflow}");
                }
            }
            if let Some(assembly) = inbox.assemblies[slot].take() {
                match assembly.finished() {
                    Ok(frame) => e.incoming(source, FRAME, frame),
                    Err(assembly) => inbox.assemblies[slot] = Some(assembly),
                }
            }
        }
        tag => {
            let mut buf = Spare::for_len(len);
            message.matched_receive_into(buf.bytes_mut());
            e.incoming(source, tag, buf);
        }
    }
    true
}

/// How long a thread that waits for a local message due soon polls before it sleeps: a
/// reply usually follows within tens of microseconds, and waking a sleeping thread costs
/// as much on a busy machine.
pub(crate) const SPIN: Duration = Duration::from_micros(50);

/// Receives from a local channel, polling for `spin` before blocking; `Err` once the
/// channel is closed.
pub(crate) fn recv_spin<T>(local: &Receiver<T>, spin: Duration) -> Result<T, ()> {
    let start = Instant::now();
    loop {
        match local.try_recv() {
            Ok(v) => return Ok(v),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(()),
            Err(std::sync::mpsc::TryRecvError::Empty) if start.elapsed() < spin => {
                std::thread::yield_now();
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => return local.recv().map_err(|_| ()),
        }
    }
}

/// How a thread that polls MPI and a channel waits when nothing happens: it polls hard
/// right after activity (replies follow requests within microseconds), then sleeps in
/// growing steps on the channel, so a local message still wakes it at once.
#[derive(Debug)]
pub(crate) struct Idle {
    since: Option<Instant>,
}

/// How long to poll without sleeping after the last activity.
const HOT: Duration = Duration::from_micros(200);
/// The longest sleep between two polls of MPI.
const COLD: Duration = Duration::from_micros(250);

impl Idle {
    pub(crate) fn new() -> Idle {
        Idle { since: None }
    }

    /// Something happened: poll hard again.
    pub(crate) fn active(&mut self) {
        self.since = None;
    }

    /// Nothing happened in the last round: waits a little on `local`; returns what it
    /// received, or `Err` when `local` is closed.
    pub(crate) fn wait<T>(&mut self, local: &Receiver<T>) -> Result<Option<T>, ()> {
        let since = *self.since.get_or_insert_with(Instant::now);
        let idle = since.elapsed();
        if idle < HOT {
            std::thread::yield_now();
            return match local.try_recv() {
                Ok(v) => Ok(Some(v)),
                Err(std::sync::mpsc::TryRecvError::Empty) => Ok(None),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(()),
            };
        }
        match local.recv_timeout((idle / 4).min(COLD)) {
            Ok(v) => Ok(Some(v)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(()),
        }
    }
}
