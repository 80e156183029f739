//! The frames' fixed messages: the control messages of the parent/worker protocol, and
//! the wire form of what went wrong on the far side for one item.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::args::TooLarge;
use crate::bytes::Bytes;
use crate::error::CodecError;
use crate::error_info::ErrorInfo;
use crate::fingerprint::{BinaryFingerprint, FnId, TypeFingerprint};
use crate::limit::Limit;
use crate::panic_info::PanicInfo;

/// What went wrong on the far side for one item, in wire form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RemoteFailure {
    /// The function panicked.
    Panicked(PanicInfo),
    /// The function returned an error (`Err(e)`).
    Failed(ErrorInfo),
    /// The argument could not be decoded or the result could not be encoded.
    Codec(CodecError),
    /// The frame's type fingerprint does not match the trampoline's: nothing was called.
    TypeMismatch {
        /// What the trampoline was compiled for.
        expected: TypeFingerprint,
        /// What the frame claimed.
        found: TypeFingerprint,
    },
    /// The function identity was rejected (an offset outside the executable's code).
    BadFunction(String),
    /// The function reported an error of its own (an initializer returning `Err`).
    Error(String),
    /// The result is too large for a frame.
    TooLarge(TooLarge),
    /// The task ran into one of its worker's limits (and the worker retires).
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The limit, in its unit.
        configured: u64,
        /// What the worker saw, in the same unit, when it knows.
        observed: Option<u64>,
    },
}

impl fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteFailure::Panicked(p) => p.fmt(f),
            RemoteFailure::Failed(e) => e.fmt(f),
            RemoteFailure::Codec(e) => e.fmt(f),
            RemoteFailure::TypeMismatch { expected, found } => write!(
                f,
                "type fingerprint mismatch: the worker's function takes {expected}, the task says {found}; nothing was called"
            ),
            RemoteFailure::BadFunction(why) => write!(f, "rejected function identity: {why}"),
            RemoteFailure::Error(message) => f.write_str(message),
            RemoteFailure::TooLarge(e) => e.fmt(f),
            RemoteFailure::LimitExceeded { limit, configured, observed } => {
                write!(
                    f,
                    "the task exceeded its worker's {limit} limit of {}",
                    limit.amount(*configured)
                )?;
                match observed {
                    Some(seen) => write!(f, " ({} seen)", limit.amount(*seen)),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A control message of the parent/worker protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Control {
    /// First message of a worker: which binary it runs and its pid.
    Hello {
        /// The worker's binary fingerprint.
        binary: BinaryFingerprint,
        /// The worker's process id.
        pid: u32,
    },
    /// Run an initializer once before any task.
    Initialize {
        /// The initializer function.
        func: FnId,
        /// Its encoded argument.
        args: Bytes,
    },
    /// The initializer returned.
    Initialized,
    /// The initializer failed; the worker exits after sending this.
    InitFailed(RemoteFailure),
    /// Finish and exit with status 0.
    Shutdown,
    /// A pool worker skipped the items of a task batch from one claim on (see
    /// `multiproc_process::progress::pack_claim`): `from` is the claim that the worker
    /// found taken, the epoch of the batch and the sequence number of its first item not
    /// run. The parent took them back, or something wrote over the worker's claim word.
    Skipped {
        /// The epoch and sequence number, packed as a batch id.
        from: u64,
    },
}

impl From<TooLarge> for RemoteFailure {
    fn from(e: TooLarge) -> RemoteFailure {
        RemoteFailure::TooLarge(e)
    }
}
