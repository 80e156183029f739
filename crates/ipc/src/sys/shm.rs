//! Shared-memory mappings (memfd regions made by ipc-channel) seen as raw memory.
//!
//! A [`Mapping`] owns an `IpcSharedMemory` and reads and writes it only through one raw
//! pointer taken once, so no Rust reference ever covers bytes that another process may
//! change. Two uses sit on top of it:
//!
//! - words: the mapping as `[AtomicU64]` (every access from every process is atomic);
//! - regions: word 0 of a 64-byte header is a state flag, the frame bytes follow. The
//!   writer takes the region (`FREE -> WRITING`), copies a frame in and publishes it
//!   (`PUBLISHED`, release); the reader checks `PUBLISHED` (acquire), copies the bytes
//!   out ([`Mapping::take_published`]) and sets `FREE` (release).
//!
//! The reader never lends out a `&[u8]` over a region: the writer is another process,
//! which may break the protocol and write while the reader reads. Rust promises nothing
//! for a reference over memory that changes under it, so the reader copies the frame out
//! with relaxed atomic loads (every access of this process is atomic: no data race in its
//! abstract machine) into memory of its own, which then cannot change. A writer that
//! writes meanwhile can only tear the copy, as it could have sent other bytes anyway.

use std::fmt;
use std::io;
use std::panic::catch_unwind;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use ipc_channel::ipc::IpcSharedMemory;

/// Bytes in front of a region's data: the state word, padded to a cache line.
pub(crate) const HEADER: usize = 64;

const FREE: u64 = 0;
const WRITING: u64 = 1;
const PUBLISHED: u64 = 2;
const RETIRED: u64 = 3;

/// A shared-memory mapping owned by this process, accessed through a raw pointer.
pub(crate) struct Mapping {
    shm: IpcSharedMemory,
    base: *mut u8,
    len: usize,
}

