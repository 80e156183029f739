//! [`Inbox`]: where a `Process`'s one result frame waits until `join` takes it — on the
//! channel, read by the joining thread, or with a reader thread when a `join_timeout`
//! must be able to give up.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use multiproc_codec::{Frame, ItemOutcome, RemoteFailure, parse};
use multiproc_ipc::{Channel, IpcError, Message};

use crate::error::ProcessError;

/// What the child delivered before it exited.
#[derive(Debug)]
pub(crate) enum Delivery {
    Value(Vec<u8>),
    Failed(RemoteFailure),
    Nothing,
}

/// The result slot a reader thread fills (see [`Inbox::Reader`]).
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    slot: Mutex<Option<Delivery>>,
    ready: Condvar,
}

impl Outcome {
    /// Waits until the delivery is in (true) or `deadline` passes (false).
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        while slot.is_none() {
            match deadline {
                None => slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    slot = self.ready.wait_timeout(slot, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
        true
    }

    fn take(&self) -> Delivery {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or(Delivery::Nothing)
    }
}

/// Where the child's one result frame is until `join` takes it.
///
/// It stays on the channel, read by the thread that calls `join` (no extra thread, no
/// hand-over between threads on the way to the caller), unless a `join_timeout` — which
/// must be able to give up — hands the channel to a reader thread.
pub(crate) enum Inbox {
    /// Still on the channel.
    Channel(Channel),
    /// A reader thread owns the channel and fills `outcome`.
    Reader { outcome: Arc<Outcome>, thread: JoinHandle<()> },
    /// Read.
    Delivered(Delivery),
}

impl Inbox {
    /// Waits until the delivery is in (true) or `deadline` passes (false).
    pub(crate) fn wait(&mut self, deadline: Option<Instant>) -> Result<bool, ProcessError> {
        loop {
            match std::mem::replace(self, Inbox::Delivered(Delivery::Nothing)) {
                Inbox::Channel(channel) if deadline.is_none() => {
                    *self = Inbox::Delivered(delivery(channel.recv()));
                }
                Inbox::Channel(channel) => *self = spawn_reader(channel)?,
                Inbox::Reader { outcome, thread } => {
                    if !outcome.wait(deadline) {
                        *self = Inbox::Reader { outcome, thread };
                        return Ok(false);
                    }
                    // Joining the reader closes our end of the channel now.
                    let _ = thread.join();
                    *self = Inbox::Delivered(outcome.take());
                }
                delivered @ Inbox::Delivered(_) => {
                    *self = delivered;
                    return Ok(true);
                }
            }
        }
    }

    /// Reads the delivery if it is already waiting on the channel, so that a child whose
    /// result is too large for the channel's buffer can finish sending it and exit while
    /// the caller polls `is_alive` or `exit_code`.
    pub(crate) fn poll(&mut self) {
        if let Inbox::Channel(channel) = self
            && let Ok(Some(msg)) = channel.receiver().try_recv()
        {
            *self = Inbox::Delivered(delivery(Ok(msg)));
        }
    }

    pub(crate) fn take(&mut self) -> Delivery {
        match std::mem::replace(self, Inbox::Delivered(Delivery::Nothing)) {
            Inbox::Delivered(delivery) => delivery,
            other => {
                *self = other;
                Delivery::Nothing
            }
        }
    }
}

/// What the child's one result frame (or the end of the channel) delivers.
fn delivery(msg: Result<Message, IpcError>) -> Delivery {
    match msg {
        Ok(msg) => match parse(&msg) {
            Ok(Frame::Results(r)) if r.len() == 1 => match r.item(0) {
                ItemOutcome::Value(bytes) => Delivery::Value(bytes.to_vec()),
                ItemOutcome::Failed(f) => Delivery::Failed(f),
            },
            _ => Delivery::Nothing,
        },
        Err(_) => Delivery::Nothing,
    }
}

/// Hands the channel to a thread that reads the result frame, so that a wait for it can
/// give up (on a condition variable) and leave the reading to go on.
fn spawn_reader(channel: Channel) -> Result<Inbox, ProcessError> {
    let outcome = Arc::new(Outcome::default());
    let slot = Arc::clone(&outcome);
    let thread = std::thread::Builder::new()
        .name("multiproc-process-reader".into())
        .spawn(move || {
            *slot.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(delivery(channel.recv()));
            slot.ready.notify_all();
        })
        .map_err(|e| ProcessError::Start(e.into()))?;
    Ok(Inbox::Reader { outcome, thread })
}
