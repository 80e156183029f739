//! Python's `concurrent.futures.ProcessPoolExecutor` for Rust: futures you can block on
//! or `.await`, over a pool that is never "broken".
//!
//! - [`ProcessPoolExecutor`] / [`ExecutorBuilder`]: `submit`, a lazy `map`, `shutdown`.
//! - [`Future`]: `result`, `result_timeout`, `exception`, `done`, `running`,
//!   `cancelled`, `cancel` (and [`cancel_and_kill`](Future::cancel_and_kill), which
//!   CPython cannot do), `add_done_callback`, and `.await` on any runtime.
//! - [`as_completed`] and [`wait`] with [`ReturnWhen`].
//!
//! This is a thin layer over `multiproc-pool`'s scheduler, not a second scheduler: a
//! future is one task submitted with a completion callback. It depends on no async
//! runtime; `.await` works through [`std::future::Future`] and wakers.
#![forbid(unsafe_code)]

mod error;
mod executor;
mod future;
mod wait;

pub use error::{ExecutorError, TimeoutError};
pub use executor::{ExecutorBuilder, Map, MapError, MapOptions, ProcessPoolExecutor};
pub use future::Future;
pub use wait::{AsCompleted, ReturnWhen, as_completed, wait};
