//! [`Spare`]: receive buffers kept for reuse, per process. A frame as large as a recent
//! one costs no allocation, no fresh pages (16 MiB of fresh pages cost milliseconds
//! here) and no zero-filling: MPI overwrites the old bytes.

use std::sync::Mutex;

/// Buffers kept for reuse.
static SPARES: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
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
        let kept = {
            let mut spares = SPARES.lock().unwrap_or_else(|e| e.into_inner());
            let fit = (0..spares.len())
                .filter(|&i| spares[i].len() >= len)
                .min_by_key(|&i| spares[i].len());
            fit.map(|i| spares.swap_remove(i))
        };
        Spare { bytes: kept.unwrap_or_else(|| vec![0; len]), len }
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
        if self.bytes.len() > KEEP_AT_MOST {
            return;
        }
        let mut spares = SPARES.lock().unwrap_or_else(|e| e.into_inner());
        if spares.len() < KEEP {
            spares.push(std::mem::take(&mut self.bytes));
        } else if let Some(smallest) = spares.iter_mut().min_by_key(|s| s.len()) {
            // Keep the larger buffers: they are the ones worth not making again.
            if smallest.len() < self.bytes.len() {
                *smallest = std::mem::take(&mut self.bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_is_reused_without_clearing() {
        let mut a = Spare::for_len(100_003);
        a.bytes_mut().fill(9);
        let at = a.bytes.as_ptr();
        drop(a);
        // Other tests share the pool: look for this buffer among a few takers.
        let takers: Vec<Spare> = (0..KEEP).map(|_| Spare::for_len(100_003)).collect();
        let again = takers.iter().find(|s| s.bytes.as_ptr() == at).expect("the buffer is reused");
        assert_eq!(again.len(), 100_003);
        assert!(again.iter().all(|&b| b == 9), "the old bytes are left, not zeroed");
    }
}