// SAFETY: `base` points into the mapping owned by `shm` (itself Send + Sync), which lives
// as long as `self`. Every access through `base` is either atomic (words, region state) or
// confined by the region protocol to the one party that owns the region's current state.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only offers atomic accesses and protocol-guarded leases.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// A fresh zero-filled memfd mapping of `len` bytes.
    pub(crate) fn zeroed(len: usize) -> io::Result<Mapping> {
        // ipc-channel asserts (panics) when memfd_create, ftruncate or mmap fail; turn that
        // into an error instead of taking the caller down.
        let shm = catch_unwind(|| IpcSharedMemory::from_byte(0, len)).map_err(|_| {
            io::Error::other(format!("could not create a shared-memory region of {len} bytes"))
        })?;
        Ok(Mapping::from_shm(shm))
    }

    /// Takes ownership of a region (fresh, or just received from another process).
    pub(crate) fn from_shm(mut shm: IpcSharedMemory) -> Mapping {
        let len = shm.len();
        let base = if len == 0 {
            NonNull::<u8>::dangling().as_ptr()
        } else {
            // SAFETY: `shm` is owned here and is never dereferenced again (neither `Deref`
            // nor `deref_mut`), so the `&mut [u8]` made here is the only reference ever
            // created, and it ends at once; afterwards only the raw pointer is used.
            unsafe { shm.deref_mut() }.as_mut_ptr()
        };
        Mapping { shm, base, len }
    }

    /// The ipc-channel value, for sending the region's descriptor to another process.
    pub(crate) fn shm(&self) -> &IpcSharedMemory {
        &self.shm
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first byte of the mapping, for the other `sys` modules' raw accesses.
    pub(super) fn base(&self) -> *mut u8 {
        self.base
    }

    /// The `i`-th 8-byte word as an atomic. Panics when out of bounds.
    #[inline]
    pub(crate) fn word(&self, i: usize) -> &AtomicU64 {
        let end = i.checked_add(1).and_then(|n| n.checked_mul(8));
        assert!(
            end.is_some_and(|end| end <= self.len),
            "word index {i} out of bounds for a mapping of {} bytes",
            self.len
        );
        // SAFETY: the word lies inside the mapping (checked above); the mapping is
        // page-aligned and `i * 8` is a multiple of 8, so the pointer is aligned for
        // `AtomicU64`; the memory outlives `&self`; and every process only ever accesses
        // these bytes atomically.
        unsafe { AtomicU64::from_ptr(self.base.add(i * 8).cast::<u64>()) }
    }

    /// Bytes a region built on this mapping can carry.
    pub(crate) fn capacity(&self) -> usize {
        self.len.saturating_sub(HEADER)
    }

    /// Takes the region for writing if nobody uses it.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<WriteLease> {
        self.word(0)
            .compare_exchange(FREE, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| WriteLease { map: self.clone(), published: false })
    }

    /// Takes back a region whose notice could not be sent (PUBLISHED, never read).
    pub(crate) fn reclaim(&self) {
        let _ = self.word(0).compare_exchange(PUBLISHED, FREE, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Copies out the first `len` data bytes of a region the writer published, and hands
    /// the region back to the writer; `None` (the region untouched) when `len` is above
    /// the capacity or the region does not hold a published frame.
    pub(crate) fn take_published(&self, len: usize) -> Option<Vec<u8>> {
        if len > self.capacity() || self.word(0).load(Ordering::Acquire) != PUBLISHED {
            return None;
        }
        let mut out = Vec::<u8>::with_capacity(len);
        let words = len / 8;
        // The region's data starts HEADER bytes into a page-aligned mapping: every word is
        // aligned, and so is `out` for bytes.
        let src = self.base.wrapping_add(HEADER);
        let dst = out.as_mut_ptr();
        for i in 0..words {
            // SAFETY: word `i` lies inside `[HEADER, HEADER + len)`, inside the mapping
            // (`len <= capacity`), and is 8-aligned (see above); the mapping outlives
            // `&self`; this process accesses region data only atomically. The destination
            // `[8 * i, 8 * i + 8)` lies within `out`'s capacity of `len` bytes.
            unsafe {
                let word =
                    AtomicU64::from_ptr(src.add(8 * i).cast::<u64>()).load(Ordering::Relaxed);
                ptr::write_unaligned(dst.add(8 * i).cast::<u64>(), word);
            }
        }
        for i in 8 * words..len {
            // SAFETY: as above, for the last `len % 8` bytes, one at a time.
            unsafe { *dst.add(i) = AtomicU8::from_ptr(src.add(i)).load(Ordering::Relaxed) };
        }
        // SAFETY: the `len` bytes were all written above.
        unsafe { out.set_len(len) };
        self.word(0).store(FREE, Ordering::Release);
        Some(out)
    }

    /// Marks a free region as never to be used again; false when it is in use.
    pub(crate) fn try_retire(&self) -> bool {
        self.word(0).compare_exchange(FREE, RETIRED, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping").field("len", &self.len).finish()
    }
}

/// The writer's exclusive hold on a region; dropping it without publishing frees it.
#[derive(Debug)]
pub(crate) struct WriteLease {
    map: Arc<Mapping>,
    published: bool,
}

impl WriteLease {
    /// Copies `parts`, one after the other, to the start of the region's data. Panics when
    /// they do not fit.
    pub(crate) fn copy_in<'a>(&mut self, parts: impl Iterator<Item = &'a [u8]> + Clone) {
        let total = parts.clone().try_fold(0usize, |sum, p| sum.checked_add(p.len()));
        assert!(total.is_some_and(|t| t <= self.map.capacity()), "frame larger than region");
        let mut at = HEADER;
        for part in parts {
            // SAFETY: the destination `[at, at + part.len())` lies inside the mapping (the
            // parts' total was checked against the capacity above, and `at` is HEADER plus
            // the parts before); this process holds the region in state WRITING, so by the
            // protocol no reader in any process looks at the data. A part is memory of this
            // process (the reader copies frames out of regions, never lends them): a part
            // never overlaps the destination.
            unsafe { ptr::copy_nonoverlapping(part.as_ptr(), self.map.base.add(at), part.len()) }
            at += part.len();
        }
    }

    /// The region being written.
    pub(crate) fn map(&self) -> &Arc<Mapping> {
        &self.map
    }

    /// Hands the region to the reader (release: the copied bytes are visible first).
    pub(crate) fn publish(mut self) {
        self.map.word(0).store(PUBLISHED, Ordering::Release);
        self.published = true;
    }
}

impl Drop for WriteLease {
    fn drop(&mut self) {
        if !self.published {
            self.map.word(0).store(FREE, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_protocol_round_trip() {
        let map = Arc::new(Mapping::zeroed(HEADER + 16).unwrap());
        assert!(map.take_published(4).is_none(), "not published yet");
        let mut w = map.try_acquire().unwrap();
        assert!(map.try_acquire().is_none());
        w.copy_in([&b"ab"[..], b"", b"cd"].into_iter());
        w.publish();
        assert!(map.try_acquire().is_none());
        assert!(!map.try_retire());
        assert!(map.take_published(17).is_none(), "above the capacity");
        assert_eq!(map.take_published(4).unwrap(), b"abcd");
        assert!(map.take_published(4).is_none(), "taken once");
        assert!(map.try_retire());
        assert!(map.try_acquire().is_none());
    }

    #[test]
    fn unpublished_write_is_released() {
        let map = Arc::new(Mapping::zeroed(HEADER + 8).unwrap());
        drop(map.try_acquire().unwrap());
        assert!(map.try_acquire().is_some());
    }
}
