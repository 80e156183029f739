//! One received frame: an owned buffer, or a lease on a shared-memory region.

use std::fmt;
use std::ops::Deref;

use crate::sys::ReadLease;

/// One frame received from a [`Receiver`](crate::Receiver): its bytes, read through `Deref`.
///
/// A small frame is backed by the buffer ipc-channel received it into. A frame above the
/// shared-memory threshold is a lease on a region shared with the sender: reading it copies
/// nothing, and dropping the `Message` hands the region back to the sender for reuse (keep
/// the `Message` only as long as you need the bytes; [`Message::into_vec`] copies them
/// out).
///
/// ```
/// use multiproc_ipc::duplex;
///
/// let (parent, child) = duplex()?;
/// parent.send(b"hello")?;
/// let msg = child.recv()?;
/// assert_eq!(&*msg, b"hello");
/// assert_eq!(msg.into_vec(), b"hello".to_vec());
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
pub struct Message {
    repr: Repr,
}

enum Repr {
    Owned(Vec<u8>),
    Shared(ReadLease),
}

impl Message {
    pub(crate) fn shared(lease: ReadLease) -> Message {
        Message { repr: Repr::Shared(lease) }
    }

    /// Whether the bytes live in a shared-memory region (released when this drops).
    #[must_use]
    pub fn is_shared(&self) -> bool {
        matches!(self.repr, Repr::Shared(_))
    }

    /// The bytes as an owned vector.
    ///
    /// Free for an owned frame (the buffer is shrunk when most of it is spare capacity, as
    /// ipc-channel receives every frame into a buffer of about 208 KiB); one copy for a
    /// shared-memory frame, whose region goes back to the sender at once.
    #[must_use]
    pub fn into_vec(self) -> Vec<u8> {
        match self.repr {
            Repr::Owned(mut v) => {
                if v.capacity() > 2 * v.len() + 4096 {
                    v.shrink_to_fit();
                }
                v
            }
            Repr::Shared(lease) => lease.as_slice().to_vec(),
        }
    }
}

impl From<Vec<u8>> for Message {
    /// A message backed by an owned buffer (for tests and for re-queueing bytes).
    fn from(bytes: Vec<u8>) -> Message {
        Message { repr: Repr::Owned(bytes) }
    }
}

impl Deref for Message {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.repr {
            Repr::Owned(v) => v,
            Repr::Shared(lease) => lease.as_slice(),
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
        f.debug_struct("Message")
            .field("len", &self.len())
            .field("shared", &self.is_shared())
            .finish()
    }
}
