//! Channels between a parent process and one child, over ipc-channel.
//!
//! This crate owns the transport of multiproc:
//!
//! - [`duplex`] makes a long-lived, two-way [`Channel`] of byte frames (one ipc-channel
//!   byte channel per direction, created once, never per message). Large frames go through
//!   shared-memory regions that the [`Sender`] reuses, so a 16 MiB frame costs one copy
//!   and a 17-byte notice, and one more on receipt, into a recycled buffer: a received
//!   [`Message`] is memory of the receiving process, which the sender cannot change
//!   (regions are memfds sealed against resizing, so a sender cannot make the receiver
//!   fault either). A receiver that trusts its sender (a pool worker, of its parent) reads
//!   large frames in place instead ([`Receiver::trust_sender`]). A frame may be
//!   sent in parts ([`Sender::send_parts`]): a payload kept apart from the frame's other
//!   bytes is copied once, from where it is.
//! - The peer's death is a value: [`recv`](Channel::recv) and [`send`](Channel::send)
//!   return [`IpcError::Disconnected`] instead of hanging or panicking.
//! - [`handoff`] lets a starting child hand its channel ends back to its parent over a
//!   channel the child inherited (nothing named that another process could reach), with a
//!   wait that ends when the child is gone.
//! - A [`Ring`] carries records from one process to another through shared memory: the
//!   [`RingWriter`] publishes each with one store and no system call, a published record
//!   survives its writer's death (SIGKILL included), and the [`RingReader`]'s wait can be
//!   interrupted by another thread ([`RingCloser`]).
//! - `SharedWords` are `u64`s in shared memory, for progress reports that cost one atomic
//!   store (internal: they cross only inside this crate's messages; users share memory with
//!   `multiproc::sync`'s `Value`, `Array` and `SharedMemory`).
//! - [`spin`] polls for a reply that is due soon instead of sleeping on it.
//! - `futex` waits and wakes on a word of shared memory (internal: the sleeping under the
//!   rings here and under `multiproc::sync`'s locks, events and queues).
//!
//! It knows nothing about tasks, pools, processes or how they are started, nor about the
//! encoding of user values: a frame is bytes. All `unsafe` code lives in `sys/`.
//!
//! ```
//! use multiproc_ipc::duplex;
//!
//! let (parent, child) = duplex()?; // in real use, `child` goes to another process
//! parent.send(b"task")?;
//! let task = child.recv()?;
//! child.send(&task)?;
//! assert_eq!(&*parent.recv()?, b"task");
//! # Ok::<(), multiproc_ipc::IpcError>(())
//! ```

#![deny(unsafe_code)]

mod channel;
mod error;
mod handoff;
mod message;
mod regions;
mod ring;
mod spare;
mod spin;
#[expect(unsafe_code, reason = "the one module that maps memory and calls the kernel")]
mod sys;
mod words;

pub use channel::{Channel, DEFAULT_SHM_THRESHOLD, Receiver, Sender, before_fork, duplex};
pub use error::IpcError;
pub use handoff::{HandoffReceiver, HandoffSender, handoff};
pub use message::Message;
pub use ring::{OpenRecord, Record, Records, Ring, RingCloser, RingReader, RingWriter, Wait};
pub use spin::{SPIN, spin};
#[doc(hidden)]
pub use sys::futex;
#[doc(hidden)]
pub use words::SharedWords;
