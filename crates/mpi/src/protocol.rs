//! The messages between rank 0 and the worker ranks: the frames of `multiproc-codec`,
//! told apart from a few one-byte control messages by their MPI tag.
//!
//! ```text
//! start-up:    0 --KEY--> worker            (rank 0's function key: the worker runs only
//!                                            the function identities rank 0 tagged)
//!              worker --HELLO--> 0          (rank, pid, host, binary fingerprint)
//! work:        0 --FRAME--> worker --FRAME--> 0   (task batch / initializer, and its reply)
//!              a large frame: --HEAD--> (its length) then --PIECE-->... (its bytes)
//! kill a link: 0 --RESET--> worker --RESET_DONE--> 0   (nothing of the old link follows)
//! pool ends:   worker --CLOSED--> 0          (after the pool's Shutdown frame)
//! job ends:    0 --END--> worker --END_ACK--> 0   (after the worker's last send; then it
//!                                                  finalizes MPI and exits 0)
//! ```
//!
//! MPI keeps the order of messages between two ranks, which is what makes RESET_DONE and
//! CLOSED mean "nothing older follows", and lets pieces follow their head. Each side
//! sends to a peer from one thread at a time (rank 0: under the peer's send lock; a
//! worker: from its task thread), so a frame's pieces are never interleaved with
//! another message.

use mpi::Tag;
use multiproc_codec::BinaryFingerprint;
use serde::{Deserialize, Serialize};

/// A worker's first message.
pub(crate) const HELLO: Tag = 1;
/// A frame, in either direction.
pub(crate) const FRAME: Tag = 2;
/// Rank 0 dropped the worker's current link: discard queued frames, then answer.
pub(crate) const RESET: Tag = 3;
/// Everything the worker sends after this belongs to its next link.
pub(crate) const RESET_DONE: Tag = 4;
/// The worker served its link's Shutdown frame.
pub(crate) const CLOSED: Tag = 5;
/// The job is over.
pub(crate) const END: Tag = 6;
/// Rank 0's function key, first thing.
pub(crate) const KEY: Tag = 7;
/// A large frame follows in pieces: its length (8 bytes, little-endian).
pub(crate) const HEAD: Tag = 8;
/// The next piece of the frame announced by the last HEAD.
pub(crate) const PIECE: Tag = 9;
/// The worker has sent its last message: rank 0 may finalize MPI.
pub(crate) const END_ACK: Tag = 10;

/// The body of a control message (MPI does not deliver empty messages to every API).
pub(crate) const NOTHING: [u8; 1] = [0];

/// Who a worker rank is, sent once at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub pid: u32,
    pub host: String,
    pub binary: BinaryFingerprint,
}
