//! [`Mapping`]: a file of shared memory (a memfd, or a named POSIX object) mapped into this
//! process, read and written only through raw pointers and atomics.
//!
//! No Rust reference ever covers bytes another process may change, except the atomics
//! this module hands out (every process reads and writes those words atomically only)
//! and the slices of a mapping that is read-only for everyone (a sealed memfd). Offsets
//! are checked against the mapping on every access: what a peer wrote into shared memory
//! (a position, a length) can be wrong, and must never lead outside the mapping.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::mem::{align_of, size_of};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::cvt;
use super::fdset::Tracked;
use super::pod::Pod;

/// Proof that the caller holds the lock that guards some bytes of a mapping, in every
/// process that touches them (implemented by the holds of robust mutexes).
pub(crate) trait Holds {}

/// Seals every memfd of this crate carries: its size is fixed for good, so no process can
/// shrink it under another's mapping (which would make that one fault).
const SIZE_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;

/// A shared-memory file mapped read-write (or read-only, once sealed) into this process.
pub(crate) struct Mapping {
    base: NonNull<u8>,
    len: usize,
    fd: Tracked,
    writable: bool,
    /// Robust mutexes in this mapping that threads of this process hold (see `hold`).
    held: AtomicUsize,
}

// SAFETY: `base` points into a mapping owned by `self` for its whole life. Every access
// through it is atomic, or a copy whose exclusivity the callers' protocols (a lock in the
// mapping) guarantee across threads and processes alike.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` offers only atomics, copies and read-only slices of a
// mapping nobody can write.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// A fresh zero-filled memfd of `len` bytes (sparse: pages cost memory once touched),
    /// its size sealed.
    pub(crate) fn anonymous(name: &CStr, len: usize) -> io::Result<Mapping> {
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        // SAFETY: `name` is a valid C string; memfd_create returns a new descriptor or -1.
        let fd = cvt(unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
        // SAFETY: the kernel just made this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let size = libc::off_t::try_from(len).map_err(|_| io::Error::other("size too large"))?;
        // SAFETY: ftruncate and fcntl on a descriptor we own.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), size) })?;
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, SIZE_SEALS) })?;
        Mapping::map(fd, len, true)
    }

    /// Maps a memfd received from another process, read-write unless it is sealed
    /// against writes. Refuses one whose size is not sealed: its owner could shrink it.
    pub(crate) fn receive(fd: OwnedFd) -> io::Result<Mapping> {
        // SAFETY: F_GET_SEALS on a descriptor we own.
        let seals = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })?;
        if seals & SIZE_SEALS != SIZE_SEALS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the shared memory received is not sealed against resizing",
            ));
        }
        let len = file_size(fd.as_fd())?;
        Mapping::map(fd, len, seals & libc::F_SEAL_WRITE == 0)
    }

    /// Maps a named POSIX shared-memory object opened by the caller (its size may change
    /// only through this crate, which never does once it is created).
    pub(crate) fn named(fd: OwnedFd, len: usize) -> io::Result<Mapping> {
        Mapping::map(fd, len, true)
    }

    fn map(fd: OwnedFd, len: usize, writable: bool) -> io::Result<Mapping> {
        let fd = Tracked::new(fd);
        if len == 0 {
            return Ok(Mapping {
                base: NonNull::dangling(),
                len,
                fd,
                writable,
                held: AtomicUsize::new(0),
            });
        }
        let prot = if writable { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
        // SAFETY: a fresh shared mapping of `len` bytes of a file we own; the kernel picks
        // the address. The mapping stays valid after `fd` is closed, but we keep `fd` (to
        // pass it on) until the mapping is dropped.
        let base =
            unsafe { libc::mmap(ptr::null_mut(), len, prot, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(base.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Mapping { base, len, fd, writable, held: AtomicUsize::new(0) })
    }

    /// Counts a robust mutex of this mapping that a thread of this process now holds.
    /// While any is held, dropping the mapping leaks it instead of unmapping it: the
    /// holder's robust list points into it, and the kernel and libc write there.
    pub(crate) fn hold(&self) {
        self.held.fetch_add(1, Ordering::Relaxed);
    }

    /// Undoes one [`hold`](Self::hold) (the mutex was unlocked).
    pub(crate) fn unhold(&self) {
        self.held.fetch_sub(1, Ordering::Relaxed);
    }

    /// The descriptor, for sending the memory to another process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether this process may write it.
    pub(crate) fn writable(&self) -> bool {
        self.writable
    }

    /// Panics unless `[off, off + len)` lies in the mapping.
    #[inline]
    #[track_caller]
    fn check(&self, off: usize, len: usize) {
        let end = off.checked_add(len);
        assert!(
            end.is_some_and(|end| end <= self.len),
            "shared memory access [{off}, +{len}) outside a mapping of {} bytes",
            self.len
        );
    }

    /// Whether `[off, off + len)` lies in the mapping (for offsets read from shared memory).
    #[inline]
    pub(crate) fn contains(&self, off: usize, len: usize) -> bool {
        off.checked_add(len).is_some_and(|end| end <= self.len)
    }

    /// The 4-byte word at `off` as an atomic (for futexes and flags).
    #[inline]
    #[track_caller]
    pub(crate) fn u32_at(&self, off: usize) -> &AtomicU32 {
        self.check(off, 4);
        assert!(off.is_multiple_of(4) && self.writable, "unaligned or read-only atomic at {off}");
        // SAFETY: in bounds and aligned (the mapping is page-aligned; `off` is a multiple
        // of 4), valid for as long as `&self`, and every process accesses these bytes
        // atomically only.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(off).cast()) }
    }

    /// The 8-byte word at `off` as an atomic.
    #[inline]
    #[track_caller]
    pub(crate) fn u64_at(&self, off: usize) -> &AtomicU64 {
        self.check(off, 8);
        assert!(off.is_multiple_of(8) && self.writable, "unaligned or read-only atomic at {off}");
        // SAFETY: as for `u32_at`, with 8-byte alignment.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(off).cast()) }
    }

    /// A raw pointer to `len` bytes at `off`, for the pthread mutexes that live in the
    /// mapping (only `sys::mutex` dereferences it, through libc).
    #[track_caller]
    pub(crate) fn raw(&self, off: usize, len: usize) -> *mut u8 {
        self.check(off, len);
        // SAFETY: in bounds (checked above).
        unsafe { self.base.as_ptr().add(off) }
    }

    /// Copies `src` to `off`. The caller owns those bytes by its protocol (a lock, or
    /// space no reader looks at).
    #[inline]
    #[track_caller]
    pub(crate) fn write(&self, off: usize, src: &[u8]) {
        self.check(off, src.len());
        assert!(self.writable, "write to read-only shared memory");
        // SAFETY: the destination lies in the mapping (checked) and is writable; `src`
        // is this process's memory, never inside a writable shared mapping that the
        // caller also writes. No reference covers the destination.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(off), src.len()) }
    }

    /// Copies `src` to `off` through the file instead of the mapping: the kernel fills
    /// the pages it allocates as it goes, without zeroing them first or taking a fault per
    /// page (into fresh memory, 64 MiB at about 2 GB/s here instead of 0.8–1.2 through
    /// the mapping, faulted or populated first). What the file refuses is copied through
    /// the mapping, as [`write`](Self::write) does.
    #[track_caller]
    pub(crate) fn write_through_file(&self, off: usize, src: &[u8]) {
        self.check(off, src.len());
        assert!(self.writable, "write to read-only shared memory");
        let mut done = 0;
        while done < src.len() {
            let Ok(at) = libc::off_t::try_from(off + done) else { break };
            let rest = &src[done..];
            // SAFETY: `pwrite` reads `rest.len()` bytes of `rest`, this process's memory,
            // and writes them to the file at `at`, which lies in the mapped length
            // (checked above): the file is at least that long (its size is sealed, or
            // set by this crate), so the file does not grow.
            let n =
                unsafe { libc::pwrite(self.fd.as_raw_fd(), rest.as_ptr().cast(), rest.len(), at) };
            match usize::try_from(n) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(_) if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if done < src.len() {
            self.write(off + done, &src[done..]);
        }
    }

    /// Copies `dst.len()` bytes at `off` into `dst`.
    #[inline]
    #[track_caller]
    pub(crate) fn read(&self, off: usize, dst: &mut [u8]) {
        self.check(off, dst.len());
        // SAFETY: the source lies in the mapping (checked); `dst` is this process's own
        // memory. Another process writing the source at the same time would be a bug of
        // the caller's protocol, which gives only a wrong value here, never bad memory.
        unsafe {
            ptr::copy_nonoverlapping(self.base.as_ptr().add(off), dst.as_mut_ptr(), dst.len())
        }
    }

    /// `len` values of `T` at `off`, for the holder of the lock that guards them (`_lock`,
    /// borrowed as long as the slice: one view per hold).
    #[track_caller]
    pub(crate) fn locked<'m, T: Pod>(
        &'m self,
        off: usize,
        len: usize,
        _lock: &'m mut impl Holds,
    ) -> &'m mut [T] {
        let bytes = len.checked_mul(size_of::<T>()).expect("size overflows");
        self.check(off, bytes);
        assert!(
            off.is_multiple_of(align_of::<T>()) && self.writable,
            "misaligned or read-only values"
        );
        if len == 0 {
            return &mut [];
        }
        // SAFETY: the range lies in the mapping (checked), is aligned for `T` (the
        // mapping is page-aligned, `off` a multiple of T's alignment) and writable; every
        // bit pattern is a valid `T` (`Pod`). Exclusive: the caller holds the lock that
        // every process takes to touch these bytes (this crate hands them out nowhere
        // else), and the `&mut` borrow of that hold keeps this the only view while it
        // lives.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(off).cast::<T>(), len) }
    }

    /// `len` values of `T` at `off`, shared, for the holder of the lock that guards them.
    #[track_caller]
    pub(crate) fn locked_ref<'m, T: Pod>(
        &'m self,
        off: usize,
        len: usize,
        _lock: &'m impl Holds,
    ) -> &'m [T] {
        let bytes = len.checked_mul(size_of::<T>()).expect("size overflows");
        self.check(off, bytes);
        assert!(off.is_multiple_of(align_of::<T>()), "misaligned values");
        if len == 0 {
            return &[];
        }
        // SAFETY: as in `locked`; the shared borrow of the hold excludes `locked`'s
        // mutable view of the same bytes while this one lives, and other threads and
        // processes do not touch them without the lock.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(off).cast::<T>(), len) }
    }

    /// `len` values of `T` at `off` of a mapping no process can write (sealed).
    #[track_caller]
    pub(crate) fn frozen_values<T: Pod>(&self, off: usize, len: usize) -> &[T] {
        let bytes = len.checked_mul(size_of::<T>()).expect("size overflows");
        let all = self.frozen().expect("a frozen mapping");
        assert!(
            off.is_multiple_of(align_of::<T>()) && off + bytes <= all.len(),
            "bad frozen range"
        );
        if len == 0 {
            return &[];
        }
        // SAFETY: in bounds (checked against the whole mapping, which `frozen` lends for
        // as long as `&self`), aligned, every bit pattern a valid `T` (`Pod`), and
        // nobody can write the bytes (F_SEAL_WRITE).
        unsafe { std::slice::from_raw_parts(all.as_ptr().add(off).cast::<T>(), len) }
    }

    /// Reads the 8 bytes at `off` (a plain copy: works on read-only mappings too).
    pub(crate) fn read_u64(&self, off: usize) -> u64 {
        let mut b = [0u8; 8];
        self.read(off, &mut b);
        u64::from_le_bytes(b)
    }

    /// The whole mapping as a slice, when no process can write it (sealed read-only).
    pub(crate) fn frozen(&self) -> Option<&[u8]> {
        if self.writable {
            return None;
        }
        if self.len == 0 {
            return Some(&[]);
        }
        // SAFETY: the mapping is read-only and the memfd carries F_SEAL_WRITE (only
        // `Mapping::receive` and `freeze` make read-only mappings, after checking or
        // adding the seal), so no process can change these bytes while the slice lives.
        Some(unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.len) })
    }

    /// Gives the pages of `[off, off + len)` back to the system (they read as zeros
    /// afterwards, in every process). Rounded inwards to whole pages.
    pub(crate) fn release(&self, off: usize, len: usize) {
        let page = page_size();
        let start = off.next_multiple_of(page);
        let end = off.saturating_add(len).min(self.len) / page * page;
        if end <= start || !self.writable {
            return;
        }
        // SAFETY: `[start, end)` lies in the mapping (rounded inwards from a range clamped
        // to it) and is page-aligned; MADV_REMOVE frees the file's pages there. The caller
        // owns the range (no data of anyone's lives there). Best effort: memory not given
        // back is only memory, so the result is ignored.
        unsafe {
            libc::madvise(self.base.as_ptr().add(start).cast(), end - start, libc::MADV_REMOVE)
        };
    }

    /// Seals the memfd against writes, for good, and maps it read-only. Fails while any
    /// process (this one included, through another handle) still maps it writable; the
    /// error then gives back a writable mapping when one could be made again.
    pub(crate) fn freeze(self) -> Result<Mapping, (Option<Mapping>, io::Error)> {
        let fd = match self.fd.as_fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(e) => return Err((Some(self), e)),
        };
        let len = self.len;
        drop(self); // our own writable view would block the seal
        // SAFETY: F_ADD_SEALS on a descriptor we own.
        let sealed =
            cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_WRITE) });
        match sealed {
            Ok(_) => Mapping::map(fd, len, false).map_err(|e| (None, e)),
            Err(e) => Err((Mapping::map(fd, len, true).ok(), e)),
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len != 0 && self.held.load(Ordering::Relaxed) == 0 {
            // SAFETY: `base` and `len` describe the mapping made in `map`, unmapped only
            // here. No reference into it outlives `self` (atomics and slices borrow it).
            unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
        }
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("len", &self.len)
            .field("fd", &self.fd.as_raw_fd())
            .field("writable", &self.writable)
            .finish()
    }
}

