//! The sharer: hands a handle's descriptors to the processes that decode it from a
//! `Process` argument or a pool initializer's argument.
//!
//! Those arguments are bytes sent over the process crate's channel, which carries no
//! descriptors. So a handle encoded there *exports* its descriptors: this process keeps
//! them under a random 128-bit key, and the bytes carry a [`Ticket`] (this process's id,
//! the sharer's address and the key). The child that decodes the handle connects to the
//! sharer — an abstract `SOCK_SEQPACKET` socket served by one thread of this process —
//! sends the key and receives the descriptors (`SCM_RIGHTS`). Python's `multiprocessing`
//! does the same for connections and descriptors (its `resource_sharer`).
//!
//! Nothing here lets another user in, and nothing can be raced: the sharer answers only
//! peers of its own user (`SO_PEERCRED`), and only for a key it made; the child talks only
//! to a sharer whose process is the one the ticket names (`SO_PEERCRED` again), so a
//! socket squatting on the address gets nothing and gives nothing. An export lives as
//! long as the encoded bytes that refer to it ([`multiproc_codec::Pins`]): a process's
//! argument until its child took it, an initializer's argument as long as the pool.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use multiproc_process::PerProcess;
use serde::{Deserialize, Serialize};

use crate::sys::fdset::Tracked;
use crate::sys::os;
use crate::sys::socket;

/// How long either side of a transfer waits for the other before giving up.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// What a handle's bytes carry to fetch its descriptors from the process that encoded it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ticket {
    pid: u32,
    nonce: u64,
    key: [u8; 16],
    count: u32,
}

/// Descriptors kept for others to fetch, and what keeps them open.
pub(crate) struct Export {
    fds: Vec<RawFd>,
    keep: Mutex<Option<Arc<dyn Any + Send + Sync>>>,
    /// Fetched once, then let go (a process argument); else kept while pinned.
    once: AtomicBool,
    key: [u8; 16],
}

impl Export {
    /// Descriptors `fds`, open as long as `keep` lives.
    pub(crate) fn new(fds: Vec<RawFd>, keep: Arc<dyn Any + Send + Sync>) -> io::Result<Export> {
        let mut key = [0u8; 16];
        os::random(&mut key)?;
        Ok(Export { fds, keep: Mutex::new(Some(keep)), once: AtomicBool::new(false), key })
    }

    /// Let the descriptors go after the first fetch.
    pub(crate) fn set_once(&self, once: bool) {
        self.once.store(once, Ordering::Relaxed);
    }

    /// Offers the descriptors to other processes, starting this process's sharer if
    /// needed; the ticket that fetches them.
    pub(crate) fn offer(self: &Arc<Export>) -> io::Result<Ticket> {
        let sharer = sharer()?;
        let mut table = sharer.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.insert(self.key, Arc::downgrade(self));
        Ok(Ticket {
            pid: std::process::id(),
            nonce: sharer.nonce,
            key: self.key,
            count: self.fds.len() as u32,
        })
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        if let Ok(sharer) = sharer() {
            sharer.table.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.key);
        }
    }
}

impl fmt::Debug for Export {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Export").field("fds", &self.fds.len()).finish_non_exhaustive()
    }
}

/// This process's sharer: its address and the exports it serves.
struct Sharer {
    nonce: u64,
    table: Mutex<HashMap<[u8; 16], Weak<Export>>>,
}

static SHARER: PerProcess<Mutex<Option<Arc<Sharer>>>> = PerProcess::new();

fn address(pid: u32, nonce: u64) -> String {
    format!("multiproc-sync-{pid}-{nonce:016x}")
}

/// This process's sharer, started on first use (a listening socket and its thread).
fn sharer() -> io::Result<Arc<Sharer>> {
    let mut slot = SHARER.get(|| Mutex::new(None)).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(sharer) = slot.as_ref() {
        return Ok(Arc::clone(sharer));
    }
    let mut nonce = [0u8; 8];
    os::random(&mut nonce)?;
    let nonce = u64::from_le_bytes(nonce);
    let listener = Tracked::new(socket::listen(address(std::process::id(), nonce).as_bytes())?);
    let sharer = Arc::new(Sharer { nonce, table: Mutex::new(HashMap::new()) });
    let serving = Arc::clone(&sharer);
    std::thread::Builder::new()
        .name("multiproc-sharer".into())
        .spawn(move || serve(&listener, &serving))?;
    *slot = Some(Arc::clone(&sharer));
    Ok(sharer)
}

