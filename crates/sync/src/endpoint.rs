//! The sending and receiving ends of a lane, shared by queues and pipes: typed items in,
//! encoded entries through the lane, typed items out.
//!
//! Each end reuses one buffer per thread for encoding and one for receiving, so a small
//! item costs no allocation on either side. An item that fails to decode is reported
//! alone: the items taken with it wait in the end's backlog for the next call, so a bad
//! item never takes good ones with it.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use multiproc_codec::CodecError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::batch::{Batch, Received};
use crate::lane::{GetFail, Half, Lane, PutFail, Wait};
use crate::ring::Armed;

thread_local! {
    static BATCH: RefCell<Batch> = RefCell::new(Batch::default());
    static RECEIVED: RefCell<Received> = RefCell::new(Received::default());
}

/// A failed send: the lane's failure, or the item's encoding.
#[derive(Debug)]
pub(crate) enum SendFail {
    Lane(PutFail),
    Encode(CodecError),
}

/// A failed receive: the lane's failure, or an item's decoding.
#[derive(Debug)]
pub(crate) enum RecvFail {
    Lane(GetFail),
    Decode(CodecError),
}

/// Runs `f` with this thread's encoding buffer (a fresh one if a `Serialize` impl sends
/// from inside another send).
fn with_batch<R>(f: impl FnOnce(&mut Batch) -> R) -> R {
    BATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut batch) => {
            batch.clear();
            let out = f(&mut batch);
            batch.clear();
            out
        }
        Err(_) => f(&mut Batch::default()),
    })
}

/// Runs `f` with this thread's receiving buffer (a fresh one if a `Deserialize` impl
/// receives from inside another receive).
fn with_received<R>(f: impl FnOnce(&mut Received) -> R) -> R {
    RECEIVED.with(|cell| match cell.try_borrow_mut() {
        Ok(mut got) => {
            got.clear();
            let out = f(&mut got);
            got.clear();
            out
        }
        Err(_) => f(&mut Received::default()),
    })
}

/// The producers' end of a lane.
pub(crate) struct Sending {
    pub lane: Lane,
    pub half: Half,
    /// Entries the lane may hold (0: no bound).
    pub maxsize: u64,
}

impl Sending {
    /// Sends one item.
    pub(crate) fn send<T: Serialize>(&self, item: &T, wait: Wait) -> Result<(), SendFail> {
        with_batch(|batch| {
            batch.push(item).map_err(SendFail::Encode)?;
            self.lane.put(&self.half, batch, self.maxsize, wait).map_err(|(_, e)| SendFail::Lane(e))
        })
    }

    /// Sends raw bytes as one message.
    pub(crate) fn send_bytes(&self, bytes: &[u8], wait: Wait) -> Result<(), SendFail> {
        with_batch(|batch| {
            batch.push_raw(bytes);
            self.lane.put(&self.half, batch, self.maxsize, wait).map_err(|(_, e)| SendFail::Lane(e))
        })
    }

    /// Sends every item, all encoded first (an encoding error sends none); on failure,
    /// how many were sent.
    pub(crate) fn send_many<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
        wait: Wait,
    ) -> Result<(), (usize, SendFail)> {
        with_batch(|batch| {
            for item in items {
                batch.push(&item).map_err(|e| (0, SendFail::Encode(e)))?;
            }
            if batch.len() == 0 {
                return Ok(());
            }
            self.lane
                .put(&self.half, batch, self.maxsize, wait)
                .map_err(|(n, e)| (n, SendFail::Lane(e)))
        })
    }
}

impl fmt::Debug for Sending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sending").field("lane", &self.lane).field("maxsize", &self.maxsize).finish()
    }
}

/// The consumers' end of a lane.
pub(crate) struct Receiving {
    pub lane: Lane,
    pub half: Half,
    backlog: Mutex<Received>,
    has_backlog: AtomicBool,
}

impl Receiving {
    pub(crate) fn new(lane: Lane, half: Half) -> Receiving {
        Receiving {
            lane,
            half,
            backlog: Mutex::new(Received::default()),
            has_backlog: AtomicBool::new(false),
        }
    }

    /// Receives one item.
    pub(crate) fn recv<T: DeserializeOwned>(&self, wait: Wait) -> Result<T, RecvFail> {
        let mut items = self.recv_many(1, wait)?;
        Ok(items.pop().expect("a successful receive holds an item"))
    }

    /// Receives between 1 and `max` items (waiting for the first as `wait` allows).
    pub(crate) fn recv_many<T: DeserializeOwned>(
        &self,
        max: usize,
        wait: Wait,
    ) -> Result<Vec<T>, RecvFail> {
        let max = max.max(1);
        if self.has_backlog.load(Ordering::Acquire) {
            let mut backlog = self.backlog.lock().unwrap_or_else(PoisonError::into_inner);
            if backlog.len() > 0 {
                let items = decode(&mut backlog, max);
                self.has_backlog.store(backlog.len() > 0, Ordering::Release);
                return items;
            }
        }
        with_received(|got| {
            self.lane.get(&self.half, max, got, wait).map_err(RecvFail::Lane)?;
            let items = decode(got, max);
            if got.len() > 0 {
                let mut backlog = self.backlog.lock().unwrap_or_else(PoisonError::into_inner);
                backlog.prepend(got);
                self.has_backlog.store(true, Ordering::Release);
            }
            items
        })
    }

    /// Receives one message's raw bytes.
    pub(crate) fn recv_bytes(&self, wait: Wait) -> Result<Vec<u8>, RecvFail> {
        if self.has_backlog.load(Ordering::Acquire) {
            let mut backlog = self.backlog.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(bytes) = backlog.pop_raw() {
                self.has_backlog.store(backlog.len() > 0, Ordering::Release);
                return bytes.map_err(RecvFail::Decode);
            }
        }
        with_received(|got| {
            self.lane.get(&self.half, 1, got, wait).map_err(RecvFail::Lane)?;
            got.pop_raw().expect("a successful receive holds an item").map_err(RecvFail::Decode)
        })
    }

    /// Whether a receive would return at once (for `wait`); if not, counted as a sleeper
    /// on its lane until the guard drops (see [`Lane::ready`]).
    pub(crate) fn ready(&self) -> (bool, Option<Armed<'_>>) {
        if self.has_backlog.load(Ordering::Acquire) {
            return (true, None);
        }
        self.lane.ready()
    }
}

/// Decodes up to `max` items from the front of `got`. An item that fails to decode is
/// reported alone: if good items came before it, they are returned and the error waits
/// at the front for the next call.
fn decode<T: DeserializeOwned>(got: &mut Received, max: usize) -> Result<Vec<T>, RecvFail> {
    let mut items = Vec::with_capacity(got.len().min(max));
    let mut failed = None;
    for result in got.decode_front::<T>(max) {
        match result {
            Ok(item) => items.push(item),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    match failed {
        Some(e) if items.is_empty() => Err(RecvFail::Decode(e)),
        Some(e) => {
            got.push_front_error(e);
            Ok(items)
        }
        None => Ok(items),
    }
}

impl fmt::Debug for Receiving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiving").field("lane", &self.lane).finish_non_exhaustive()
    }
}
