//! Moving messages without deadlock, and waiting without burning a core.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use mpi::point_to_point::Status;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::{Rank, Tag};

/// What happens to a message that arrives while we wait.
pub(crate) type Incoming<'a> = dyn FnMut(Vec<u8>, Status) + 'a;

/// Sends `buf` to `dest`, handing every message that arrives meanwhile (from `from`, or
/// from anyone) to `incoming`. Two ranks each sending the other a large message (which
/// MPI delivers only once the receiver asks for it) would otherwise wait for each other
/// forever.
pub(crate) fn send_draining(
    world: &SimpleCommunicator,
    dest: Rank,
    tag: Tag,
    buf: &[u8],
    from: Option<Rank>,
    incoming: &mut Incoming<'_>,
) {
    mpi::request::scope(|scope| {
        let mut request = world.process_at_rank(dest).immediate_send_with_tag(scope, buf, tag);
        loop {
            match request.test() {
                Ok(_) => return,
                Err(pending) => {
                    request = pending;
                    if !poll(world, from, incoming) {
                        std::thread::yield_now();
                    }
                }
            }
        }
    });
}

/// Receives one waiting message (from `from`, or from anyone) if there is one.
pub(crate) fn poll(
    world: &SimpleCommunicator,
    from: Option<Rank>,
    incoming: &mut Incoming<'_>,
) -> bool {
    let probed = match from {
        Some(rank) => world.process_at_rank(rank).immediate_matched_probe(),
        None => world.any_process().immediate_matched_probe(),
    };
    match probed {
        Some((message, status)) => {
            let (buf, status) = (message, status).matched_receive_vec::<u8>();
            incoming(buf, status);
            true
        }
        None => false,
    }
}

/// How long a thread that waits for the next local message polls before it sleeps: a
/// reply usually follows within tens of microseconds, and waking a sleeping thread costs
/// as much on a busy machine.
const SPIN: Duration = Duration::from_micros(50);

/// Receives from a local channel, polling for [`SPIN`] before blocking; `Err` once the
/// channel is closed.
pub(crate) fn recv_spin<T>(local: &Receiver<T>) -> Result<T, ()> {
    let start = Instant::now();
    loop {
        match local.try_recv() {
            Ok(v) => return Ok(v),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(()),
            Err(std::sync::mpsc::TryRecvError::Empty) if start.elapsed() < SPIN => {
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
