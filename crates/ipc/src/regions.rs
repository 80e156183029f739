//! The sender's pool of reusable shared-memory regions, how regions are announced, and how
//! a frame in a region is named.
//!
//! Frames above the threshold are copied into a free region and only a [`Notice`] (region
//! id and length) travels to the receiver. A region is announced once, over the side
//! channel, before the first notice that names it; the receiver maps it on first use and
//! keeps it in its [`RegionTable`] until the sender retires it. The pool is bounded
//! (regions and bytes); when nothing fits, a channel frame goes inline instead, so a reader
//! that keeps its messages never makes the sender block or grow without limit. A frame
//! staged for a ring record has no inline way to go: when no region fits the bounds, it
//! gets a region of its own beyond them, which the sender lets go of once the frame is in
//! it and the receiver forgets as soon as it has copied the frame out, so the memory goes
//! then.
//!
//! The receiver trusts nothing the sender says about a region: it keeps at most
//! [`MAX_MAPPED`] of them, of a size between a header and the bound of their kind, and
//! (in ipc-channel, see `vendor/ipc-channel/PATCHES.md`) only memfds sealed against
//! shrinking and growing, so their size is final.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ipc_channel::ipc::{IpcReceiver, IpcSender, IpcSharedMemory};
use serde::{Deserialize, Serialize};

use crate::IpcError;
use crate::sys::{HEADER, Mapping, WriteLease};

/// At most this many regions per sender.
const MAX_REGIONS: usize = 4;
/// At most this many bytes of regions per sender; larger channel frames go inline.
pub(crate) const MAX_POOL_BYTES: usize = 256 << 20;
/// No region holds more than this (sizes and their rounding up stay far from overflow).
const MAX_FRAME: usize = 1 << 48;
/// Regions are never smaller than this, so small-ish frames share one size class.
const MIN_REGION: usize = 256 << 10;
/// At most this many regions in a receiver's table; a sender that announces more (its own
/// pool holds [`MAX_REGIONS`], plus frames of their own not yet read) is refused.
const MAX_MAPPED: usize = 64;

/// Region ids: the creating process's id in the high half, a process-wide counter below
/// (see [`next_id`]), so senders copied by `fork` or deserialized in the same process never
/// collide.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Messages on the side channel, from sender to receiver.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Side {
    /// A new region (its descriptor travels with the message).
    Add(u64, IpcSharedMemory),
    /// A region for one frame: the receiver forgets it once it has lent the frame out.
    Once(u64, IpcSharedMemory),
    /// The sender will never name this region again.
    Retire(u64),
}

/// A frame in a region: the region's id and the frame's length, 16 bytes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Notice {
    pub(crate) id: u64,
    pub(crate) len: u64,
}

impl Notice {
    /// Bytes of a notice on the wire.
    pub(crate) const BYTES: usize = 16;

    /// Region id then length, little-endian.
    pub(crate) fn to_bytes(self) -> [u8; Notice::BYTES] {
        let mut bytes = [0u8; Notice::BYTES];
        bytes[..8].copy_from_slice(&self.id.to_le_bytes());
        bytes[8..].copy_from_slice(&self.len.to_le_bytes());
        bytes
    }

    /// The inverse of [`to_bytes`](Self::to_bytes).
    pub(crate) fn from_bytes(bytes: [u8; Notice::BYTES]) -> Notice {
        let [id, len] = [0, 8].map(|at| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        });
        Notice { id, len }
    }
}

