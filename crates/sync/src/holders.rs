//! [`Holders`]: a table of robust *tokens* in shared memory, one per holder of something
//! that has no owner of its own (a unit of a semaphore, a party of a barrier).
//!
//! A holder locks a free slot's token for as long as it holds, on its own thread. When it
//! dies, the kernel marks the token `OWNER_DIED`: anyone who then tries the token takes
//! it over and knows. Sleepers wait on the tokens' futex words too (`futex_waitv`), so a
//! holder's death wakes them at once — no polling. Which slots are in use is a bitmap
//! that the owner of the table commits with its own state.

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;

use crate::object::{Held, Object};
use crate::sys::futex::WAITV_MAX;
use crate::sys::mutex::{Kind, MUTEX_SIZE};

/// Slots in a table: a bitmap in one `u64`.
pub(crate) const SLOTS: usize = 64;
/// Bytes per slot (a mutex, padded to a cache line).
const SLOT: usize = 64;

const _: () = assert!(MUTEX_SIZE <= SLOT && SLOTS < WAITV_MAX);

/// A table of tokens at `base` in an object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holders {
    base: usize,
}

impl Holders {
    pub(crate) const BYTES: usize = SLOTS * SLOT;

    pub(crate) fn at(base: usize) -> Holders {
        Holders { base }
    }

    fn off(&self, slot: usize) -> usize {
        self.base + slot * SLOT
    }

    /// Initialises every token (creator only).
    pub(crate) fn init(&self, obj: &Object) -> std::io::Result<()> {
        (0..SLOTS).try_for_each(|i| obj.init_mutex(self.off(i), Kind::Plain))
    }

    /// The slots of `in_use` whose holders are gone: each such token is taken over and
    /// released, ready for a new holder.
    pub(crate) fn gone(&self, obj: &Object, in_use: u64) -> u64 {
        let mut gone = 0;
        for slot in bits(in_use) {
            // Taken: free, or left by a dead holder; either way nobody holds the slot.
            // Not taken: its holder lives (this thread included).
            if let Ok(Ok((held, died))) = obj.try_lock(self.off(slot)) {
                if died {
                    held.make_consistent();
                }
                gone |= 1 << slot;
            }
        }
        gone
    }

    /// Takes the token of a slot not in `in_use` for this thread: the slot and the hold.
    pub(crate) fn take<'a>(&self, obj: &'a Object, in_use: u64) -> Option<(usize, Held<'a>)> {
        (0..SLOTS).filter(|s| in_use & (1 << s) == 0).find_map(|slot| {
            match obj.try_lock(self.off(slot)) {
                Ok(Ok((held, died))) => {
                    if died {
                        held.make_consistent(); // a holder that died before it committed
                    }
                    Some((slot, held))
                }
                _ => None,
            }
        })
    }

    /// The futex words to sleep on so that the death (or release) of any holder in
    /// `in_use` wakes the sleeper.
    pub(crate) fn words<'a>(&self, obj: &'a Object, in_use: u64) -> Vec<(&'a AtomicU32, u32)> {
        bits(in_use).filter_map(|slot| obj.mutex(self.off(slot)).sleep_on()).collect()
    }
}

/// The set bits of `mask`.
pub(crate) fn bits(mask: u64) -> impl Iterator<Item = usize> {
    (0..SLOTS).filter(move |s| mask & (1 << s) != 0)
}

/// A state of `N` words committed by one store: `seq`, then two blocks of `N` words.
/// Read and written under the object's lock; the flip keeps it whole if a holder dies
/// while it writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Committed<const N: usize> {
    at: usize,
}

impl<const N: usize> Committed<N> {
    pub(crate) const BYTES: usize = 8 + 2 * 8 * N;

    pub(crate) fn at(at: usize) -> Committed<N> {
        Committed { at }
    }

    fn block(&self, seq: u64) -> usize {
        self.at + 8 + (seq as usize & 1) * 8 * N
    }

    /// The committed words.
    pub(crate) fn read(&self, obj: &Object) -> [u64; N] {
        let map = obj.map();
        let at = self.block(map.u64_at(self.at).load(std::sync::atomic::Ordering::Acquire));
        std::array::from_fn(|i| map.u64_at(at + 8 * i).load(Relaxed))
    }

    /// Commits `words`.
    pub(crate) fn write(&self, obj: &Object, words: [u64; N]) {
        let map = obj.map();
        let seq = map.u64_at(self.at).load(Relaxed).wrapping_add(1);
        let at = self.block(seq);
        for (i, w) in words.into_iter().enumerate() {
            map.u64_at(at + 8 * i).store(w, Relaxed);
        }
        map.u64_at(self.at).store(seq, std::sync::atomic::Ordering::Release);
    }
}
