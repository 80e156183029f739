//! [`PoolBuilder`]: every option of a pool, checked when it is built.

use std::time::Duration;

use multiproc_codec::{CodecError, FnId, Pins, What, encode_pinned};
use multiproc_process::{Context, Function, InitOutcome, StartMethod, cpu_count};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Backend, WorkerLink};
use crate::error::PoolError;
use crate::local::LocalBackend;
use crate::pool::Pool;
use crate::shell::{Core, Settings};

/// An initializer's encoded argument, and what it pins (see [`encode_pinned`]).
type Encoded = (Vec<u8>, Pins);

/// Builds a [`Pool`]. Python: the arguments of `multiprocessing.Pool(...)`.
///
/// ```
/// use std::time::Duration;
/// use multiproc::{Pool, PoolError, StartMethod};
///
/// fn setup(greeting: String) { let _ = greeting; }
///
/// let pool = Pool::builder()
///     .processes(2)
///     .initializer(setup, "hello".to_string())
///     .max_tasks_per_child(100)
///     .start_method(StartMethod::Spawn)
///     .timeout(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(pool.processes(), 2);
/// assert_eq!(Pool::builder().processes(0).build().unwrap_err(), PoolError::NoProcesses);
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Default)]
pub struct PoolBuilder {
    processes: Option<usize>,
    initializer: Option<(FnId, Result<Encoded, CodecError>)>,
    max_tasks_per_child: Option<usize>,
    context: Option<Context>,
    timeout: Option<Duration>,
    backend: Option<Box<dyn Backend>>,
}

impl std::fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("initializer", &self.initializer.as_ref().map(|(id, _)| id))
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("context", &self.context)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl PoolBuilder {
    /// Number of workers (default: [`cpu_count`]).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs `f(arg)` once in every worker before its first task. It may return `()` or a
    /// `Result<(), E>`; an `Err` or a panic fails the pool's tasks with that error after a
    /// few attempts, never an endless respawn. Python: `initializer`, `initargs`.
    pub fn initializer<A, R>(mut self, f: fn(A) -> R, arg: A) -> Self
    where
        A: Serialize + DeserializeOwned + 'static,
        R: InitOutcome + Serialize + DeserializeOwned + 'static,
    {
        let mut buf = Vec::new();
        // Pinned: handles in `arg` (a queue, shared memory) stay fetchable by every worker
        // the pool starts, replacements included, for as long as the pool lives.
        let args = encode_pinned(&arg, What::InitArgument, &mut buf).map(|pins| (buf, pins));
        self.initializer = Some((Function::new(f).init_id(), args));
        self
    }

    /// Replaces a worker after it has run `n` items (items, not chunks). Python:
    /// `maxtasksperchild`.
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Starts workers with `ctx`. Python: `context=`.
    pub fn context(mut self, ctx: Context) -> Self {
        self.context = Some(ctx);
        self
    }

    /// Starts workers with `method`.
    pub fn start_method(self, method: StartMethod) -> Self {
        self.context(Context::new(method))
    }

    /// Kills and replaces a worker whose task runs longer than `timeout`; that task fails
    /// with [`TaskError::TimedOut`](crate::TaskError::TimedOut). Beyond Python.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs the workers on another backend (for example ranks of an MPI job).
    pub fn backend(mut self, backend: impl Backend) -> Self {
        self.backend = Some(Box::new(backend));
        self
    }

    /// Checks the options and starts the pool.
    pub fn build(self) -> Result<Pool, PoolError> {
        let processes = self.processes.unwrap_or_else(cpu_count);
        if processes == 0 {
            return Err(PoolError::NoProcesses);
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(PoolError::ZeroMaxTasks);
        }
        let (initializer, pins) = match self.initializer {
            Some((id, Ok((args, pins)))) => (Some((id, args)), pins),
            Some((_, Err(e))) => return Err(PoolError::Codec(e)),
            None => (None, Pins::default()),
        };
        let mut backend = self
            .backend
            .unwrap_or_else(|| Box::new(LocalBackend::new(self.context.unwrap_or_default())));
        if !pins.is_empty() {
            backend = Box::new(Pinned { backend, _pins: pins });
        }
        let settings = Settings {
            processes,
            initializer,
            max_tasks_per_child: self.max_tasks_per_child.map(|n| n as u64),
            timeout: self.timeout,
        };
        Ok(Pool::from_core(Core::start(backend, settings)))
    }
}

/// A backend that keeps what the initializer's argument refers to alive as long as the
/// pool may start workers.
struct Pinned {
    backend: Box<dyn Backend>,
    _pins: Pins,
}

impl Backend for Pinned {
    fn start(&self, index: usize, stamp_items: bool) -> Result<WorkerLink, String> {
        self.backend.start(index, stamp_items)
    }

    fn release(&self) {
        self.backend.release();
    }
}
