//! [`Bytes`]: a byte buffer that crosses the boundary as one block, and that a receiver
//! reads in place instead of copying.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::out_of_band;
use crate::shared::SharedFrame;

/// A byte buffer for payloads: one block on the wire, one copy to cross, no copy to read.
///
/// serde encodes a plain `Vec<u8>` element by element, which is measured 25-30x slower
/// than a raw copy for large payloads; `Bytes` goes through `serialize_bytes`: a length
/// and one block. A large `Bytes` (64 KiB and up) is also never copied into the frame that
/// carries it: the frame keeps a reference and the transport copies it straight into
/// memory shared with the other process. And where a plain `Vec<u8>` is copied out of the
/// frame it arrived in, a large `Bytes` decoded from a [`SharedFrame`] (as pool workers
/// and the pool's results are) reads that frame in place: [`is_shared`](Self::is_shared)
/// says so.
///
/// Cloning a `Bytes` shares its buffer; the first write to a shared one
/// ([`as_mut_vec`](Self::as_mut_vec), `DerefMut`) copies it, and
/// [`into_vec`](Self::into_vec) copies only a buffer that is shared. Dropping the last
/// reference to a received frame releases it.
///
/// ```
/// use multiproc_codec::{decode, encode, Bytes, What};
///
/// let payload = Bytes::from(vec![7u8; 1 << 20]);
/// let mut buf = Vec::new();
/// encode(&payload, What::Argument, &mut buf)?;
/// assert_eq!(buf.len(), 4 + (1 << 20)); // the length (a tag and 3 bytes), then the bytes
/// let mut back: Bytes = decode(&buf, What::Argument)?;
/// assert_eq!(back, payload);
/// back.as_mut_vec().push(8);
/// assert_eq!(back.len(), (1 << 20) + 1);
/// # Ok::<(), multiproc_codec::CodecError>(())
/// ```
#[derive(Clone, Default)]
pub struct Bytes(Repr);

#[derive(Clone)]
enum Repr {
    /// A buffer of this process; clones share it.
    Owned(Arc<Vec<u8>>),
    /// `len` bytes of `frame` from `start`.
    Shared { frame: SharedFrame, start: usize, len: usize },
}

impl Default for Repr {
    fn default() -> Repr {
        Repr::Owned(Arc::default())
    }
}

impl Bytes {
    /// An empty buffer.
    pub fn new() -> Bytes {
        Bytes::default()
    }

    /// Whether these bytes are read in place from a received frame (no copy was made).
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Repr::Shared { .. })
    }

    /// The bytes as a vector to modify; a buffer shared with a clone or a received frame is
    /// copied first.
    pub fn as_mut_vec(&mut self) -> &mut Vec<u8> {
        if let Repr::Shared { .. } = self.0 {
            self.0 = Repr::Owned(Arc::new(self.as_slice().to_vec()));
        }
        match &mut self.0 {
            Repr::Owned(v) => Arc::make_mut(v),
            Repr::Shared { .. } => unreachable!("made owned above"),
        }
    }

    /// The bytes as a vector: free unless the buffer is shared (with a clone, a frame being
    /// sent or a received frame); then one copy.
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Owned(v) => Arc::try_unwrap(v).unwrap_or_else(|v| (*v).clone()),
            Repr::Shared { .. } => self.as_slice().to_vec(),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Shared { frame, start, len } => &frame[*start..*start + *len],
        }
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = if self.is_shared() { ", shared" } else { "" };
        write!(f, "Bytes({} bytes{shared})", self.len())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes(Repr::Owned(Arc::new(v)))
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Bytes {
        Bytes::from(v.to_vec())
    }
}

impl From<Bytes> for Vec<u8> {
    fn from(b: Bytes) -> Vec<u8> {
        b.into_vec()
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_vec()
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Bytes {}

impl PartialOrd for Bytes {
    fn partial_cmp(&self, other: &Bytes) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bytes {
    fn cmp(&self, other: &Bytes) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for Bytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Into a frame that takes segments, a large buffer goes by reference.
        out_of_band::offer(self, || s.serialize_bytes(self))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte buffer")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(match SharedFrame::lent_range(v) {
            Some((frame, start)) => Bytes(Repr::Shared { frame, start, len: v.len() }),
            None => Bytes::from(v),
        })
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(b) = seq.next_element()? {
            v.push(b);
        }
        Ok(Bytes::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{What, decode, encode};

    fn framed(len: usize) -> SharedFrame {
        let mut frame = Vec::new();
        encode(&Bytes::from(vec![9u8; len]), What::Result, &mut frame).unwrap();
        SharedFrame::new(frame)
    }

    #[test]
    fn large_payloads_of_a_lent_frame_are_shared_and_copied_on_write() {
        let frame = framed(1 << 20);
        let mut b: Bytes = frame.lend(|bytes| decode(bytes, What::Result)).unwrap();
        assert!(b.is_shared());
        assert_eq!(b, Bytes::from(vec![9u8; 1 << 20]));
        let clone = b.clone();
        b[0] = 1;
        assert!(!b.is_shared() && clone.is_shared());
        assert_eq!((b[0], clone[0]), (1, 9));
        assert_eq!(clone.into_vec(), vec![9u8; 1 << 20]);
    }

    #[test]
    fn small_payloads_and_frames_not_lent_are_copied() {
        let small = framed(100);
        let b: Bytes = small.lend(|bytes| decode(bytes, What::Result)).unwrap();
        assert!(!b.is_shared());
        let large = framed(1 << 20);
        let b: Bytes = decode(&large, What::Result).unwrap();
        assert!(!b.is_shared(), "not lent");
        // A frame lent on another thread is not this thread's.
        let other: Bytes = large.lend(|bytes| {
            let bytes = bytes.to_vec();
            std::thread::spawn(move || decode(&bytes, What::Result).unwrap()).join().unwrap()
        });
        assert!(!other.is_shared());
    }

    #[test]
    fn a_small_part_of_a_large_frame_is_copied() {
        let mut frame = Vec::new();
        encode(
            &(Bytes::from(vec![1u8; 100 << 10]), vec![0u8; 300 << 10]),
            What::Result,
            &mut frame,
        )
        .unwrap();
        let frame = SharedFrame::new(frame);
        let (b, _): (Bytes, Vec<u8>) = frame.lend(|bytes| decode(bytes, What::Result)).unwrap();
        assert!(!b.is_shared(), "would keep 300 KiB alive for 100 KiB");
    }
}
