//! Everything `unsafe` in this crate: mappings of shared memory, futexes, robust
//! process-shared mutexes, sockets that carry descriptors, and a few system calls.
//!
//! Each function states what it assumes; the modules above build protocols on these
//! without touching a raw pointer.

pub(crate) mod clock;
pub(crate) mod fdset;
pub(crate) mod futex;
pub(crate) mod memory;
pub(crate) mod mutex;
pub(crate) mod os;
pub(crate) mod pod;
pub(crate) mod socket;

use std::io;

/// Turns a libc `-1` into the thread's `errno`.
pub(crate) fn cvt<T: Default + PartialOrd>(r: T) -> io::Result<T> {
    if r < T::default() { Err(io::Error::last_os_error()) } else { Ok(r) }
}
