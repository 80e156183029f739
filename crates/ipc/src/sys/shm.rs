//! Shared-memory mappings (memfd regions made by ipc-channel) seen as raw memory.
//!
//! A [`Mapping`] owns an `IpcSharedMemory` and reads and writes it only through one raw
//! pointer taken once, so no Rust reference ever covers bytes that another process may
//! change. Two uses sit on top of it:
//!
//! - words: the mapping as `[AtomicU64]` (every access from every process is atomic);
//! - regions: word 0 of a 64-byte header is a state flag, the frame bytes follow. The
//!   writer takes the region (`FREE -> WRITING`), copies a frame in and publishes it
//!   (`PUBLISHED`, release); the reader checks `PUBLISHED` (acquire), then either copies
//!   the bytes out ([`Mapping::take_published`]) and sets `FREE` (release) at once, or,
//!   when it trusts the writer, lends them in place as a [`ReadLease`], which sets `FREE`
//!   when it drops.
//!
//! A reader that does not trust the writer never lends out a `&[u8]` over a region: the
//! writer is another process, which may break the protocol and write while the reader
//! reads. Rust promises nothing for a reference over memory that changes under it, so that
//! reader copies the frame out with relaxed atomic loads (every access of this process is
//! atomic: no data race in its abstract machine) into memory of its own, which then
//! cannot change. A writer that writes meanwhile can only tear the copy, as it could have
//! sent other bytes anyway. A [`ReadLease`] is sound only while the writer keeps to the
//! protocol (a pool worker's reads of what its parent sent).

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
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
    /// ipc-channel's mapping and its descriptor; `None` once [`detach`](Self::detach)ed,
    /// when `base` is a mapping of this struct's own.
    shm: Option<IpcSharedMemory>,
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
        Mapping { shm: Some(shm), base, len }
    }

    /// The ipc-channel value, for sending the region's descriptor to another process;
    /// `None` once detached.
    pub(crate) fn shm(&self) -> Option<&IpcSharedMemory> {
        self.shm.as_ref()
    }

    /// Closes the descriptor and keeps the memory: for a mapping this process will never
    /// send on, so that it holds no descriptor for it. The same pages are mapped a second
    /// time (`mremap` with an old size of 0 duplicates a shared mapping), then ipc-channel's
    /// mapping and its descriptor go. The memory moves: callers hold no pointer into it.
    pub(crate) fn detach(&mut self) -> io::Result<()> {
        if self.shm.is_none() || self.len == 0 {
            return Ok(());
        }
        // SAFETY: `base..base + len` is ipc-channel's live shared mapping, owned by
        // `self.shm`; with an old size of 0 the kernel leaves it as it is and maps the
        // same pages again elsewhere (MREMAP_MAYMOVE), touching no memory of ours.
        let new = unsafe { libc::mremap(self.base.cast(), 0, self.len, libc::MREMAP_MAYMOVE) };
        if new == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.base = new.cast();
        // Unmaps the first mapping and closes the descriptor.
        self.shm = None;
        Ok(())
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

    /// Appends the first `len` data bytes of a region the writer published to `out` (a
    /// copy, see the module docs), and hands the region back to the writer; false (the
    /// region and `out` untouched) when `len` is above the capacity or the region does not
    /// hold a published frame.
    pub(crate) fn take_published(&self, len: usize, out: &mut Vec<u8>) -> bool {
        if len > self.capacity() || self.word(0).load(Ordering::Acquire) != PUBLISHED {
            return false;
        }
        out.reserve(len);
        // SAFETY: the region's data `[HEADER, HEADER + len)` lies inside the mapping (`len
        // <= capacity`), which outlives `&self`, and this process accesses region data
        // only atomically or through a read lease (never over a region it copies from).
        unsafe { copy_atomically(self.base.wrapping_add(HEADER), out.spare_capacity_mut(), len) };
        // SAFETY: the `len` bytes after the old length were all written just above.
        unsafe { out.set_len(out.len() + len) };
        self.word(0).store(FREE, Ordering::Release);
        true
    }

    /// Marks a free region as never to be used again; false when it is in use.
    pub(crate) fn try_retire(&self) -> bool {
        self.word(0).compare_exchange(FREE, RETIRED, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.shm.is_none() && self.len > 0 {
            // SAFETY: a detached mapping's `base..base + len` was mapped by `detach` and is
            // owned by this value alone; nothing refers to it past its drop.
            unsafe { libc::munmap(self.base.cast(), self.len) };
        }
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
            // process, possibly a read lease on a region; a read lease exists only on a
            // region in state PUBLISHED, and this one is WRITING: a part never overlaps the
            // destination.
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

/// Copies `len` bytes from shared memory at `src` into `dst` with relaxed atomic loads
/// (word by word where `src` is 8-aligned, about memcpy's speed), so that a writer in
/// another process breaking the protocol meanwhile is no data race in this one.
///
/// # Safety
///
/// `[src, src + len)` lies inside a live mapping that this process only ever accesses
/// atomically.
pub(super) unsafe fn copy_atomically(src: *const u8, dst: &mut [MaybeUninit<u8>], len: usize) {
    assert!(dst.len() >= len, "copy out of shared memory into too small a buffer");
    let dst = dst.as_mut_ptr().cast::<u8>();
    let byte = |i: usize| {
        // SAFETY: `i < len`: the byte lies inside `[src, src + len)` (the caller's promise)
        // and the destination inside `dst` (checked above).
        unsafe { *dst.add(i) = AtomicU8::from_ptr(src.add(i).cast_mut()).load(Ordering::Relaxed) }
    };
    let head = src.align_offset(8).min(len);
    (0..head).for_each(byte);
    let words = (len - head) / 8;
    for w in 0..words {
        let i = head + 8 * w;
        // SAFETY: `[i, i + 8)` lies inside `[src, src + len)` and `src + i` is 8-aligned;
        // the destination `[i, i + 8)` lies within `dst` (checked above).
        unsafe {
            let word =
                AtomicU64::from_ptr(src.add(i).cast_mut().cast::<u64>()).load(Ordering::Relaxed);
            ptr::write_unaligned(dst.add(i).cast::<u64>(), word);
        }
    }
    (head + 8 * words..len).for_each(byte);
}

/// The reader's hold on a published region whose writer it trusts: the frame's bytes, in
/// place, freed on drop.
pub(crate) struct ReadLease {
    map: Arc<Mapping>,
    len: usize,
}

impl ReadLease {
    /// Borrows the first `len` data bytes of a region the writer published.
    pub(crate) fn new(map: Arc<Mapping>, len: usize) -> Option<ReadLease> {
        if len > map.capacity() || map.word(0).load(Ordering::Acquire) != PUBLISHED {
            return None;
        }
        Some(ReadLease { map, len })
    }

    /// The frame's bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `[HEADER, HEADER + len)` lies inside the mapping (checked in `new`) which
        // lives as long as `self.map`; the region is in state PUBLISHED (acquire-loaded in
        // `new`, so the writer's copy is visible) and a writer that keeps to the protocol
        // (the caller of `new` trusts it to) does not touch it until this lease's `Drop`
        // stores FREE, after the borrow returned here has ended.
        unsafe { std::slice::from_raw_parts(self.map.base.add(HEADER), self.len) }
    }
}

impl Drop for ReadLease {
    fn drop(&mut self) {
        self.map.word(0).store(FREE, Ordering::Release);
    }
}

impl fmt::Debug for ReadLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadLease").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_protocol_round_trip() {
        let map = Arc::new(Mapping::zeroed(HEADER + 16).unwrap());
        let mut out = Vec::new();
        assert!(!map.take_published(4, &mut out), "not published yet");
        let mut w = map.try_acquire().unwrap();
        assert!(map.try_acquire().is_none());
        w.copy_in([&b"ab"[..], b"", b"cd"].into_iter());
        w.publish();
        assert!(map.try_acquire().is_none());
        assert!(!map.try_retire());
        assert!(!map.take_published(17, &mut out), "above the capacity");
        assert!(map.take_published(4, &mut out));
        assert_eq!(out, b"abcd");
        assert!(!map.take_published(4, &mut out), "taken once");
        assert!(map.try_retire());
        assert!(map.try_acquire().is_none());
    }

    #[test]
    fn a_detached_mapping_keeps_the_memory() {
        let shm = IpcSharedMemory::from_byte(0, 4096);
        let there = Mapping::from_shm(shm.clone());
        let mut here = Mapping::from_shm(shm);
        here.detach().unwrap();
        assert!(here.shm().is_none());
        here.word(3).store(42, Ordering::Relaxed);
        assert_eq!(there.word(3).load(Ordering::Relaxed), 42);
        there.word(4).store(7, Ordering::Relaxed);
        assert_eq!(here.word(4).load(Ordering::Relaxed), 7);
    }

    #[test]
    fn a_read_lease_lends_in_place_and_frees_on_drop() {
        let map = Arc::new(Mapping::zeroed(HEADER + 16).unwrap());
        assert!(ReadLease::new(map.clone(), 4).is_none(), "not published yet");
        let mut w = map.try_acquire().unwrap();
        w.copy_in([&b"wxyz"[..]].into_iter());
        w.publish();
        assert!(ReadLease::new(map.clone(), 17).is_none(), "above the capacity");
        let lease = ReadLease::new(map.clone(), 4).unwrap();
        assert_eq!(lease.as_slice(), b"wxyz");
        assert!(map.try_acquire().is_none(), "lent");
        drop(lease);
        assert!(map.try_acquire().is_some());
    }

    #[test]
    fn unpublished_write_is_released() {
        let map = Arc::new(Mapping::zeroed(HEADER + 8).unwrap());
        drop(map.try_acquire().unwrap());
        assert!(map.try_acquire().is_some());
    }
}
