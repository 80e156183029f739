//! [`Spare`]: receive buffers kept for reuse, per process. A frame as large as a recent
//! one costs no allocation, no fresh pages (16 MiB of fresh pages cost milliseconds
//! here) and no zero-filling: MPI overwrites the old bytes.

use std::sync::Mutex;

/// Buffers kept for reuse.
static SPARES: Kept = Kept(Mutex::new(Vec::new()));
/// How many buffers are kept.
const KEEP: usize = 8;
/// Buffers larger than this go back to the allocator: a frame of a few GiB should not
/// stay resident for the rest of the job.
const KEEP_AT_MOST: usize = 256 << 20;

/// A frame's bytes in a buffer that goes back to the spares when dropped.
#[derive(Debug)]
pub(crate) struct Spare {
    /// Initialized bytes, at least `len` of them (the rest is an older frame's).
    bytes: Vec<u8>,
    len: usize,
}

impl Spare {
    /// A buffer of `len` bytes to receive into: the smallest kept buffer that holds them,
    /// its old bytes left as they are, else a new one (whose pages the system zeroes).
    pub(crate) fn for_len(len: usize) -> Spare {
        Spare { bytes: SPARES.take(len), len }
    }

    /// The buffer's bytes, to receive into.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }
}

impl std::ops::Deref for Spare {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl AsRef<[u8]> for Spare {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        SPARES.give(std::mem::take(&mut self.bytes));
    }
}

/// A set of buffers kept for reuse.
#[derive(Debug)]
struct Kept(Mutex<Vec<Vec<u8>>>);

impl Kept {
    /// The smallest kept buffer of at least `len` initialized bytes, else a new one.
    fn take(&self, len: usize) -> Vec<u8> {
        let mut spares = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let fit =
            (0..spares.len()).filter(|&i| spares[i].len() >= len).min_by_key(|&i| spares[i].len());
        fit.map(|i| spares.swap_remove(i)).unwrap_or_else(|| vec![0; len])
    }

    /// Keeps `bytes` for reuse, unless it is too large or smaller than all of [`KEEP`].
    fn give(&self, bytes: Vec<u8>) {
        if bytes.len() > KEEP_AT_MOST {
            return;
        }
        let mut spares = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if spares.len() < KEEP {
            spares.push(bytes);
        } else if let Some(smallest) = spares.iter_mut().min_by_key(|s| s.len()) {
            // Keep the larger buffers: they are the ones worth not making again.
            if smallest.len() < bytes.len() {
                *smallest = bytes;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_buffer_is_reused_without_clearing() {
        let kept = Kept(Mutex::new(Vec::new()));
        let mut a = kept.take(100_003);
        a.fill(9);
        let at = a.as_ptr();
        kept.give(a);
        kept.give(vec![1; 10]);
        let again = kept.take(100);
        assert_eq!(again.as_ptr(), at, "the smallest buffer that holds 100 bytes");
        assert!(again.iter().all(|&b| b == 9), "its old bytes are left, not zeroed");
        assert_eq!(kept.take(5), [1; 10]);
        assert_eq!(kept.take(7), [0; 7], "none left: a new one");
    }

    #[test]
    fn the_largest_buffers_are_kept() {
        let kept = Kept(Mutex::new(Vec::new()));
        for n in 1..=KEEP {
            kept.give(vec![0; n]);
        }
        kept.give(vec![0; 1000]);
        kept.give(vec![0; KEEP_AT_MOST + 1]);
        let lens: Vec<usize> = (0..KEEP).map(|_| kept.take(0).len()).collect();
        assert!(lens.contains(&1000) && !lens.contains(&1), "{lens:?}");
        assert!(!lens.contains(&(KEEP_AT_MOST + 1)));
    }
}
