//! Large payloads kept by reference while a frame is built: the frame's other bytes are
//! encoded as usual, and a large [`Bytes`] is recorded as a *segment* — where it goes in
//! the frame, and the buffer itself — instead of being copied in.
//!
//! A frame then costs one copy of its payload (into the transport's shared memory, by
//! the sender, from the segment itself) where it cost two (into the frame, then into
//! shared memory): at 16 MiB that is 2 ms of memory bandwidth saved on each side a large
//! payload crosses.
//!
//! How a `Bytes` reaches the encoder by reference: serde hands the encoder only a
//! `&[u8]`. So a [`FrameBuf`](crate::FrameBuf) that takes segments notes, for this thread,
//! which buffer is *collecting* while it builds a frame; `Bytes::serialize` *offers* itself
//! (a clone, which shares the buffer) just before it calls `serialize_bytes`; and the
//! encoder takes the offer when it writes into the collecting buffer and the bytes it is
//! given are the offered ones. Any other serializer, or the encoder writing anywhere else
//! (a plain `encode` inside a `Serialize` impl), sees a plain `serialize_bytes`. The note
//! is made once per frame, and per item the frame only checks whether anything was
//! recorded: a large payload costs its bookkeeping, a small item one load.
//!
//! A frame that is moved after it began, or whose thread begins another frame before this
//! one is finished, stops collecting: its payloads are then copied, as by a frame that
//! never collects — slower, never wrong.

use std::cell::{Cell, RefCell};

use crate::bytes::Bytes;

/// Payloads smaller than this are copied into the frame: a segment is worth its
/// bookkeeping (and a part of its own to send) only for large ones.
pub(crate) const SEGMENT_MIN: usize = 64 << 10;

/// Where a segment goes in a frame (the length of the frame's own bytes before it), and
/// its bytes.
pub(crate) type Segment = (usize, Bytes);

thread_local! {
    /// The address of the buffer an item is being encoded into, when its frame takes
    /// segments; 0 when none.
    static COLLECTING: Cell<usize> = const { Cell::new(0) };
    /// Segments recorded, in order, until the frame that collects them takes them.
    static RECORDED: RefCell<Vec<Segment>> = const { RefCell::new(Vec::new()) };
    /// How many there are (read without touching the vector).
    static RECORDED_LEN: Cell<usize> = const { Cell::new(0) };
    /// A `Bytes` about to be serialized, offered as a segment.
    static OFFERED: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Notes `buf` as the buffer collecting segments on this thread (a frame begins in it),
/// dropping whatever an earlier frame left recorded.
pub(crate) fn start(buf: &Vec<u8>) {
    COLLECTING.set(address(buf));
    if RECORDED_LEN.get() != 0 {
        take_recorded(None);
    }
}

/// `buf` no longer collects (its frame is finished, or it is dropped).
#[inline]
pub(crate) fn stop(buf: &Vec<u8>) {
    if COLLECTING.get() == address(buf) {
        COLLECTING.set(0);
    }
}

/// Whether segments were recorded since they were last taken: one load.
#[inline(always)]
pub(crate) fn recorded() -> bool {
    RECORDED_LEN.get() != 0
}

/// Moves the segments recorded into `into`, or drops them.
#[cold]
pub(crate) fn take_recorded(into: Option<&mut Vec<Segment>>) {
    RECORDED.with_borrow_mut(|recorded| match into {
        Some(into) => into.append(recorded),
        None => recorded.clear(),
    });
    RECORDED_LEN.set(0);
}

/// Runs `serialize` with `bytes` offered as a segment, if a frame collects them here
/// and it is large enough.
#[inline]
pub(crate) fn offer<R>(bytes: &Bytes, serialize: impl FnOnce() -> R) -> R {
    if bytes.len() < SEGMENT_MIN || COLLECTING.get() == 0 {
        return serialize();
    }
    OFFERED.with_borrow_mut(|o| *o = Some(bytes.clone()));
    let out = serialize();
    OFFERED.with_borrow_mut(|o| *o = None);
    out
}

/// The encoder, given `data` to write at the end of `out`: records it as a segment if
/// `out` is collecting and `data` is the offered `Bytes`. True if it did (then only the
/// length is to be written).
#[inline]
pub(crate) fn take(data: &[u8], out: &Vec<u8>) -> bool {
    if data.len() < SEGMENT_MIN || COLLECTING.get() != address(out) {
        return false;
    }
    let at = out.len();
    let Some(bytes) = OFFERED
        .with_borrow_mut(|o| o.take_if(|b| b.as_ptr() == data.as_ptr() && b.len() == data.len()))
    else {
        return false;
    };
    RECORDED.with_borrow_mut(|recorded| recorded.push((at, bytes)));
    RECORDED_LEN.set(RECORDED_LEN.get() + 1);
    true
}

/// Where a buffer is (only compared, never dereferenced).
#[inline(always)]
fn address(buf: &Vec<u8>) -> usize {
    std::ptr::from_ref(buf) as usize
}
