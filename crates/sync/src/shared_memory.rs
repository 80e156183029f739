//! [`SharedMemory`]: a block of bytes shared between processes, named or anonymous.
//! Python: `multiprocessing.shared_memory.SharedMemory`.
//!
//! A named block is a POSIX shared-memory object (`/dev/shm/<name>`), created with
//! `O_EXCL` and mode 0600: nothing can be slipped in under its name, and no other user
//! can open it; attaching refuses an object another user owns or that others may open.
//! Every process that holds a handle holds a shared `flock` on its own open description
//! of it; the last handle to go, in whichever process, finds no other lock and removes the
//! name — so a block is not left in `/dev/shm` once nobody holds it (only a process
//! killed while it holds the very last handle leaves it; CPython's resource tracker
//! catches that case, this crate does not). A handle on its way to another process (in
//! a queue item, or handed to a child) holds the memory but not the name: if every other
//! handle goes meanwhile, the name goes with them, and the one that arrives works on,
//! without a name others could attach to.

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::SyncError;
use crate::sys::memory::{Mapping, fstat};
use crate::sys::os;
use crate::travel::{self, Route};

/// Copies of at least this many bytes go through the file (`pwrite`), not the mapping.
const THROUGH_FILE_MIN: usize = 2 << 20;

struct Block {
    map: Mapping,
    /// The POSIX name (`/name`), for a named block.
    name: Option<CString>,
}

impl Drop for Block {
    fn drop(&mut self) {
        let Some(name) = &self.name else { return };
        // The last holder anywhere: nobody else holds a shared lock on the object. And
        // the name still names it (not a new object made under a name unlinked before).
        if os::flock(self.map.fd(), true).unwrap_or(false) && os::names(name, self.map.fd()) {
            let _ = os::shm_unlink(name);
        }
        // Unlock now rather than at the close: a child forked meanwhile keeps our open
        // description alive through its copy of the mapping, and the lock with it.
        let _ = os::unlock(self.map.fd());
    }
}

/// A block of bytes shared between processes. Python:
/// `multiprocessing.shared_memory.SharedMemory`.
///
/// [`new`](Self::new) and [`create`](Self::create) make a named block (attach to it by
/// name from another process with [`attach`](Self::attach)); [`anonymous`](Self::anonymous)
/// makes one that only travels as a handle. Every handle also travels to other processes
/// as a `Process` argument, a pool initializer's argument, or inside a queue item.
///
/// The block is removed from `/dev/shm` when the last handle on it, in any process, is
/// dropped (or at once with [`unlink`](Self::unlink)); its memory lives while mapped.
///
/// Access is by copy ([`read_at`](Self::read_at), [`write_at`](Self::write_at)): the
/// bytes may change under you at any time if another process writes, so no reference to
/// them is handed out. Guard them with a [`Lock`](crate::Lock) if several write.
///
/// ```
/// use multiproc::sync::SharedMemory;
///
/// let shm = SharedMemory::new(4096)?;
/// shm.write_at(0, b"hello")?;
/// let there = SharedMemory::attach(shm.name().unwrap())?; // as another process would
/// let mut buf = [0u8; 5];
/// there.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// assert_eq!(there.len(), 4096);
/// # Ok::<(), multiproc::sync::SyncError>(())
/// ```
#[derive(Clone)]
pub struct SharedMemory {
    block: Arc<Block>,
}

fn posix_name(name: &str) -> Result<CString, SyncError> {
    let invalid = |why: &str| SyncError::Invalid(format!("shared memory name {name:?}: {why}"));
    if name.is_empty() || name.len() > 250 {
        return Err(invalid("1 to 250 bytes"));
    }
    if name.contains('/') {
        return Err(invalid("no '/'"));
    }
    CString::new(format!("/{name}")).map_err(|_| invalid("no NUL byte"))
}

impl SharedMemory {
    /// A new named block of `size` zero bytes, under a fresh random name. Python:
    /// `SharedMemory(create=True, size=size)`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Invalid`] for a size of 0; [`SyncError::Io`] when the system refuses.
    pub fn new(size: usize) -> Result<SharedMemory, SyncError> {
        let mut rand = [0u8; 8];
        os::random(&mut rand)?;
        SharedMemory::create(&format!("mpsm_{:016x}", u64::from_le_bytes(rand)), size)
    }

    /// A new named block `name` of `size` zero bytes; the name must be free. Python:
    /// `SharedMemory(name, create=True, size=size)`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Invalid`] for a size of 0 or a bad name (empty, with `/` or NUL);
    /// [`SyncError::Io`] with `AlreadyExists` when the name is taken.
    pub fn create(name: &str, size: usize) -> Result<SharedMemory, SyncError> {
        if size == 0 {
            return Err(SyncError::Invalid("shared memory of 0 bytes".into()));
        }
        let cname = posix_name(name)?;
        let fd = os::shm_create(&cname)?;
        let made = os::truncate(fd.as_fd(), size)
            .and_then(|()| os::flock(fd.as_fd(), false))
            .and_then(|_| Mapping::named(fd, size));
        match made {
            Ok(map) => Ok(SharedMemory { block: Arc::new(Block { map, name: Some(cname) }) }),
            Err(e) => {
                let _ = os::shm_unlink(&cname);
                Err(SyncError::Io(e))
            }
        }
    }

