//! Spare receive buffers: where frames copied out of shared memory land, kept for reuse.
//!
//! A receiver that does not trust its sender copies each large frame out of the sender's
//! region on receipt (see `sys::shm`). Copied into a fresh allocation, a 16 MiB frame
//! faults in 4,096 fresh pages, which costs twice the copy itself (measured: W7's 16 MiB
//! `apply` fell from 6.0 to 2.4 GB/s). So a large buffer whose message is dropped comes
//! back here, pages and all, and the next large frame is copied into it: the copy then
//! costs what a copy costs. The buffers are process-wide (a pool's reader threads share
//! them) and bounded, in number and in bytes.

use std::sync::{Mutex, PoisonError};

/// Buffers smaller than this are not kept: the allocator reuses small blocks well itself.
const KEEP_MIN: usize = 1 << 20;
/// At most this many spare buffers...
const KEEP_BUFFERS: usize = 4;
/// ... of at most this many bytes in all (the bound of one sender's regions).
const KEEP_BYTES: usize = crate::regions::MAX_POOL_BYTES;

static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer with room for `len` bytes: a spare one that fits (at most twice as
/// large: a small frame does not hold on to a huge buffer), else a new one.
pub(crate) fn take(len: usize) -> Vec<u8> {
    if len >= KEEP_MIN {
        let mut spare = SPARE.lock().unwrap_or_else(PoisonError::into_inner);
        let fits = |b: &Vec<u8>| b.capacity() >= len && b.capacity() / 2 <= len;
        let best = spare
            .iter()
            .enumerate()
            .filter(|(_, b)| fits(b))
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            return spare.swap_remove(i);
        }
    }
    Vec::with_capacity(len)
}

/// Keeps `buf` for a later [`take`] if it is large and there is room; else frees it.
pub(crate) fn give_back(mut buf: Vec<u8>) {
    if buf.capacity() < KEEP_MIN || buf.capacity() > KEEP_BYTES {
        return;
    }
    buf.clear();
    let mut spare = SPARE.lock().unwrap_or_else(PoisonError::into_inner);
    spare.push(buf);
    // Over a bound: the smallest go first (the least useful for large frames).
    spare.sort_unstable_by_key(|b| std::cmp::Reverse(b.capacity()));
    while spare.len() > KEEP_BUFFERS || spare.iter().map(Vec::capacity).sum::<usize>() > KEEP_BYTES
    {
        spare.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_buffer_given_back_is_taken_again() {
        let buf = take(3 << 20);
        let at = buf.as_ptr();
        give_back(buf);
        // Another test may take it meanwhile; then a fresh one comes, which is fine too.
        let again = take(3 << 20);
        assert!(again.capacity() >= 3 << 20 && again.is_empty());
        if again.as_ptr() == at {
            let other = take(3 << 20);
            assert!(other.as_ptr() != at, "taken once");
        }
        assert!(take(1 << 10).capacity() >= 1 << 10);
    }

    #[test]
    fn small_and_oversized_buffers_are_not_kept() {
        give_back(Vec::with_capacity(KEEP_MIN - 1));
        give_back(Vec::with_capacity(1));
        let spare = SPARE.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(spare.iter().all(|b| b.capacity() >= KEEP_MIN));
        assert!(spare.len() <= KEEP_BUFFERS);
    }
}
