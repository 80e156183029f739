//! One received frame: memory of the receiving process, or a lease on a trusted sender's
//! shared-memory region.

use std::fmt;
use std::ops::Deref;

use crate::spare;
use crate::sys::ReadLease;

/// One frame received from a [`Receiver`](crate::Receiver): its bytes, read through `Deref`.
///
/// By default the bytes are the receiver's own: a small frame is the buffer ipc-channel
/// received it into, and a frame above the shared-memory threshold is copied out of the
/// sender's region once, on receipt (into a buffer recycled from earlier large messages,
/// whose pages are already there), and the region goes back to the sender at once.
/// Whatever the sender does afterwards, the bytes of such a `Message` never change.
///
/// A receiver that trusts its sender ([`Receiver::trust_sender`](crate::Receiver::trust_sender))
/// reads a large frame in place instead: the `Message` is then a lease on the sender's
/// region ([`is_lent`](Message::is_lent)), which goes back to the sender when it drops.
///
/// ```
/// use multiproc_ipc::duplex;
///
/// let (parent, child) = duplex()?;
/// parent.send(b"hello")?;
/// let msg = child.recv()?;
/// assert_eq!(&*msg, b"hello");
/// assert!(!msg.is_lent());
/// assert_eq!(msg.into_vec(), b"hello".to_vec());
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
pub struct Message {
    repr: Repr,
}

enum Repr {
    /// Received inline, or given.
    Owned(Vec<u8>),
    /// Copied out of a region into a spare buffer, which goes back when this drops.
    Copied(Vec<u8>),
    /// Read in place in a trusted sender's region.
    Lent(ReadLease),
}

impl Message {
    pub(crate) fn copied(bytes: Vec<u8>) -> Message {
        Message { repr: Repr::Copied(bytes) }
    }

    pub(crate) fn lent(lease: ReadLease) -> Message {
        Message { repr: Repr::Lent(lease) }
    }

    /// Whether the bytes are read in place in the sender's shared memory (a large frame
    /// to a receiver that trusts its sender); released to the sender when this drops.
    ///
    /// ```
    /// let (a, b) = multiproc_ipc::duplex()?;
    /// b.receiver().trust_sender();
    /// a.send(&vec![1u8; 1 << 20])?;
    /// assert!(b.recv()?.is_lent());
    /// # Ok::<(), multiproc_ipc::IpcError>(())
    /// ```
    #[must_use]
    pub fn is_lent(&self) -> bool {
        matches!(self.repr, Repr::Lent(_))
    }

    /// The bytes as an owned vector: without a copy, except for a lent message (whose
    /// region goes back to the sender at once). A buffer that is mostly spare capacity is
    /// shrunk (ipc-channel receives every frame into a buffer of about 208 KiB).
    #[must_use]
    pub fn into_vec(mut self) -> Vec<u8> {
        let mut bytes = match &mut self.repr {
            Repr::Owned(v) | Repr::Copied(v) => std::mem::take(v),
            Repr::Lent(lease) => lease.as_slice().to_vec(),
        };
        if bytes.capacity() > 2 * bytes.len() + 4096 {
            bytes.shrink_to_fit();
        }
        bytes
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        if let Repr::Copied(v) = &mut self.repr {
            spare::give_back(std::mem::take(v));
        }
    }
}

impl From<Vec<u8>> for Message {
    /// A message of these bytes (for frames received, for tests and for re-queueing).
    fn from(bytes: Vec<u8>) -> Message {
        Message { repr: Repr::Owned(bytes) }
    }
}

impl Deref for Message {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.repr {
            Repr::Owned(v) | Repr::Copied(v) => v,
            Repr::Lent(lease) => lease.as_slice(),
        }
    }
}

impl AsRef<[u8]> for Message {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message").field("len", &self.len()).field("lent", &self.is_lent()).finish()
    }
}