/// What [`RegionPool::take`] does when no region fits the pool's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Nothing: the caller sends the frame another way.
    GiveUp,
    /// Makes a region for this frame alone, beyond the bounds: the sender keeps no hold
    /// on it and the receiver forgets it after one use.
    Grow,
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
    /// writing. `Ok(None)` (only with [`Overflow::GiveUp`]) means "send this frame inline":
    /// no region fits the bounds, all are in use, or the OS refused a new one.
    pub(crate) fn take(
        &mut self,
        len: usize,
        side: &IpcSender<Side>,
        overflow: Overflow,
    ) -> Result<Option<(u64, WriteLease)>, IpcError> {
        if len > MAX_FRAME {
            return match overflow {
                Overflow::GiveUp => Ok(None),
                Overflow::Grow => Err(IpcError::Io(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!("a frame of {len} bytes does not fit in a shared-memory region"),
                ))),
            };
        }
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
        let within = capacity <= MAX_POOL_BYTES && self.make_room(capacity, side)?;
        match (within, overflow) {
            (true, _) => match Mapping::zeroed(capacity + HEADER) {
                Ok(map) => self.announce(map, side),
                Err(e) if overflow == Overflow::Grow => Err(IpcError::Io(e)),
                Err(_) => Ok(None),
            },
            (false, Overflow::GiveUp) => Ok(None),
            (false, Overflow::Grow) => {
                let capacity = len.next_multiple_of(4096);
                let map = Arc::new(Mapping::zeroed(capacity + HEADER).map_err(IpcError::Io)?);
                let id = next_id();
                side.send(Side::Once(id, sendable(&map)?)).map_err(IpcError::from_channel)?;
                Ok(map.try_acquire().map(|lease| (id, lease)))
            }
        }
    }

    /// Announces a new region to the receiver, keeps it, and takes it for writing.
    fn announce(
        &mut self,
        map: Mapping,
        side: &IpcSender<Side>,
    ) -> Result<Option<(u64, WriteLease)>, IpcError> {
        let map = Arc::new(map);
        let id = next_id();
        side.send(Side::Add(id, sendable(&map)?)).map_err(IpcError::from_channel)?;
        let lease = map.try_acquire();
        self.entries.push(Entry { id, creator: std::process::id(), map });
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

/// A fresh region id: the creating process's id in the high half, a counter below.
fn next_id() -> u64 {
    (u64::from(std::process::id()) << 32) | (NEXT_ID.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff)
}

/// The regions a receiver has been told of, by id.
#[derive(Debug, Default)]
pub(crate) struct RegionTable {
    regions: HashMap<u64, (Arc<Mapping>, bool)>,
}

impl RegionTable {
    /// The region `id`, reading announcements off the side channel as needed. They were
    /// sent before the notice naming them, so they are already queued: never blocks, also
    /// not for a sender that stalls in the middle of a message (one in several fragments,
    /// which announcements never are, is refused). A
    /// region for one frame is forgotten here (its mapping lives on in the caller's hands).
    pub(crate) fn lookup(
        &mut self,
        id: u64,
        side: &IpcReceiver<Side>,
    ) -> Result<Arc<Mapping>, IpcError> {
        loop {
            if let Some((map, once)) = self.regions.get(&id) {
                let map = map.clone();
                if *once {
                    self.regions.remove(&id);
                }
                return Ok(map);
            }
            match side.try_recv_whole() {
                Ok(Side::Add(new, shm)) => self.insert(new, shm, false)?,
                Ok(Side::Once(new, shm)) => self.insert(new, shm, true)?,
                Ok(Side::Retire(old)) => {
                    self.regions.remove(&old);
                }
                Err(e) => {
                    return Err(IpcError::from_try_recv(e).unwrap_or_else(|| {
                        IpcError::Protocol(format!(
                            "shared-memory region {id:#x} was never announced to this receiver"
                        ))
                    }));
                }
            }
        }
    }

    /// Keeps an announced region, after checking it against what a sender of this crate
    /// makes: at least a header, at most the bound of its kind, and room in the table.
    /// The descriptor is a memfd sealed against resizing (ipc-channel refused it otherwise),
    /// so the size checked here is final.
    fn insert(&mut self, id: u64, shm: IpcSharedMemory, once: bool) -> Result<(), IpcError> {
        let len = shm.len();
        let most = if once { MAX_FRAME.next_multiple_of(4096) } else { MAX_POOL_BYTES } + HEADER;
        if len < HEADER || len > most {
            return Err(IpcError::Refused(format!(
                "a shared-memory region of {len} bytes (from {HEADER} to {most})"
            )));
        }
        if self.regions.len() >= MAX_MAPPED && !self.regions.contains_key(&id) {
            return Err(IpcError::Refused(format!(
                "more than {MAX_MAPPED} shared-memory regions announced to one receiver"
            )));
        }
        self.regions.insert(id, (Arc::new(received(shm)), once));
        Ok(())
    }

    /// Regions currently mapped.
    pub(crate) fn len(&self) -> usize {
        self.regions.len()
    }
}

/// Chooses a region capacity for a frame of `len` bytes: at most 1/8 slack above `len`.
fn capacity_for(len: usize) -> usize {
    let len = len.max(MIN_REGION);
    let step = (len.next_power_of_two() / 8).max(4096);
    len.div_ceil(step) * step
}

/// A region the peer sent: this process reads it and never sends it on, so it keeps the
/// memory and not the descriptor (it stays attached if the OS refuses the new mapping).
fn received(shm: IpcSharedMemory) -> Mapping {
    let mut map = Mapping::from_shm(shm);
    let _ = map.detach();
    map
}

/// The descriptor of a region this process made, to announce it (its own regions are
/// never detached).
fn sendable(map: &Mapping) -> Result<IpcSharedMemory, IpcError> {
    map.shm().cloned().ok_or_else(|| IpcError::Protocol("a detached region cannot be sent".into()))
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

    #[test]
    fn absurd_lengths_are_refused_not_overflowed() {
        let (side, _rx) = ipc_channel::ipc::channel::<Side>().unwrap();
        let mut pool = RegionPool::default();
        assert!(pool.take(usize::MAX, &side, Overflow::GiveUp).unwrap().is_none());
        let err = pool.take(usize::MAX, &side, Overflow::Grow).unwrap_err();
        assert!(matches!(err, IpcError::Io(e) if e.kind() == io::ErrorKind::OutOfMemory));
    }

    #[test]
    fn notices_round_trip_lengths_above_4_gib() {
        let notice = Notice { id: 0x1234_5678_9abc_def0, len: (4 << 30) + 16 };
        assert_eq!(Notice::from_bytes(notice.to_bytes()), notice);
    }
}
