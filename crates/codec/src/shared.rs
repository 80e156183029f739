//! [`SharedFrame`]: a received frame that decoded [`Bytes`](crate::Bytes) may point into
//! instead of copying out of it.
//!
//! A large payload arrives in a frame the receiver already holds (a shared-memory region,
//! or the buffer the socket filled). Copying it into a fresh `Vec` costs as much as the
//! transfer itself and faults in fresh pages: at 16 MiB, about as long again. So while a
//! frame is *lent* ([`SharedFrame::lend`]), a `Bytes` decoded from it keeps a reference
//! to the frame and reads the payload in place. The frame is released when the last
//! such `Bytes` is dropped.

use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Payloads smaller than this are copied: sharing keeps the whole frame alive, and a
/// small frame's buffer may be much larger than the frame (a socket's receive buffer).
pub(crate) const SHARE_MIN: usize = 64 << 10;

thread_local! {
    /// The frame lent to decoding on this thread, if any.
    static LENT: RefCell<Option<SharedFrame>> = const { RefCell::new(None) };
}

/// A received frame, reference-counted so that decoded values can share it.
///
/// ```
/// use multiproc_codec::{Bytes, SharedFrame, What, decode, encode};
///
/// let mut frame = Vec::new();
/// encode(&Bytes::from(vec![7u8; 1 << 20]), What::Result, &mut frame)?;
/// let frame = SharedFrame::new(frame);
/// let payload: Bytes = frame.lend(|bytes| decode(bytes, What::Result))?;
/// assert!(payload.is_shared()); // no copy: it reads the frame in place
/// assert_eq!(payload.len(), 1 << 20);
/// # Ok::<(), multiproc_codec::CodecError>(())
/// ```
#[derive(Clone)]
pub struct SharedFrame(Arc<dyn AsRef<[u8]> + Send + Sync>);

impl SharedFrame {
    /// Takes ownership of a received frame.
    pub fn new(frame: impl AsRef<[u8]> + Send + Sync + 'static) -> SharedFrame {
        SharedFrame(Arc::new(frame))
    }

    /// Runs `f` on the frame's bytes. Meanwhile a [`Bytes`](crate::Bytes) decoded on this
    /// thread from at least half of those bytes (and at least 64 KiB) shares the frame
    /// instead of copying its payload.
    pub fn lend<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        /// Puts back the frame lent before, also when `f` unwinds.
        struct Restore(Option<SharedFrame>);
        impl Drop for Restore {
            fn drop(&mut self) {
                LENT.with_borrow_mut(|lent| *lent = self.0.take());
            }
        }
        let _restore = Restore(LENT.with_borrow_mut(|lent| lent.replace(self.clone())));
        f(self)
    }

    /// If `payload` lies inside the frame lent on this thread and is worth sharing, the
    /// range of the frame it covers and the frame.
    pub(crate) fn lent_range(payload: &[u8]) -> Option<(SharedFrame, usize)> {
        if payload.len() < SHARE_MIN {
            return None;
        }
        LENT.with_borrow(|lent| {
            let frame = lent.as_ref()?;
            let bytes: &[u8] = frame;
            let (base, at) = (bytes.as_ptr() as usize, payload.as_ptr() as usize);
            let inside = at >= base && at - base + payload.len() <= bytes.len();
            // Sharing a small part of a large frame would keep the rest of it alive.
            (inside && 2 * payload.len() >= bytes.len()).then(|| (frame.clone(), at - base))
        })
    }
}

impl Deref for SharedFrame {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl fmt::Debug for SharedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedFrame({} bytes)", self.len())
    }
}
