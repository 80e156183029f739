//! Python's `concurrent.futures.ProcessPoolExecutor` for Rust: futures you can block on
//! or `.await`, over a pool that is never "broken".
//!
//! - [`ProcessPoolExecutor`] / [`ExecutorBuilder`]: `submit`, a lazy `map` ([`Map`],
//!   [`MapOptions`]), their `*_star` forms for functions of several arguments, `shutdown`.
//! - [`Future`]: `result`, `result_timeout`, `exception`, `done`, `running`,
//!   `cancelled`, `cancel` (and [`cancel_and_kill`](Future::cancel_and_kill), which
//!   CPython cannot do), `add_done_callback`, and `.await` on any runtime.
//! - [`as_completed`] and [`wait`] with [`ReturnWhen`].
//!
//! Errors: every submission and wait answers with `multiproc_pool::TaskError` (a task that
//! returns `Err`, panics or loses its worker fails its future); building one answers with
//! `multiproc_pool::PoolError`; only `as_completed` has its own [`TimeoutError`].
//!
//! This is a thin layer over `multiproc-pool`'s scheduler, not a second scheduler: a
//! future is one task submitted with a completion callback. It depends on no async
//! runtime; `.await` works through [`std::future::Future`] and wakers.
#![forbid(unsafe_code)]

mod error;
mod executor;
mod future;
mod map;
mod wait;

pub use error::TimeoutError;
pub use executor::{ExecutorBuilder, ProcessPoolExecutor};
pub use future::Future;
pub use map::{Map, MapOptions};
pub use wait::{AsCompleted, ReturnWhen, as_completed, wait};
