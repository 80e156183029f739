//! [`PerProcess`]: a lazily made value per process, which a forked child makes afresh
//! instead of using its parent's copy (whose locks another thread of the parent may have
//! held at the fork, and so stay locked for ever in the child).

use std::sync::atomic::{AtomicPtr, Ordering};

/// One value per process, made on first use and leaked (one per process that uses it).
pub(crate) struct PerProcess<T: 'static> {
    ptr: AtomicPtr<(u32, T)>,
}

impl<T: 'static> PerProcess<T> {
    pub(crate) const fn new() -> PerProcess<T> {
        PerProcess { ptr: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// This process's value, made by `init` on first use.
    pub(crate) fn get(&self, init: impl FnOnce() -> T) -> &'static T {
        let pid = std::process::id();
        let current = self.ptr.load(Ordering::Acquire);
        // SAFETY: every non-null pointer stored here comes from `Box::leak` below and is
        // never freed, so it is valid for 'static.
        if let Some(entry) = unsafe { current.as_ref() }
            && entry.0 == pid
        {
            return &entry.1;
        }
        let fresh: *mut (u32, T) = Box::leak(Box::new((pid, init())));
        match self.ptr.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `fresh` was just leaked and is never freed.
            Ok(_) => unsafe { &(*fresh).1 },
            Err(winner) => {
                // SAFETY: `fresh` was leaked above and published nowhere; reclaim it.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: as for `current`: leaked, never freed; another thread of this
                // process made it, so it belongs to this pid.
                unsafe { &(*winner).1 }
            }
        }
    }
}