/// The size of the file behind `fd`.
pub(crate) fn file_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let stat = fstat(fd)?;
    usize::try_from(stat.st_size).map_err(|_| io::Error::other("negative file size"))
}

/// `fstat(fd)`.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `stat` on success.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) })?;
    // SAFETY: initialised by the successful fstat.
    Ok(unsafe { stat.assume_init() })
}

/// The system's page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_copies() {
        let m = Mapping::anonymous(c"test", 8192).unwrap();
        m.u64_at(8).store(7, std::sync::atomic::Ordering::Relaxed);
        m.write(100, b"hello");
        let mut out = [0u8; 5];
        m.read(100, &mut out);
        assert_eq!(&out, b"hello");
        let there = Mapping::receive(m.fd().try_clone_to_owned().unwrap()).unwrap();
        assert_eq!(there.u64_at(8).load(std::sync::atomic::Ordering::Relaxed), 7);
        assert!(!m.contains(8190, 4));
    }

    #[test]
    #[should_panic(expected = "outside a mapping")]
    fn out_of_bounds_panics() {
        let m = Mapping::anonymous(c"test", 4096).unwrap();
        m.write(4095, b"ab");
    }

    #[test]
    fn freeze_makes_a_read_only_slice() {
        let m = Mapping::anonymous(c"test", 4096).unwrap();
        m.write(0, b"table");
        let frozen = m.freeze().map_err(|(_, e)| e).unwrap();
        assert_eq!(&frozen.frozen().unwrap()[..5], b"table");
        let there = Mapping::receive(frozen.fd().try_clone_to_owned().unwrap()).unwrap();
        assert!(!there.writable());
    }
}
