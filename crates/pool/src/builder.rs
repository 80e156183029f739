//! [`PoolBuilder`]: every option of a pool, checked when it is built.

use std::time::Duration;

use multiproc_codec::{CodecError, FnId, Pins, What, encode_pinned};
use multiproc_process::{
    Context, Function, InitOutcome, Limits, StartError, StartMethod, cpu_count, reserve_workers,
};
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
    limits: Limits,
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
            .field("limits", &self.limits)
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

    /// Caps each worker's memory at `bytes` of address space (`RLIMIT_AS`; see
    /// [`Limits::memory`] for what it counts and why not a cgroup). A task whose
    /// allocation fails under it fails with [`TaskError::LimitExceeded`] and its worker is
    /// replaced. Beyond Python.
    ///
    /// [`TaskError::LimitExceeded`]: crate::TaskError::LimitExceeded
    ///
    /// ```
    /// use multiproc::{Limit, Pool, TaskError};
    ///
    /// let pool = Pool::builder().processes(1).memory_limit(256 << 20).build()?;
    /// let err = pool.apply(|n: usize| vec![1u8; n].len(), 1 << 30).unwrap_err();
    /// assert!(matches!(err, TaskError::LimitExceeded { limit: Limit::Memory, .. }), "{err}");
    /// assert_eq!(pool.apply(|n: usize| vec![1u8; n].len(), 1 << 20)?, 1 << 20); // the pool goes on
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.limits = self.limits.memory(bytes);
        self
    }

    /// Caps the CPU time of each task (its worker's, all threads, from the task's start):
    /// past it, the task fails with [`TaskError::LimitExceeded`] and its worker is
    /// replaced. Wall time is [`timeout`](Self::timeout)'s. Beyond Python.
    ///
    /// [`TaskError::LimitExceeded`]: crate::TaskError::LimitExceeded
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiproc::{Limit, Pool, TaskError};
    ///
    /// fn spin(_: ()) { loop { std::hint::black_box(()); } }
    ///
    /// let pool = Pool::builder().processes(1).cpu_time_limit(Duration::from_millis(50)).build()?;
    /// let err = pool.apply(spin, ()).unwrap_err();
    /// assert!(matches!(err, TaskError::LimitExceeded { limit: Limit::CpuTime, .. }), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cpu_time_limit(mut self, limit: Duration) -> Self {
        self.limits = self.limits.cpu_time(limit);
        self
    }

    /// Caps each worker's open descriptors at `n` (`RLIMIT_NOFILE`, the worker's own ten
    /// or so included). A task that fails for want of one fails with
    /// [`TaskError::LimitExceeded`], and its worker retires. Beyond Python.
    ///
    /// [`TaskError::LimitExceeded`]: crate::TaskError::LimitExceeded
    ///
    /// ```
    /// let pool = multiproc::Pool::builder().processes(1).open_files_limit(64).build()?;
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn open_files_limit(mut self, n: u64) -> Self {
        self.limits = self.limits.open_files(n);
        self
    }

    /// Whether a crashing worker may write a core dump (unset: as the parent). Beyond
    /// Python.
    ///
    /// ```
    /// let pool = multiproc::Pool::builder().processes(1).core_dumps(false).build()?;
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn core_dumps(mut self, allowed: bool) -> Self {
        self.limits = self.limits.core_dumps(allowed);
        self
    }

    /// Replaces a worker after a task that leaves its resident memory above `bytes`; the
    /// task's result is delivered first. billiard (Celery's pool): `max_memory_per_child`.
    ///
    /// ```
    /// let pool = multiproc::Pool::builder().processes(2).max_memory_per_child(512 << 20).build()?;
    /// # Ok::<(), multiproc::PoolError>(())
    /// ```
    pub fn max_memory_per_child(mut self, bytes: u64) -> Self {
        self.limits = self.limits.max_memory_per_child(bytes);
        self
    }

    /// Runs the workers on another backend (for example ranks of an MPI job). The limits
    /// above apply to the local workers the pool starts by default, not to another
    /// backend's.
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
        let mut backend = match self.backend {
            Some(backend) => backend,
            None => {
                // Only a limit too low is fatal here: a limit that cannot be read or raised
                // shows, typed, when a worker cannot start.
                if let Err(StartError::Exhausted { resource, needed, limit }) =
                    reserve_workers(processes)
                {
                    return Err(PoolError::Exhausted { resource, needed, limit });
                }
                let local = LocalBackend::new(self.context.unwrap_or_default());
                Box::new(local.with_limits(self.limits))
            }
        };
        if !pins.is_empty() {
            backend = Box::new(Pinned { backend, _pins: pins });
        }
        let settings = Settings {
            processes,
            initializer,
            max_tasks_per_child: self.max_tasks_per_child.map(|n| n as u64),
            timeout: self.timeout,
            limits: self.limits,
        };
        let (core, failed) = Core::start(backend, settings);
        let pool = Pool::from_core(core);
        match failed {
            None => Ok(pool),
            Some(_) => {
                // Stops and joins what was started.
                drop(pool);
                Err(PoolError::Exhausted { resource: "threads", needed: None, limit: None })
            }
        }
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
