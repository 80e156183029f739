//! One received frame, in memory of the receiving process.

use std::fmt;
use std::ops::Deref;

/// One frame received from a [`Receiver`](crate::Receiver): its bytes, read through `Deref`.
///
/// The bytes are the receiver's own: a small frame is the buffer ipc-channel received it
/// into, and a frame above the shared-memory threshold is copied out of the sender's
/// region once, on receipt, and the region goes back to the sender at once. Whatever the
/// sender does afterwards, the bytes of a `Message` never change.
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
    bytes: Vec<u8>,
}

impl Message {
    /// The bytes as an owned vector, without a copy (the buffer is shrunk when most of it
    /// is spare capacity, as ipc-channel receives every frame into a buffer of about
    /// 208 KiB).
    #[must_use]
    pub fn into_vec(self) -> Vec<u8> {
        let mut bytes = self.bytes;
        if bytes.capacity() > 2 * bytes.len() + 4096 {
            bytes.shrink_to_fit();
        }
        bytes
    }
}

impl From<Vec<u8>> for Message {
    /// A message of these bytes (for frames received, for tests and for re-queueing).
    fn from(bytes: Vec<u8>) -> Message {
        Message { bytes }
    }
}

impl Deref for Message {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsRef<[u8]> for Message {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message").field("len", &self.len()).finish()
    }
}