/// The sharer's thread: answers one request per connection, for the life of the process.
fn serve(listener: &Tracked, sharer: &Sharer) {
    let me = os::euid();
    loop {
        let Ok(conn) = socket::accept(listener.as_fd()) else {
            continue;
        };
        // A peer of another user gets nothing, not even an answer.
        if !socket::peer(conn.as_fd()).is_ok_and(|(_, uid)| uid == me)
            || socket::set_timeouts(conn.as_fd(), TRANSFER_TIMEOUT).is_err()
        {
            continue;
        }
        let mut key = [0u8; 16];
        let Ok(Some((16, _))) = socket::recv_fds(conn.as_fd(), &mut key, true) else {
            continue;
        };
        let export = sharer
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .and_then(Weak::upgrade);
        answer(&conn, sharer, export.as_deref());
    }
}

/// Sends an export's descriptors (or a refusal) on `conn`.
fn answer(conn: &OwnedFd, sharer: &Sharer, export: Option<&Export>) {
    let Some(export) = export else {
        let _ = socket::send_fds(conn.as_fd(), &[0], &[], true);
        return;
    };
    let mut keep = export.keep.lock().unwrap_or_else(PoisonError::into_inner);
    if keep.is_none() {
        let _ = socket::send_fds(conn.as_fd(), &[0], &[], true);
        return;
    }
    // The descriptors are open: `keep` holds what owns them, and we hold its lock.
    let sent = socket::send_fds(conn.as_fd(), &[1], &export.fds, true);
    if sent.is_ok() && export.once.load(Ordering::Relaxed) {
        *keep = None;
        sharer.table.lock().unwrap_or_else(PoisonError::into_inner).remove(&export.key);
    }
}

/// Fetches the descriptors a ticket names from the process that made it.
pub(crate) fn fetch(ticket: &Ticket) -> Result<Vec<OwnedFd>, String> {
    let gone = || {
        format!(
            "the process that sent this handle (pid {}) no longer shares it: it exited, or \
             dropped what it sent before this process took it",
            ticket.pid
        )
    };
    let conn = socket::connect(address(ticket.pid, ticket.nonce).as_bytes()).map_err(|e| {
        if matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::ENOENT)) {
            gone()
        } else {
            format!("cannot reach the process that sent this handle: {e}")
        }
    })?;
    match socket::peer(conn.as_fd()) {
        Ok((pid, uid)) if pid == ticket.pid && uid == os::euid() => {}
        _ => {
            return Err(
                "the process at the sharer's address is not the one that sent this handle".into()
            );
        }
    }
    socket::set_timeouts(conn.as_fd(), TRANSFER_TIMEOUT).map_err(|e| e.to_string())?;
    socket::send_fds(conn.as_fd(), &ticket.key, &[], true).map_err(|e| e.to_string())?;
    let mut status = [0u8; 1];
    match socket::recv_fds(conn.as_fd(), &mut status, true) {
        Ok(Some((1, fds))) if status[0] == 1 && fds.len() == ticket.count as usize => Ok(fds),
        Ok(Some(_)) => Err(gone()),
        Ok(None) => Err(gone()),
        Err(e) => Err(format!("receiving the handle's descriptors failed: {e}")),
    }
}

/// The raw descriptors of `fds`, for an export.
pub(crate) fn raw(fds: &[std::os::fd::BorrowedFd<'_>]) -> Vec<RawFd> {
    fds.iter().map(AsRawFd::as_raw_fd).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_is_fetched_by_its_ticket_and_a_once_export_only_once() {
        let (a, b) = socket::pair().unwrap();
        let keep: Arc<dyn Any + Send + Sync> = Arc::new((a, b));
        let pair = keep.downcast_ref::<(OwnedFd, OwnedFd)>().unwrap();
        let fds = raw(&[pair.0.as_fd(), pair.1.as_fd()]);
        let many = Arc::new(Export::new(fds.clone(), keep.clone()).unwrap());
        let ticket = many.offer().unwrap();
        assert_eq!(fetch(&ticket).unwrap().len(), 2);
        assert_eq!(fetch(&ticket).unwrap().len(), 2);
        drop(many);
        let once = Arc::new(Export::new(fds, keep.clone()).unwrap());
        once.set_once(true);
        let ticket = once.offer().unwrap();
        assert_eq!(fetch(&ticket).unwrap().len(), 2);
        assert!(fetch(&ticket).unwrap_err().contains("no longer shares"));
        drop(once);
        assert_eq!(Arc::strong_count(&keep), 1);
    }

    #[test]
    fn a_dropped_export_is_gone() {
        let (a, _b) = socket::pair().unwrap();
        let fd = a.as_raw_fd();
        let export = Arc::new(Export::new(vec![fd], Arc::new(a)).unwrap());
        let ticket = export.offer().unwrap();
        drop(export);
        assert!(fetch(&ticket).unwrap_err().contains("no longer shares"));
    }
}
