//! Moving messages without deadlock, and waiting without burning a core.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use mpi::datatype::Equivalence;
use mpi::point_to_point::Status;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::{Rank, Tag};

/// One side of the MPI conversation, as its MPI thread sees it: messages from the
/// process's other threads (`Local`) and messages from other ranks.
pub(crate) trait Endpoint {
    /// What the process's other threads send this MPI thread.
    type Local;
    /// Where MPI messages come from (`None`: any rank).
    const PEER: Option<Rank>;
    /// Handles a local message (sending with [`send`]); false to stop.
    fn local(&mut self, world: &SimpleCommunicator, message: Self::Local) -> bool;
    /// Handles a message from another rank.
    fn incoming(&mut self, buf: Spare, status: Status);
    /// Whether another rank said to stop.
    fn ended(&self) -> bool {
        false
    }
}

/// Runs an MPI thread: local and MPI messages as they come, an [`Idle`] wait when
/// neither does, until `local` closes or the endpoint says stop.
pub(crate) fn drive<E: Endpoint>(
    world: &SimpleCommunicator,
    e: &mut E,
    local: &Receiver<E::Local>,
) {
    let mut idle = Idle::new();
    loop {
        let mut busy = false;
        loop {
            match local.try_recv() {
                Ok(message) => {
                    if !e.local(world, message) {
                        return;
                    }
                    busy = true;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
            }
        }
        while poll(world, e) {
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
                if !e.local(world, message) {
                    return;
                }
            }
            Ok(None) => {}
            Err(()) => return,
        }
    }
}

/// Sends `buf` to `dest`, handing every message that arrives meanwhile to `e`. Two ranks
/// each sending the other a large message (which MPI delivers only once the receiver
/// asks for it) would otherwise wait for each other forever.
pub(crate) fn send<E: Endpoint>(
    world: &SimpleCommunicator,
    e: &mut E,
    dest: Rank,
    tag: Tag,
    buf: &[u8],
) {
    mpi::request::scope(|scope| {
        let mut request = world.process_at_rank(dest).immediate_send_with_tag(scope, buf, tag);
        loop {
            match request.test() {
                Ok(_) => return,
                Err(pending) => {
                    request = pending;
                    if !poll(world, e) {
                        std::thread::yield_now();
                    }
                }
            }
        }
    });
}

/// Receives one waiting message for `e`, into a reused buffer, if there is one.
fn poll<E: Endpoint>(world: &SimpleCommunicator, e: &mut E) -> bool {
    let probed = match E::PEER {
        Some(rank) => world.process_at_rank(rank).immediate_matched_probe(),
        None => world.any_process().immediate_matched_probe(),
    };
    let Some((message, status)) = probed else { return false };
    let mut buf = Spare::zeroed(status.count(u8::equivalent_datatype()) as usize);
    let status = message.matched_receive_into(&mut buf.bytes[..]);
    e.incoming(buf, status);
    true
}

/// Buffers kept for reuse, per process: a frame as large as a recent one costs no
/// allocation and no fresh pages (16 MiB of fresh pages cost milliseconds here).
static SPARES: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// How many buffers are kept.
const KEEP: usize = 8;

/// A frame's bytes in a buffer that goes back to the spares when dropped.
#[derive(Debug)]
pub(crate) struct Spare {
    bytes: Vec<u8>,
}

impl Spare {
    /// An empty buffer with room for `len` bytes: the smallest spare that has it, else
    /// a new one.
    fn with_room(len: usize) -> Vec<u8> {
        let mut spares = SPARES.lock().unwrap_or_else(|e| e.into_inner());
        let fit = (0..spares.len())
            .filter(|&i| spares[i].capacity() >= len)
            .min_by_key(|&i| spares[i].capacity());
        let mut bytes = fit.map(|i| spares.swap_remove(i)).unwrap_or_default();
        bytes.clear();
        bytes
    }

    /// A buffer of `len` zeroed bytes, to receive into.
    fn zeroed(len: usize) -> Spare {
        let mut bytes = Spare::with_room(len);
        bytes.resize(len, 0);
        Spare { bytes }
    }

    /// A copy of a frame given as parts, part by part.
    pub(crate) fn copy<'a>(parts: impl Iterator<Item = &'a [u8]> + Clone) -> Spare {
        let mut bytes = Spare::with_room(parts.clone().map(<[u8]>::len).sum());
        for part in parts {
            bytes.extend_from_slice(part);
        }
        Spare { bytes }
    }
}

impl std::ops::Deref for Spare {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsRef<[u8]> for Spare {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        let mut spares = SPARES.lock().unwrap_or_else(|e| e.into_inner());
        if spares.len() < KEEP {
            spares.push(std::mem::take(&mut self.bytes));
        }
    }
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
