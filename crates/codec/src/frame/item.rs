//! [`ItemBuf`]: one item's answer at a time, for a transport that carries items one by
//! one (the pool worker's ring) instead of in frames.

use super::message::RemoteFailure;
use super::parts::FrameParts;
use crate::error::What;
use crate::out_of_band::{self, Segment};
use crate::value::encode;

/// Encodes one value (or one failure) at a time, keeping large [`Bytes`](crate::Bytes)
/// payloads by reference, as a [`FrameBuf::by_reference`](crate::FrameBuf::by_reference)
/// frame does: the transport copies them once, from where they are. Reused from item to
/// item without allocating, as long as it is not moved between them.
///
/// ```
/// use multiproc_codec::{decode, encode, Bytes, FailedItem, ItemBuf, RemoteFailure, What};
///
/// let mut item = ItemBuf::new();
/// let payload = Bytes::from(vec![7u8; 1 << 20]);
/// let parts = item.value(|out| encode(&payload, What::Result, out))?;
/// assert_eq!(parts.iter().nth(1).unwrap().as_ptr(), payload.as_ptr()); // not copied
/// let back: Bytes = decode(&parts.to_vec(), What::Result)?;
/// assert_eq!(back, payload);
///
/// let failed = item.failure(&RemoteFailure::Error("no".into())).to_vec();
/// assert_eq!(FailedItem::new(&failed).failure(), RemoteFailure::Error("no".into()));
/// # Ok::<(), multiproc_codec::CodecError>(())
/// ```
#[derive(Debug, Default)]
pub struct ItemBuf {
    bytes: Vec<u8>,
    segments: Vec<Segment>,
    /// `bytes` was noted as the buffer that takes payloads by reference.
    collecting: bool,
}

impl ItemBuf {
    /// An empty buffer.
    pub fn new() -> ItemBuf {
        ItemBuf::default()
    }

    /// Forgets the last item (and lets go of the payloads it held by reference).
    pub fn clear(&mut self) {
        self.bytes.clear();
        if !self.segments.is_empty() {
            self.segments.clear();
        }
    }

    /// Encodes one value with `write`: its parts, valid until the next call. If `write`
    /// fails, nothing is kept.
    #[inline]
    pub fn value<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<FrameParts<'_>, E> {
        self.clear();
        if !self.collecting {
            out_of_band::start(&self.bytes);
            self.collecting = true;
        }
        let written = write(&mut self.bytes);
        if out_of_band::recorded() {
            out_of_band::take_recorded(written.is_ok().then_some(&mut self.segments));
        }
        match written {
            Ok(()) => Ok(FrameParts { bytes: &self.bytes, segments: &self.segments }),
            Err(e) => {
                self.bytes.clear();
                Err(e)
            }
        }
    }

    /// Encodes one failure: its bytes, valid until the next call (read them back with
    /// [`FailedItem::new`](crate::FailedItem::new)).
    pub fn failure(&mut self, failure: &RemoteFailure) -> &[u8] {
        self.clear();
        // A RemoteFailure holds only strings and integers: encoding it cannot fail.
        if encode(failure, What::Message, &mut self.bytes).is_err() {
            self.bytes.clear();
        }
        &self.bytes
    }
}

impl Drop for ItemBuf {
    fn drop(&mut self) {
        out_of_band::stop(&self.bytes);
    }
}
