//! Processes that talk: the other half of Python's `multiprocessing` — queues, pipes,
//! locks, events, barriers, shared values and shared memory between processes.
//!
//! placeholder docs
#![deny(unsafe_code)]
#![warn(unreachable_pub)]

mod barrier;
mod batch;
mod condition;
mod endpoint;
mod error;
mod event;
mod handle;
mod holders;
mod joinable;
mod lane;
mod lock;
mod object;
mod pipe;
mod queue;
mod ring;
mod semaphore;
mod shared_memory;
mod sharer;
mod simple_queue;
#[allow(unsafe_code)]
mod sys;
mod travel;
mod value;
mod wait;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard};
pub use error::{
    BarrierError, GetError, LockError, PutError, PutManyError, RecvError, ReleaseError, SendError,
    SyncError,
};
pub use event::Event;
pub use joinable::JoinableQueue;
pub use lock::{Lock, LockGuard, RLock, RLockGuard};
pub use pipe::{Connection, Pipe};
pub use queue::{Queue, QueueReceiver, QueueSender};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
pub use shared_memory::SharedMemory;
pub use simple_queue::SimpleQueue;
pub use sys::pod::Pod;
pub use value::{Array, ArrayGuard, FrozenArray, Value, ValueGuard};
#[doc(hidden)]
pub use wait::Readiness;
pub use wait::{Waitable, wait};
