//! [`Spares`]: the buffers of large frames, kept once their results are in so that the
//! next frames are encoded into memory that is already mapped.
//!
//! A fresh allocation of many megabytes is mapped fresh, and each of its pages faults on
//! first touch: about 6 ms per 16 MiB on this kind of machine, three times the copy
//! itself. So a pool keeps the buffers of its last large frames, within a bound, and
//! encodes new frames into them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use multiproc_codec::OwnedFrame;

/// Frames smaller than this come from the allocator's own free lists: not worth keeping.
const MIN_SPARE: usize = 1 << 20;
/// At most this many buffers are kept...
const MAX_SPARES: usize = 2;
/// ... of at most this many bytes in all (larger frames are freed as usual).
const MAX_SPARE_BYTES: usize = 64 << 20;

/// Large frame buffers waiting for reuse, largest first.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    kept: Mutex<Vec<Vec<u8>>>,
    /// How many are kept: read without the lock, so that a pool of small frames never
    /// takes it.
    count: AtomicUsize,
}

impl Spares {
    /// Keeps the buffer of a frame whose results are in, if it is large, nobody else
    /// holds it, and it fits the bounds (the smallest buffers go first).
    pub(crate) fn keep(&self, frame: Arc<OwnedFrame>) {
        let Ok(frame) = Arc::try_unwrap(frame) else { return };
        let buf = frame.into_buffer();
        if !(MIN_SPARE..=MAX_SPARE_BYTES).contains(&buf.capacity()) {
            return;
        }
        let mut spares = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        spares.push(buf);
        spares.sort_by_key(|b| std::cmp::Reverse(b.capacity()));
        while spares.len() > MAX_SPARES
            || spares.iter().map(Vec::capacity).sum::<usize>() > MAX_SPARE_BYTES
        {
            spares.pop();
        }
        self.count.store(spares.len(), Ordering::Relaxed);
    }

    /// The largest buffer kept, if any.
    pub(crate) fn take(&self) -> Option<Vec<u8>> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut spares = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let buf = (!spares.is_empty()).then(|| spares.remove(0));
        self.count.store(spares.len(), Ordering::Relaxed);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(bytes: usize) -> Arc<OwnedFrame> {
        Arc::new(Vec::with_capacity(bytes).into())
    }

    #[test]
    fn keeps_the_largest_few_within_bounds() {
        let spares = Spares::default();
        spares.keep(frame(1000)); // too small
        spares.keep(frame(MAX_SPARE_BYTES + 1)); // too large
        assert!(spares.take().is_none());
        let shared = frame(4 << 20);
        let _other_holder = Arc::clone(&shared);
        spares.keep(shared); // still in use elsewhere
        assert!(spares.take().is_none());
        for mib in [2, 16, 8] {
            spares.keep(frame(mib << 20));
        }
        assert_eq!(spares.take().map(|b| b.capacity()), Some(16 << 20));
        assert_eq!(spares.take().map(|b| b.capacity()), Some(8 << 20));
        assert!(spares.take().is_none(), "at most {MAX_SPARES} kept");
        for _ in 0..3 {
            spares.keep(frame(40 << 20));
        }
        assert_eq!(spares.take().map(|b| b.capacity()), Some(40 << 20));
        assert!(spares.take().is_none(), "at most {MAX_SPARE_BYTES} bytes kept");
    }
}
