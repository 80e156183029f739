//! The sender's pool of reusable shared-memory regions, and how regions are announced.
//!
//! Frames above the threshold are copied into a free region and only a 17-byte notice
//! travels over the byte channel. A region is announced once, over the side channel, before
//! the first notice that names it; the receiver maps it on first use and keeps it until the
//! sender retires it. The pool is bounded (regions and bytes); when nothing fits, the frame
//! goes inline instead, so a reader that keeps its messages never makes the sender block
//! or grow without limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ipc_channel::ipc::{IpcSender, IpcSharedMemory};
use serde::{Deserialize, Serialize};

use crate::IpcError;
use crate::sys::{HEADER, Mapping, WriteLease};

/// At most this many regions per sender.
const MAX_REGIONS: usize = 4;
/// At most this many bytes of regions per sender; larger frames go inline.
pub(crate) const MAX_POOL_BYTES: usize = 256 << 20;
/// Regions are never smaller than this, so small-ish frames share one size class.
const MIN_REGION: usize = 256 << 10;

/// Region ids: the creating process's id in the high half, a process-wide counter below,
/// so senders copied by `fork` or deserialized in the same process never collide.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Messages on the side channel, from sender to receiver.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Side {
    /// A new region (its descriptor travels with the message).
    Add(u64, IpcSharedMemory),
    /// The sender will never name this region again.
    Retire(u64),
}

#[derive(Debug)]
struct Entry {
    id: u64,
    creator: u32,
    map: Arc<Mapping>,
}

/// The regions one sender (and its clones) writes into.
#[derive(Debug, Default)]
pub(crate) struct RegionPool {
    entries: Vec<Entry>,
}

impl RegionPool {
    /// Finds a free region for `len` bytes, or creates and announces one, and takes it for
    /// writing. `Ok(None)` means "send this frame inline": no region fits the bounds, all
    /// are in use, or the OS refused a new one.
    pub(crate) fn take(
        &mut self,
        len: usize,
        side: &IpcSender<Side>,
    ) -> Result<Option<(u64, WriteLease)>, IpcError> {
        // Best fit among the existing regions.
        let mut fitting: Vec<&Entry> =
            self.entries.iter().filter(|e| e.map.capacity() >= len).collect();
        fitting.sort_by_key(|e| e.map.capacity());
        if let Some((id, lease)) =
            fitting.iter().find_map(|e| e.map.try_acquire().map(|lease| (e.id, lease)))
        {
            return Ok(Some((id, lease)));
        }

        let capacity = capacity_for(len);
        if capacity > MAX_POOL_BYTES {
            return Ok(None);
        }
        if !self.make_room(capacity, side)? {
            return Ok(None);
        }
        let Ok(map) = Mapping::zeroed(capacity + HEADER) else {
            return Ok(None);
        };
        let map = Arc::new(map);
        let creator = std::process::id();
        let id =
            (u64::from(creator) << 32) | (NEXT_ID.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff);
        side.send(Side::Add(id, map.shm().clone())).map_err(IpcError::from_channel)?;
        let lease = map.try_acquire();
        self.entries.push(Entry { id, creator, map });
        Ok(lease.map(|lease| (id, lease)))
    }

    /// Retires free regions of this process until one of `capacity` bytes fits the bounds.
    fn make_room(&mut self, capacity: usize, side: &IpcSender<Side>) -> Result<bool, IpcError> {
        let me = std::process::id();
        loop {
            let bytes: usize = self.entries.iter().map(|e| e.map.capacity()).sum();
            if self.entries.len() < MAX_REGIONS && bytes + capacity <= MAX_POOL_BYTES {
                return Ok(true);
            }
            // Smallest first: they are the least useful for frames this large.
            let mut order: Vec<usize> = (0..self.entries.len()).collect();
            order.sort_by_key(|&i| self.entries[i].map.capacity());
            let Some(victim) = order
                .into_iter()
                .find(|&i| self.entries[i].creator == me && self.entries[i].map.try_retire())
            else {
                return Ok(false);
            };
            let entry = self.entries.swap_remove(victim);
            side.send(Side::Retire(entry.id)).map_err(IpcError::from_channel)?;
        }
    }

    /// Tells the receiver to unmap every free region this process created (on drop).
    pub(crate) fn retire_all(&mut self, side: &IpcSender<Side>) {
        let me = std::process::id();
        for entry in self.entries.drain(..) {
            if entry.creator == me && entry.map.try_retire() {
                // Best effort: a receiver that is gone needs no telling.
                let _ = side.send(Side::Retire(entry.id));
            }
        }
    }
}

/// Chooses a region capacity for a frame of `len` bytes: at most 1/8 slack above `len`.
fn capacity_for(len: usize) -> usize {
    let len = len.max(MIN_REGION);
    let step = (len.next_power_of_two() / 8).max(4096);
    len.div_ceil(step) * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_have_bounded_slack() {
        for len in [1, 300 << 10, 1 << 20, (1 << 20) + 1, 20 << 20, 128 << 20] {
            let cap = capacity_for(len);
            assert!(cap >= len && cap >= MIN_REGION);
            assert!(cap <= (len.max(MIN_REGION) / 8) * 10, "{len} -> {cap}");
        }
        assert_eq!(capacity_for(128 << 20), 128 << 20);
    }
}
