//! Run a Rust function in another OS process, Python-style: the bottom layer of
//! multiproc that users touch.
//!
//! - **Function identity** ([`Function`], [`StarFn`]): a `fn(A) -> R` crosses the boundary
//!   as offsets from an anchor symbol plus a monomorphised trampoline; the binary is
//!   checked at the handshake and the types before every call.
//! - **Start methods** ([`StartMethod`], [`Context`], [`set_start_method`]): spawn
//!   (re-execute this binary), fork server (the default), fork.
//! - **Bootstrap** ([`bootstrap`]): a hook that runs before `main` catches every child
//!   started as a worker, in binaries, tests, doc tests and benches alike, with no user
//!   code; a child that misses it refuses loudly instead of running `main` again.
//! - **The legacy API** ([`Process`], [`current_process`], [`parent_process`],
//!   [`active_children`], [`cpu_count`]) and the pool's building block ([`Worker`]).
//!
//! Children are always reaped, die with their parent, and inherit no descriptor but the
//! ones their bootstrap hands them. This crate knows nothing about pools or scheduling;
//! all of its `unsafe` lives in `sys/`.

mod answers;
mod batch;
mod binary;
mod bootstrap;
mod child;
mod context;
mod descriptors;
mod error;
mod exit;
mod forkserver;
mod function;
mod identity;
mod inbox;
mod inherit;
mod launcher;
mod limits;
mod liveness;
mod panic;
mod process;
mod protocol;
mod sentinel;
mod serve;
mod start;
mod sys;
mod task_return;
mod worker;
mod worker_handle;

pub use bootstrap::bootstrap;
pub use child::{Child, active_children};
pub use context::{Context, StartMethod, get_context, get_start_method, set_start_method};
pub use descriptors::reserve_workers;
pub use error::{ProcessError, StartError};
pub use exit::ExitStatus;
pub use function::{Function, FunctionKey, InitOutcome, StarFn, function_key, trust_function_key};
pub use identity::{ProcessInfo, cpu_count, current_process, parent_process};
pub use inherit::on_fork_child;
pub use limits::Limits;
pub use panic::take_panic;
pub use process::Process;
pub use protocol::{answer, progress};
pub use sentinel::Sentinel;
pub use serve::{FrameServer, Served, UnexpectedFrame};
#[doc(hidden)]
pub use sys::{PerProcess, advise_huge_pages};
pub use task_return::{TaskFailure, TaskReturn, Typed, via};
pub use worker_handle::{Worker, start_worker};

/// This executable's fingerprint: what two processes compare before one calls a function
/// the other names (the GNU build id, else the file's identity).
///
/// ```
/// use multiproc::process::binary_fingerprint;
/// assert_eq!(binary_fingerprint(), binary_fingerprint());
/// ```
pub fn binary_fingerprint() -> multiproc_codec::BinaryFingerprint {
    binary::fingerprint()
}

/// `CLOCK_MONOTONIC` in nanoseconds, the clock workers stamp item starts with.
pub fn monotonic_ns() -> u64 {
    sys::monotonic_ns()
}
