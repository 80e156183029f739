//! Sending, from whatever thread has the frame: MPI runs with `MPI_THREAD_MULTIPLE`, so a
//! frame goes out from where its parts lie (no copy into a send buffer), in the
//! [`Shape`] that [`pieces`](crate::pieces) chooses. Receiving stays on each process's MPI
//! thread ([`transport`](crate::transport)), which is always ready: a send waits only for
//! the peer's MPI thread, never for its tasks.

use std::cell::RefCell;
use std::sync::RwLock;

use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::{Rank, Tag};

use crate::pieces::{Shape, max_message, pieces, shape};
use crate::protocol::{FRAME, HEAD, NOTHING, PIECE};

/// Whether MPI may still be called: senders pass while it is open; the MPI thread closes
/// it (waiting for the sends under way) before it ends the job and finalizes MPI.
#[derive(Debug)]
pub(crate) struct Gate(RwLock<bool>);

impl Gate {
    pub(crate) fn open() -> Gate {
        Gate(RwLock::new(true))
    }

    /// Runs `send` unless the gate is closed (`None` then).
    pub(crate) fn pass<R>(&self, send: impl FnOnce() -> R) -> Option<R> {
        let open = self.0.read().unwrap_or_else(|e| e.into_inner());
        open.then(send)
    }

    /// Closes the gate once the sends under way are done.
    pub(crate) fn close(&self) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = false;
    }
}

thread_local! {
    /// Where a small frame's parts are gathered, per sending thread.
    static GATHERED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Sends the frame made of `parts` to `dest`, returning once MPI is done with the parts
/// (for a large frame: once the peer's MPI thread has received it).
pub(crate) fn send_frame(dest: Rank, parts: &[&[u8]]) {
    let limit = max_message();
    match shape(parts, limit) {
        Shape::Whole => {
            let part = parts.iter().find(|p| !p.is_empty()).copied().unwrap_or(&[]);
            send(dest, part, FRAME);
        }
        Shape::Gathered => GATHERED.with_borrow_mut(|buf| {
            buf.clear();
            for part in parts {
                buf.extend_from_slice(part);
            }
            send(dest, buf, FRAME);
        }),
        Shape::Pieces => {
            let len: usize = parts.iter().map(|p| p.len()).sum();
            send(dest, &(len as u64).to_le_bytes(), HEAD);
            for piece in pieces(parts, limit) {
                send(dest, piece, PIECE);
            }
        }
    }
}

/// Sends the control message `tag` (no body) to `dest`.
pub(crate) fn send_control(dest: Rank, tag: Tag) {
    send(dest, &NOTHING, tag);
}

/// Sends one message, yielding the core while the peer has not taken it: on a machine
/// with fewer cores than busy threads, a send that spins starves the very thread that
/// would receive it.
fn send(dest: Rank, buf: &[u8], tag: Tag) {
    let world = SimpleCommunicator::world();
    let to = world.process_at_rank(dest);
    mpi::request::scope(|scope| {
        let mut request = to.immediate_send_with_tag(scope, buf, tag);
        loop {
            match request.test() {
                Ok(_) => return,
                Err(pending) => {
                    request = pending;
                    std::thread::yield_now();
                }
            }
        }
    });
}
