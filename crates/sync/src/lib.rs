//! Processes that talk: the other half of Python's `multiprocessing` — queues, pipes,
//! locks, events, barriers, shared values and shared memory between processes.
//!
//! placeholder docs
#![deny(unsafe_code)]
#![warn(unreachable_pub)]

mod endpoint;
mod error;
mod lane;
mod object;
mod queue;
mod ring;
mod sharer;
#[allow(unsafe_code)]
mod sys;
mod travel;

pub use error::{
    BarrierError, GetError, LockError, PutError, PutManyError, RecvError, ReleaseError, SendError,
    SyncError,
};
pub use queue::{Queue, QueueReceiver, QueueSender};