    /// Attaches to the named block `name`, of this user and closed to others. Python:
    /// `SharedMemory(name)`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Io`] with `NotFound` when there is none, `PermissionDenied` when
    /// another user owns it or others may open it; [`SyncError::Invalid`] for a bad name.
    pub fn attach(name: &str) -> Result<SharedMemory, SyncError> {
        let cname = posix_name(name)?;
        let fd = os::shm_open(&cname)?;
        SharedMemory::own(fd, Some(cname))
    }

    /// Checks an open named object (ours, private), locks it shared and maps it.
    fn own(fd: OwnedFd, name: Option<CString>) -> Result<SharedMemory, SyncError> {
        let stat = fstat(fd.as_fd())?;
        if stat.st_uid != os::euid() || stat.st_mode & 0o077 != 0 {
            return Err(SyncError::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the shared memory is another user's, or open to others",
            )));
        }
        os::flock(fd.as_fd(), false)?;
        let len = usize::try_from(stat.st_size).unwrap_or(0);
        let map = Mapping::named(fd, len)?;
        Ok(SharedMemory { block: Arc::new(Block { map, name }) })
    }

    /// A new block of `size` zero bytes with no name (a memfd): it travels only as a
    /// handle, and nothing is ever left behind.
    ///
    /// # Errors
    ///
    /// [`SyncError::Invalid`] for a size of 0; [`SyncError::Io`] when the system refuses.
    pub fn anonymous(size: usize) -> Result<SharedMemory, SyncError> {
        if size == 0 {
            return Err(SyncError::Invalid("shared memory of 0 bytes".into()));
        }
        let map = Mapping::anonymous(c"multiproc-shared-memory", size)?;
        Ok(SharedMemory { block: Arc::new(Block { map, name: None }) })
    }

    /// The name to attach with (without the leading `/`), or `None` for an anonymous
    /// block. Python: `name`.
    pub fn name(&self) -> Option<&str> {
        self.block.name.as_ref().and_then(|n| n.to_str().ok()).map(|n| &n[1..])
    }

    /// Size in bytes. Python: `size`.
    pub fn len(&self) -> usize {
        self.block.map.len()
    }

    /// Whether the block is empty (never, for a block made here).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes the name now (the memory lives while mapped). Python: `unlink()`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Io`] with `NotFound` when it was already removed.
    pub fn unlink(&self) -> Result<(), SyncError> {
        match &self.block.name {
            Some(name) => os::shm_unlink(name).map_err(SyncError::Io),
            None => Ok(()),
        }
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), SyncError> {
        if offset.checked_add(len).is_some_and(|end| end <= self.len()) {
            Ok(())
        } else {
            Err(SyncError::Invalid(format!(
                "bytes {offset}..{} of shared memory of {} bytes",
                offset.saturating_add(len),
                self.len()
            )))
        }
    }

    /// Copies `data` into the block at `offset`. Python: `buf[offset:...] = data`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Invalid`] when the range does not fit.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<(), SyncError> {
        self.check(offset, data.len())?;
        if data.len() >= THROUGH_FILE_MIN {
            self.block.map.write_through_file(offset, data);
        } else {
            self.block.map.write(offset, data);
        }
        Ok(())
    }

    /// Copies bytes of the block at `offset` into `buf`. Python: `buf[offset:...]`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Invalid`] when the range does not fit.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), SyncError> {
        self.check(offset, buf.len())?;
        self.block.map.read(offset, buf);
        Ok(())
    }

    /// A copy of the whole block. Python: `bytes(buf)`.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len()];
        self.block.map.read(0, &mut v);
        v
    }
}

impl fmt::Debug for SharedMemory {
    /// `SharedMemory { name: Some("psm_…"), len: 4096 }`, as Python's str names both.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name())
            .field("len", &self.len())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    name: Option<String>,
    route: Route,
}

impl Serialize for SharedMemory {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let route = travel::send(&[self.block.map.fd()], Arc::clone(&self.block) as _)
            .map_err(S::Error::custom)?;
        Wire { name: self.name().map(str::to_owned), route }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(d)?;
        let mut fds = travel::receive(&wire.route).map_err(D::Error::custom)?;
        let fd = fds
            .pop()
            .filter(|_| fds.is_empty())
            .ok_or_else(|| D::Error::custom("one descriptor expected"))?;
        match wire.name {
            // Its own open description, so that its lock is this process's own.
            Some(name) => {
                let cname = posix_name(&name).map_err(D::Error::custom)?;
                let own = os::reopen(fd.as_fd()).map_err(D::Error::custom)?;
                // Let go of the sender's description before locking ours: a sender whose
                // last handle went meanwhile may hold it exclusively.
                drop(fd);
                SharedMemory::own(own, Some(cname)).map_err(D::Error::custom)
            }
            None => {
                let map = Mapping::receive(fd).map_err(D::Error::custom)?;
                Ok(SharedMemory { block: Arc::new(Block { map, name: None }) })
            }
        }
    }
}
