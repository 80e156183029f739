//! Start methods and contexts: Python's `set_start_method` and `get_context`.

use std::sync::atomic::{AtomicU8, Ordering};

use serde::{Deserialize, Serialize};

/// How a child process is started. Python: the `method` of `set_start_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StartMethod {
    /// Re-execute this binary; the child enters the worker before `main`. Safe with
    /// threads; the slowest (an `exec` costs about a millisecond).
    Spawn,
    /// Ask a clean helper process (started once, by spawn) to fork the child: fast, and
    /// the child inherits none of this process's threads or state. The default.
    ForkServer,
    /// `fork()` this process directly: the fastest, and the only method that can run a
    /// capturing closure ([`Process::fork`](crate::Process::fork)). Hazardous once this
    /// process has other threads: a lock held by another thread at the moment of the
    /// fork stays locked forever in the child.
    Fork,
}

impl StartMethod {
    /// Python's name for the method: `"spawn"`, `"forkserver"` or `"fork"`.
    pub fn name(&self) -> &'static str {
        match self {
            StartMethod::Spawn => "spawn",
            StartMethod::ForkServer => "forkserver",
            StartMethod::Fork => "fork",
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            StartMethod::ForkServer => 0,
            StartMethod::Spawn => 1,
            StartMethod::Fork => 2,
        }
    }

    fn from_u8(v: u8) -> StartMethod {
        match v {
            1 => StartMethod::Spawn,
            2 => StartMethod::Fork,
            _ => StartMethod::ForkServer,
        }
    }

    /// All methods, in Python's order of preference on Linux.
    pub const ALL: [StartMethod; 3] =
        [StartMethod::ForkServer, StartMethod::Spawn, StartMethod::Fork];
}

impl std::fmt::Display for StartMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

static DEFAULT: AtomicU8 = AtomicU8::new(0);

/// Sets the start method used where no [`Context`] names one. Python: `set_start_method`.
///
/// ```
/// use multiproc::{get_start_method, set_start_method, StartMethod};
///
/// set_start_method(StartMethod::Spawn);
/// assert_eq!(get_start_method(), StartMethod::Spawn);
/// # set_start_method(StartMethod::ForkServer);
/// ```
pub fn set_start_method(method: StartMethod) {
    DEFAULT.store(method.to_u8(), Ordering::Relaxed);
}

/// The start method used where no [`Context`] names one ([`StartMethod::ForkServer`]
/// unless changed). Python: `get_start_method`.
pub fn get_start_method() -> StartMethod {
    StartMethod::from_u8(DEFAULT.load(Ordering::Relaxed))
}

/// A start method chosen at a call site, for the objects made from it. Python:
/// `multiprocessing.get_context(method)`.
///
/// ```
/// use multiproc::{Context, StartMethod};
///
/// let ctx = Context::new(StartMethod::Fork);
/// let mut p = ctx.process(|x: u32| x + 1, 41);
/// p.start()?;
/// assert_eq!(p.join()?, 42);
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// A context for `method`.
    pub fn new(method: StartMethod) -> Context {
        Context { method }
    }

    /// The start method of this context.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }
}

impl Default for Context {
    /// The context of the global start method ([`get_start_method`]) at this moment.
    fn default() -> Context {
        Context::new(get_start_method())
    }
}

/// The context for `method`. Python: `multiprocessing.get_context`.
pub fn get_context(method: StartMethod) -> Context {
    Context::new(method)
}
