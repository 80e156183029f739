//! The frames the scheduler moves: task batches, result batches and control messages.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! header   magic "MPRC" | version | kind | flags | 0 | count u32 | payload_len u32 | batch u64
//!          tasks only: target i64 | trampoline i64 | types u64 | tag u64
//! payload  the items' encodings back to back (control: one encoded message)
//! ends     count x u32: where each item ends inside the payload
//! status   results only: count x u8 (0 = value, 1 = encoded RemoteFailure)
//! checksum u64 over header, tables (and a control payload)
//! ```
//!
//! A batch is built in one reusable buffer ([`FrameBuf`]) with no allocation per item, and
//! read in place ([`parse`]) with no copy: an item is a slice of the received frame. The
//! checksum covers everything that gives the frame its structure, so a truncated or
//! corrupted frame is rejected before any item is looked at; item payloads are user data
//! whose integrity the transport guarantees and whose validity `decode` checks.

mod args;
mod build;
mod item;
mod message;
mod parts;
mod read;

use crate::hash::Hasher64;

pub use args::{Args, ArgsBuf, FRAME_LIMIT, TaskFramer, TooLarge};
pub use build::FrameBuf;
pub use item::ItemBuf;
pub use message::{Control, RemoteFailure};
pub use parts::{FrameParts, OwnedFrame, Parts};
pub use read::{
    FailedItem, Frame, ItemOutcome, ResultFrame, TaskFrame, Values, parse, task_header,
};

pub(super) const MAGIC: &[u8; 4] = b"MPRC";
pub(super) const VERSION: u8 = 3;
pub(super) const KIND_TASKS: u8 = 1;
pub(super) const KIND_RESULTS: u8 = 2;
pub(super) const KIND_CONTROL: u8 = 3;
pub(super) const BASE_HEADER: usize = 24;
pub(super) const TASK_HEADER: usize = 56;
pub(super) const STATUS_OK: u8 = 0;
pub(super) const STATUS_FAILED: u8 = 1;
/// Task frames, byte 6: the worker claims the items one by one (see
/// [`TaskFrame::revocable`]).
pub(super) const FLAG_REVOCABLE: u8 = 1;

pub(super) fn checksum(header: &[u8], tables: &[u8]) -> u64 {
    let mut h = Hasher64::new();
    h.write(header);
    h.write(tables);
    h.finish()
}

#[inline]
pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}
