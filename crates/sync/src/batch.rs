//! The buffers of a lane's callers: [`Batch`], items encoded for a put (bytes one after
//! the other, descriptors beside), and [`Received`], items taken by a get, decoded one by
//! one (an item that fails to decode waits at the front, reported alone).

use std::collections::VecDeque;
use std::os::fd::OwnedFd;

use multiproc_codec::{CodecError, What};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::sys::socket::MAX_FDS;
use crate::travel::{self, Carried};

/// Items encoded for a put: their bytes one after the other, and their descriptors.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) bytes: Vec<u8>,
    pub(crate) items: Vec<Piece>,
    pub(crate) carried: Carried,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Piece {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) fds: (usize, usize),
}

impl Batch {
    /// Encodes one more item.
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, item: &T) -> Result<(), CodecError> {
        let (start, first) = (self.bytes.len(), self.carried.fds.len());
        travel::encode(item, What::Item, &mut self.bytes, &mut self.carried)?;
        let last = self.carried.fds.len();
        if last - first > MAX_FDS {
            self.bytes.truncate(start);
            self.carried.fds.truncate(first);
            return Err(CodecError::new(
                multiproc_codec::Op::Encode,
                What::Item,
                std::any::type_name::<T>(),
                format!("an item carries at most {MAX_FDS} descriptors (about 60 handles)"),
            ));
        }
        self.items.push(Piece { start, end: self.bytes.len(), fds: (first, last) });
        Ok(())
    }

    /// Adds raw bytes as one more item (no encoding: `send_bytes`).
    pub(crate) fn push_raw(&mut self, bytes: &[u8]) {
        let (start, first) = (self.bytes.len(), self.carried.fds.len());
        self.bytes.extend_from_slice(bytes);
        self.items.push(Piece { start, end: self.bytes.len(), fds: (first, first) });
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
        self.carried.clear();
    }
}

/// Items taken by a get, in order: their bytes and the descriptors that came with each.
#[derive(Debug, Default)]
pub(crate) struct Received {
    pub(crate) bytes: Vec<u8>,
    pub(crate) items: VecDeque<Slot>,
}

/// One item taken.
#[derive(Debug)]
pub(crate) enum Slot {
    /// `bytes[start..end]` of the batch it came in.
    Span(usize, usize, Vec<OwnedFd>),
    /// Its own bytes (kept for a later call).
    Owned(Vec<u8>, Vec<OwnedFd>),
    /// An item that failed to decode, to report on the next call.
    Failed(CodecError),
}

impl Received {
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
    }

    /// Takes up to `max` items from the front, decoded.
    pub(crate) fn decode_front<T: DeserializeOwned>(
        &mut self,
        max: usize,
    ) -> impl Iterator<Item = Result<T, CodecError>> + '_ {
        (0..max).map_while(move |_| {
            Some(match self.items.pop_front()? {
                Slot::Span(start, end, fds) => {
                    travel::decode(&self.bytes[start..end], What::Item, fds)
                }
                Slot::Owned(bytes, fds) => travel::decode(&bytes, What::Item, fds),
                Slot::Failed(e) => Err(e),
            })
        })
    }

    /// Takes the front item's raw bytes (its descriptors, if any, are closed).
    pub(crate) fn pop_raw(&mut self) -> Option<Result<Vec<u8>, CodecError>> {
        Some(match self.items.pop_front()? {
            Slot::Span(start, end, _) => Ok(self.bytes[start..end].to_vec()),
            Slot::Owned(bytes, _) => Ok(bytes),
            Slot::Failed(e) => Err(e),
        })
    }

    /// Puts a decoding error back at the front, to report first.
    pub(crate) fn push_front_error(&mut self, e: CodecError) {
        self.items.push_front(Slot::Failed(e));
    }

    /// Moves every item of `other` in front of this one's, copying their bytes out of
    /// `other`'s buffer.
    pub(crate) fn prepend(&mut self, other: &mut Received) {
        while let Some(slot) = other.items.pop_back() {
            let slot = match slot {
                Slot::Span(start, end, fds) => Slot::Owned(other.bytes[start..end].to_vec(), fds),
                owned => owned,
            };
            self.items.push_front(slot);
        }
        other.clear();
    }
}
