//! Processes that talk: the other half of Python's `multiprocessing` — queues, pipes,
//! robust locks, events, barriers, shared values and shared memory between processes.
//!
//! | Python | multiproc |
//! |---|---|
//! | `Queue(maxsize)`, `JoinableQueue`, `SimpleQueue` | [`Queue`] (split into [`QueueSender`] / [`QueueReceiver`]), [`JoinableQueue`], [`SimpleQueue`] |
//! | `Pipe(duplex)`, `Connection`, `connection.wait` | [`Pipe`], [`Connection`], [`wait`] |
//! | `Lock`, `RLock` | [`Lock`], [`RLock`] — a holder's death is [`LockError::OwnerDied`], not a hang |
//! | `Semaphore`, `BoundedSemaphore` | [`Semaphore`], [`BoundedSemaphore`] — a dead holder's unit comes back |
//! | `Condition`, `Event`, `Barrier` | [`Condition`], [`Event`], [`Barrier`] — a dead party breaks it |
//! | `Value`, `Array` | [`Value`], [`Array`] ([`Pod`] items), [`FrozenArray`] (read-only, lock-free) |
//! | `shared_memory.SharedMemory` | [`SharedMemory`] |
//!
//! Every handle crosses to another process as a `Process` argument or a pool
//! initializer's argument (under every start method), or inside an item of a [`Queue`] or
//! a message of a [`Pipe`]. Anywhere else (a pool task's argument, say) it is an encode
//! error at the call, never a decode failure in the child.
//!
//! ```
//! use multiproc::Process;
//! use multiproc::sync::{Queue, QueueSender};
//!
//! fn produce(tx: QueueSender<u64>) {
//!     tx.put_many(0..100).unwrap();
//! }
//!
//! let (tx, rx) = Queue::new()?.split();
//! let mut p = Process::new(produce, tx);
//! p.start()?;
//! let total: u64 = std::iter::from_fn(|| rx.get().ok()).sum(); // until every sender is gone
//! p.join()?;
//! assert_eq!(total, 4950);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How
//!
//! - **Objects** (`object`): each is a sealed memfd (its size fixed for
//!   good), with a header naming its kind and element type, checked by every process that
//!   maps it; locks are robust, process-shared pthread mutexes in it.
//! - **Queues and pipes** (`ring`, `lane`): a byte ring in
//!   shared memory with a producers' side and a consumers' side, each under its own robust
//!   lock and committed by one store, so a process killed mid-put tears nothing; a put
//!   copies the item there and returns (no feeder thread). Sleepers wait on sockets whose
//!   end-of-file, when every descriptor of the other side is closed, is `Disconnected`.
//! - **Owner death** (`sys/mutex`, `holders`): the
//!   kernel's robust-futex lists mark a lock whose holder died and wake a waiter; units of a
//!   semaphore and parties of a barrier hold robust *tokens* for the same effect.
//! - **Travel** (`travel`, `sharer`): a handle's
//!   descriptors go beside the bytes, in the same socket message for queues and pipes, or
//!   through this process's sharer (an abstract socket that answers only this user, keyed
//!   by a random ticket the bytes carry) for process and initializer arguments, pinned by
//!   the codec while the bytes may still be decoded.
//!
//! This crate knows processes only as holders of descriptors and robust locks: it starts
//! none (the process crate does), and it moves values as the codec encodes them. All of
//! its `unsafe` lives in `sys/`.
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
