//! How a handle crosses a process boundary: its bytes go with the value it is part of,
//! its descriptors beside them.
//!
//! A handle (a queue, a lock, shared memory...) is a few descriptors: the memory of the
//! object and, for queues and pipes, the sockets of their doorbells. serde sees only the
//! bytes, so a handle's `Serialize` hands its descriptors to whoever carries the value,
//! and writes down how they travel (a [`Route`]):
//!
//! - **beside**: this crate's queues and pipes send them in the same socket message as
//!   the item's bytes (`SCM_RIGHTS`): [`encode`] collects them, [`decode`] gives them
//!   back to the handles being decoded;
//! - **shared**: a `Process` argument or a pool initializer's argument, encoded by the
//!   process and pool crates with [`multiproc_codec::encode_pinned`]: the descriptors
//!   are exported through this process's [sharer](crate::sharer) and the bytes carry the
//!   ticket;
//! - anywhere else (a pool task's argument, a result, another serializer): an encode
//!   error that says where handles can go — at the call, never in the child.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

use multiproc_codec::{CodecError, What, decode as plain_decode, encode as plain_encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::sharer::{self, Export, Ticket};

/// Where a handle's descriptors went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Route {
    /// In the message that carries the value: descriptors `first..first + count`.
    Beside { first: u32, count: u32 },
    /// Exported by the encoding process; fetch them with the ticket.
    Shared(Ticket),
}

/// Descriptors collected while encoding one value, and what keeps them open until sent.
#[derive(Default)]
pub(crate) struct Carried {
    pub fds: Vec<RawFd>,
    keep: Vec<Arc<dyn Any + Send + Sync>>,
}

impl Carried {
    pub(crate) fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.fds.clear();
        self.keep.clear();
    }
}

impl std::fmt::Debug for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Carried({} descriptors)", self.fds.len())
    }
}

thread_local! {
    /// Whether an [`encode`] collects descriptors on this thread, and what it collected.
    static COLLECTING: Cell<bool> = const { Cell::new(false) };
    static OUTGOING: RefCell<Carried> = RefCell::new(Carried::default());
    /// Descriptors of the values being decoded on this thread, innermost last.
    static INCOMING: RefCell<Vec<Vec<Option<OwnedFd>>>> = const { RefCell::new(Vec::new()) };
}

/// Where handles may cross, for error messages.
const WHERE: &str = "a handle crosses to another process only as a `Process` argument, a pool \
                     initializer's argument, or inside an item of a `Queue` or `Pipe`";

/// Appends the encoding of `value` to `out` and appends the descriptors of the handles
/// in it to `carried` (the handles number them from 0: they travel in one message per
/// value).
pub(crate) fn encode<T: Serialize + ?Sized>(
    value: &T,
    what: What,
    out: &mut Vec<u8>,
    carried: &mut Carried,
) -> Result<(), CodecError> {
    /// Stops collecting, also when a `Serialize` impl panics.
    struct Collecting(bool);
    impl Drop for Collecting {
        fn drop(&mut self) {
            COLLECTING.set(self.0);
        }
    }
    // An encode running inside another's `Serialize` keeps the outer one's collection
    // aside (descriptor indices count from the start of each value).
    let outer_collected =
        OUTGOING.with_borrow_mut(|got| (!got.is_empty()).then(|| std::mem::take(got)));
    let outer = Collecting(COLLECTING.replace(true));
    let encoded = plain_encode(value, what, out);
    drop(outer);
    OUTGOING.with_borrow_mut(|got| {
        if !got.is_empty() {
            carried.fds.append(&mut got.fds);
            carried.keep.append(&mut got.keep);
        }
        if let Some(outer) = outer_collected {
            *got = outer;
        }
    });
    encoded
}

/// Decodes a `T` from `bytes`, giving the handles in it the descriptors `fds` (those not
/// taken are closed).
pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: What,
    fds: Vec<OwnedFd>,
) -> Result<T, CodecError> {
    if fds.is_empty() {
        return plain_decode(bytes, what);
    }
    /// Pops the descriptors, also when a `Deserialize` impl panics.
    struct Supply;
    impl Drop for Supply {
        fn drop(&mut self) {
            INCOMING.with_borrow_mut(|stack| stack.pop());
        }
    }
    INCOMING.with_borrow_mut(|stack| stack.push(fds.into_iter().map(Some).collect()));
    let supply = Supply;
    let decoded = plain_decode(bytes, what);
    drop(supply);
    decoded
}

/// For a handle's `Serialize`: hands over `fds` (kept open by `keep`) and says how.
pub(crate) fn send(
    fds: &[BorrowedFd<'_>],
    keep: Arc<dyn Any + Send + Sync>,
) -> Result<Route, String> {
    let raw = sharer::raw(fds);
    if COLLECTING.get() {
        // Indices count from the start of the value being encoded: its descriptors travel
        // in a message of their own.
        return OUTGOING.with_borrow_mut(|carried| {
            let first = carried.fds.len() as u32;
            carried.fds.extend_from_slice(&raw);
            carried.keep.push(keep);
            Ok(Route::Beside { first, count: raw.len() as u32 })
        });
    }
    let export = Arc::new(Export::new(raw, keep).map_err(|e| e.to_string())?);
    match multiproc_codec::pin(export.clone()) {
        Some(what) => {
            // A process's argument is decoded once; an initializer's by every worker.
            export.set_once(what == What::Argument);
            let ticket = export.offer().map_err(|e| format!("cannot share the handle: {e}"))?;
            Ok(Route::Shared(ticket))
        }
        None => Err(WHERE.to_owned()),
    }
}

/// For a handle's `Deserialize`: the descriptors `route` names.
pub(crate) fn receive(route: &Route) -> Result<Vec<OwnedFd>, String> {
    match route {
        Route::Shared(ticket) => sharer::fetch(ticket),
        Route::Beside { first, count } => INCOMING.with_borrow_mut(|stack| {
            let fds = stack.last_mut().ok_or(WHERE)?;
            let range = *first as usize..(*first as usize).saturating_add(*count as usize);
            let taken: Option<Vec<OwnedFd>> =
                fds.get_mut(range).map(|slots| slots.iter_mut().filter_map(Option::take).collect());
            match taken {
                Some(taken) if taken.len() == *count as usize => Ok(taken),
                _ => Err("the descriptors of a handle are missing from the message".to_owned()),
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_collects_outside_a_carrier() {
        let err = send(&[], Arc::new(())).unwrap_err();
        assert!(err.contains("Process"), "{err}");
        assert!(receive(&Route::Beside { first: 0, count: 1 }).is_err());
    }
}
