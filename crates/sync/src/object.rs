//! [`Object`]: one shared object's memory (a sealed memfd) as this process maps it, with
//! the header every object starts with and the robust locks that live in it.
//!
//! Header (64 bytes): magic, kind, the element type's fingerprint, a parameter (a
//! length, a bound) and flags — what a process checks before it trusts memory another
//! process handed it. A handle that arrives as the wrong kind or for another element type is an
//! error, never a reinterpretation.
//!
//! Locks: a robust mutex at an offset, held through a [`Held`] guard. The mapping counts
//! the locks this process holds in it; if the last handle goes while one is still held
//! (a guard leaked with `mem::forget`), the memory stays mapped for good rather than be
//! unmapped under a thread's robust list.

use std::any::type_name;
use std::ffi::CStr;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use multiproc_codec::Hasher64;

use crate::sys::memory::Mapping;
use crate::sys::mutex::{Kind as MutexKind, Locked, RawMutex};

const MAGIC: u64 = u64::from_le_bytes(*b"mpsync01");
/// Bytes of the common header.
pub(crate) const HEADER: usize = 64;

/// What an object is (stored in its header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Kind {
    Queue = 1,
    Pipe = 2,
    Lock = 3,
    RLock = 4,
    Semaphore = 5,
    Condition = 6,
    Event = 7,
    Barrier = 8,
    Value = 9,
    Array = 10,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Queue => "queue",
            Kind::Pipe => "pipe",
            Kind::Lock => "lock",
            Kind::RLock => "rlock",
            Kind::Semaphore => "semaphore",
            Kind::Condition => "condition",
            Kind::Event => "event",
            Kind::Barrier => "barrier",
            Kind::Value => "value",
            Kind::Array => "array",
        }
    }

    fn memfd_name(self) -> &'static CStr {
        match self {
            Kind::Queue => c"multiproc-queue",
            Kind::Pipe => c"multiproc-pipe",
            Kind::Lock | Kind::RLock => c"multiproc-lock",
            Kind::Semaphore => c"multiproc-semaphore",
            Kind::Condition => c"multiproc-condition",
            Kind::Event => c"multiproc-event",
            Kind::Barrier => c"multiproc-barrier",
            Kind::Value => c"multiproc-value",
            Kind::Array => c"multiproc-array",
        }
    }
}

/// The fingerprint of an element type, stored in an object's header.
pub(crate) fn type_hash<T: ?Sized>() -> u64 {
    let mut h = Hasher64::new();
    h.write(type_name::<T>().as_bytes());
    h.finish()
}

/// One shared object mapped into this process.
pub(crate) struct Object {
    map: Mapping,
    kind: Kind,
}

impl Object {
    /// Creates the memory of a new object: `len` bytes, zeroed, with its header written.
    pub(crate) fn create(
        kind: Kind,
        elem: u64,
        param: u64,
        flags: u64,
        len: usize,
    ) -> io::Result<Arc<Object>> {
        let map = Mapping::anonymous(kind.memfd_name(), len.max(HEADER))?;
        map.u64_at(0).store(MAGIC, Ordering::Relaxed);
        map.u64_at(8).store(kind as u64, Ordering::Relaxed);
        map.u64_at(16).store(elem, Ordering::Relaxed);
        map.u64_at(24).store(param, Ordering::Relaxed);
        map.u64_at(32).store(flags, Ordering::Relaxed);
        Ok(Arc::new(Object { map, kind }))
    }

    /// Maps an object another process sent, checking that it is a `kind` of `elem`.
    pub(crate) fn receive(fd: OwnedFd, kind: Kind, elem: u64) -> Result<Arc<Object>, String> {
        Object::receive_as(fd, kind, elem, false)
    }

    /// [`receive`](Self::receive) for an object sealed read-only (`frozen`) or not.
    pub(crate) fn receive_as(
        fd: OwnedFd,
        kind: Kind,
        elem: u64,
        frozen: bool,
    ) -> Result<Arc<Object>, String> {
        let map =
            Mapping::receive(fd).map_err(|e| format!("cannot map the {}: {e}", kind.name()))?;
        if map.len() < HEADER || map.writable() == frozen {
            return Err(format!("the memory received is not a {}", kind.name()));
        }
        if map.read_u64(0) != MAGIC || map.read_u64(8) != kind as u64 {
            return Err(format!("the memory received is not a {}", kind.name()));
        }
        if map.read_u64(16) != elem {
            return Err(format!("the {} received holds another element type", kind.name()));
        }
        Ok(Arc::new(Object { map, kind }))
    }

    /// Seals the object read-only for good; fails while another handle maps it writable
    /// (in this process or another), giving it back.
    pub(crate) fn freeze(self: Arc<Object>) -> Result<Arc<Object>, (Arc<Object>, io::Error)> {
        let kind = self.kind;
        let obj = Arc::try_unwrap(self).map_err(|obj| {
            let busy = io::Error::new(io::ErrorKind::ResourceBusy, "other handles of it exist");
            (obj, busy)
        })?;
        match obj.map.freeze() {
            Ok(map) => Ok(Arc::new(Object { map, kind })),
            Err((Some(map), e)) => Err((Arc::new(Object { map, kind }), e)),
            Err((None, e)) => Err((Arc::new(Object { map: lost(), kind }), e)),
        }
    }

    /// The memory.
    pub(crate) fn map(&self) -> &Mapping {
        &self.map
    }

    /// The parameter stored at creation.
    pub(crate) fn param(&self) -> u64 {
        self.map.read_u64(24)
    }

    /// The flags stored at creation.
    pub(crate) fn flags(&self) -> u64 {
        self.map.read_u64(32)
    }

    /// The robust mutex at `off`.
    pub(crate) fn mutex(&self, off: usize) -> RawMutex<'_> {
        RawMutex::at(&self.map, off)
    }

    /// Initialises the mutex at `off` (creator only, before the object is shared).
    pub(crate) fn init_mutex(&self, off: usize, kind: MutexKind) -> io::Result<()> {
        self.mutex(off).init(kind)
    }

    /// Locks the mutex at `off`. `Ok((held, owner_died))` once this thread holds it.
    pub(crate) fn lock(
        &self,
        off: usize,
        deadline: Option<Instant>,
    ) -> io::Result<Result<(Held<'_>, bool), Locked>> {
        self.acquire(off, self.mutex(off).lock(deadline)?)
    }

    /// Locks the mutex at `off` if it is free.
    pub(crate) fn try_lock(&self, off: usize) -> io::Result<Result<(Held<'_>, bool), Locked>> {
        self.acquire(off, self.mutex(off).try_lock()?)
    }

    fn acquire(&self, off: usize, got: Locked) -> io::Result<Result<(Held<'_>, bool), Locked>> {
        let died = match got {
            Locked::Yes => false,
            Locked::OwnerDied => true,
            other => return Ok(Err(other)),
        };
        self.map.hold();
        Ok(Ok((Held { obj: self, off, not_send: PhantomData }, died)))
    }

    /// Locks an internal mutex, which guards state this crate keeps consistent at every
    /// step: a dead holder needs no repair beyond marking the mutex consistent.
    pub(crate) fn lock_internal(&self, off: usize) -> io::Result<Held<'_>> {
        match self.lock(off, None)? {
            Ok((held, died)) => {
                if died {
                    held.make_consistent();
                }
                Ok(held)
            }
            Err(other) => Err(io::Error::other(format!("internal lock: {other:?}"))),
        }
    }
}

/// A zero-length mapping, standing for memory lost in a failed freeze.
fn lost() -> Mapping {
    Mapping::anonymous(c"multiproc-lost", 0).unwrap_or_else(|e| panic!("cannot make a memfd: {e}"))
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Object").field("kind", &self.kind).field("map", &self.map).finish()
    }
}

/// This thread's hold on a robust mutex of an object; unlocks on drop. `!Send`: a robust
/// mutex is unlocked by the thread that locked it.
pub(crate) struct Held<'a> {
    obj: &'a Object,
    off: usize,
    not_send: PhantomData<*const ()>,
}

impl Held<'_> {
    /// Marks the state after an owner's death as repaired.
    pub(crate) fn make_consistent(&self) {
        self.obj.mutex(self.off).make_consistent();
    }

    /// Keeps the lock held beyond this value, by this thread (which later unlocks it
    /// with [`Object::unlock_kept`]).
    pub(crate) fn keep(self) {
        std::mem::forget(self);
    }
}

impl Object {
    /// Unlocks the mutex at `off` whose hold this thread kept ([`Held::keep`]).
    pub(crate) fn unlock_kept(&self, off: usize) {
        self.mutex(off).unlock();
        self.map.unhold();
    }
}

impl crate::sys::memory::Holds for Held<'_> {}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.obj.mutex(self.off).unlock();
        self.obj.map.unhold();
    }
}

impl fmt::Debug for Held<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Held").field("off", &self.off).finish()
    }
}
