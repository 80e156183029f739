//! [`Limits`]: the resource limits of a child process, and how a worker keeps them — set
//! once at boot, before its initializer or first task runs, then watched around each task.
//!
//! - **Memory** is the address space (`RLIMIT_AS`), counted from what the child holds at
//!   boot (see [`Limits::memory`]). An allocation past it fails, and Rust
//!   aborts: the worker's SIGABRT handler sees `errno == ENOMEM` (set by the `malloc` that
//!   just failed; cleared when each task starts) and records the hit in a progress word
//!   before the abort goes on, so the parent tells it from any other abort. Rust's report
//!   of the failure prints a backtrace when `RUST_BACKTRACE` asks, and the system calls
//!   of that would overwrite `errno`: a worker under a memory cap takes the variable out
//!   of its environment at boot (its own panic reports keep the style). A forked worker
//!   whose parent already printed a panic with Rust's default hook inherits the style
//!   Rust read then; its failed allocations may come back as a plain `WorkerDied`.
//! - **CPU time** is per task: a timer on the worker's CPU-time clock, armed when a task
//!   starts and disarmed when it returns, sends SIGXCPU; its handler records the task's
//!   CPU time and the worker dies of SIGXCPU (without a core dump).
//! - **Open files** is `RLIMIT_NOFILE`. Running out is no death: a task that fails with
//!   "too many open files" (`EMFILE` in its error, or a descriptor table found full)
//!   fails with the limit instead, and its worker retires.
//! - **Recycling**: with a threshold, the worker reads its resident memory after each
//!   task and, over it, asks to retire (the task's answer is written after the ask).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use multiproc_codec::{Limit, RemoteFailure};
use multiproc_ipc::SharedWords;
use serde::{Deserialize, Serialize};

use crate::panic::BacktraceStyle;
use crate::protocol::progress::{self, pack_limit};
use crate::sys::PerProcess;
use crate::sys::limits::{
    CpuTimer, LimitSignal, Resource, clear_errno, get_rlimit, handle_limit_signal, page_size,
    process_cpu_ns, set_rlimit,
};

/// Resource limits of a child process: what the pool and executor builders' `memory_limit`,
/// `cpu_time_limit`, `open_files_limit`, `core_dumps` and `max_memory_per_child` set, and
/// [`Process::with_limits`](crate::Process::with_limits) takes. Applied in the child when
/// it boots, before its initializer or task runs, under every start method; never in the
/// parent. Python has no such option (`resource.setrlimit` in an initializer does part
/// of it); billiard's `max_memory_per_child` is the recycling.
///
/// ```
/// use std::time::Duration;
/// use multiproc::process::Limits;
///
/// let limits = Limits::new().memory(256 << 20).cpu_time(Duration::from_secs(2)).core_dumps(false);
/// assert_eq!(limits.memory_limit(), Some(256 << 20));
/// assert_eq!(limits.cpu_time_limit(), Some(Duration::from_secs(2)));
/// assert_eq!(limits.open_files_limit(), None);
/// assert!(Limits::new().is_empty());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    memory: Option<u64>,
    cpu_time_ns: Option<u64>,
    open_files: Option<u64>,
    core_dumps: Option<bool>,
    max_memory_per_child: Option<u64>,
}

impl Limits {
    /// No limits: the child inherits its parent's.
    #[must_use]
    pub const fn new() -> Limits {
        Limits {
            memory: None,
            cpu_time_ns: None,
            open_files: None,
            core_dumps: None,
            max_memory_per_child: None,
        }
    }

    /// Lets the child's address space grow by at most `bytes` past what it holds when it
    /// boots (`RLIMIT_AS`, soft and hard, set to the sum). What it holds at boot is a few
    /// MiB when spawned (its binary, the shared memory of its channels), but the whole of
    /// the parent's mappings when forked (other threads' stacks and malloc arenas too),
    /// which is why the cap is counted from there. It counts every mapping, not only what
    /// is resident. A cgroup's `memory.max` would count resident memory instead and call
    /// the OOM killer; it needs a delegated cgroup v2, which most machines do not give a
    /// user (the machine this was written on has none), so it is not what this sets.
    #[must_use]
    pub const fn memory(mut self, bytes: u64) -> Limits {
        self.memory = Some(bytes);
        self
    }

    /// Caps the CPU time of each task (all threads of the child, from the task's start;
    /// wall time is the pool's `timeout`). For a `Process`, its one task.
    #[must_use]
    pub const fn cpu_time(mut self, limit: Duration) -> Limits {
        let ns = limit.as_nanos();
        self.cpu_time_ns = Some(if ns > u64::MAX as u128 { u64::MAX } else { ns as u64 });
        self
    }

    /// Caps the child's open descriptors at `n` (`RLIMIT_NOFILE`, soft and hard), its own
    /// included: a worker holds about ten.
    #[must_use]
    pub const fn open_files(mut self, n: u64) -> Limits {
        self.open_files = Some(n);
        self
    }

    /// Whether a crashing child may write a core dump (`false`: `RLIMIT_CORE` 0; `true`:
    /// as large as the hard limit allows). Unset, the child inherits the parent's.
    #[must_use]
    pub const fn core_dumps(mut self, allowed: bool) -> Limits {
        self.core_dumps = Some(allowed);
        self
    }

    /// Retires a pool worker after a task that leaves its resident memory above `bytes`.
    #[must_use]
    pub const fn max_memory_per_child(mut self, bytes: u64) -> Limits {
        self.max_memory_per_child = Some(bytes);
        self
    }

    /// The address-space cap, in bytes.
    pub const fn memory_limit(&self) -> Option<u64> {
        self.memory
    }

    /// The CPU time a task may use.
    pub const fn cpu_time_limit(&self) -> Option<Duration> {
        match self.cpu_time_ns {
            Some(ns) => Some(Duration::from_nanos(ns)),
            None => None,
        }
    }

    /// The cap on open descriptors.
    pub const fn open_files_limit(&self) -> Option<u64> {
        self.open_files
    }

    /// The resident memory above which a worker retires.
    pub const fn recycle_above(&self) -> Option<u64> {
        self.max_memory_per_child
    }

    /// What is configured for `limit`, in its unit (see [`Limit`]).
    ///
    /// ```
    /// use multiproc::codec::Limit;
    /// use multiproc::process::Limits;
    ///
    /// assert_eq!(Limits::new().open_files(64).configured(Limit::OpenFiles), Some(64));
    /// ```
    pub fn configured(&self, limit: Limit) -> Option<u64> {
        match limit {
            Limit::Memory => self.memory,
            Limit::CpuTime => self.cpu_time_ns,
            Limit::OpenFiles => self.open_files,
            _ => None,
        }
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Limits::new()
    }

    /// Whether a worker under these limits may ask to retire (see
    /// [`progress::RETIRE`](crate::progress::RETIRE)).
    pub fn may_retire(&self) -> bool {
        self.max_memory_per_child.is_some() || self.open_files.is_some()
    }
}

/// What a booted child with limits keeps to watch its tasks.
#[derive(Debug)]
pub(crate) struct Watch {
    limits: Limits,
    cpu: Option<CpuTimer>,
    /// The process's CPU time when the current task started.
    cpu_start: AtomicU64,
    /// The progress words (a pool worker's): where hits and retirements are recorded.
    words: Option<SharedWords>,
    /// `/proc/self/statm`, kept open to read the resident set after each task.
    statm: Option<File>,
    /// Asked to retire already.
    retiring: AtomicBool,
}

/// Whether this process applied limits (inherited by a fork: then [`WATCH`] is empty).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static WATCH: PerProcess<OnceLock<Watch>> = PerProcess::new();

/// This process's watch, if it applied limits. Never allocates (the signal handlers
/// call it: in a process forked from a limited worker, the handlers and `ACTIVE` are
/// inherited but the watch is not).
#[inline]
pub(crate) fn watch() -> Option<&'static Watch> {
    if !ACTIVE.load(Ordering::Relaxed) {
        return None;
    }
    WATCH.existing()?.get()
}

/// Applies `limits` to this process (a child that just booted); `words` are a pool
/// worker's progress words.
pub(crate) fn apply(limits: &Limits, words: Option<&SharedWords>) -> io::Result<()> {
    if limits.is_empty() {
        return Ok(());
    }
    match limits.core_dumps {
        Some(false) => set_rlimit(Resource::CoreSize, 0, 0)?,
        Some(true) => {
            let (_, hard) = get_rlimit(Resource::CoreSize)?;
            set_rlimit(Resource::CoreSize, hard, hard)?;
        }
        None => {}
    }
    if let Some(bytes) = limits.memory {
        BacktraceStyle::take_env();
        let cap = address_space()?.saturating_add(bytes);
        set_rlimit(Resource::AddressSpace, cap, cap)?;
    }
    if let Some(n) = limits.open_files {
        set_rlimit(Resource::OpenFiles, n, n)?;
    }
    let watch = Watch {
        limits: *limits,
        cpu: limits.cpu_time_ns.map(|_| CpuTimer::new()).transpose()?,
        cpu_start: AtomicU64::new(0),
        words: words.filter(|w| w.len() >= progress::LEN).cloned(),
        statm: limits.max_memory_per_child.map(|_| File::open("/proc/self/statm")).transpose()?,
        retiring: AtomicBool::new(false),
    };
    let _ = WATCH.get(OnceLock::new).set(watch);
    ACTIVE.store(true, Ordering::Relaxed);
    if limits.memory.is_some() {
        handle_limit_signal(LimitSignal::Abort, on_abort)?;
    }
    if limits.cpu_time_ns.is_some() {
        handle_limit_signal(LimitSignal::CpuTime, on_cpu_time)?;
    }
    Ok(())
}

/// In the SIGABRT handler: an abort right after a failed allocation is the memory cap.
fn on_abort(out_of_memory: bool) {
    if let (true, Some(w)) = (out_of_memory, watch()) {
        w.record(progress::LIMIT, Limit::Memory, None);
    }
}

/// In the SIGXCPU handler: the task's CPU time ran out.
fn on_cpu_time(_: bool) {
    if let Some(w) = watch() {
        let used = process_cpu_ns().saturating_sub(w.cpu_start.load(Ordering::Relaxed));
        w.record(progress::LIMIT, Limit::CpuTime, Some(used));
    }
}

impl Watch {
    /// A task starts.
    pub(crate) fn begin(&self) {
        if self.limits.memory.is_some() {
            clear_errno();
        }
        if let (Some(timer), Some(ns)) = (&self.cpu, self.limits.cpu_time_ns) {
            self.cpu_start.store(process_cpu_ns(), Ordering::Relaxed);
            timer.arm(Duration::from_nanos(ns.max(1)));
        }
    }

    /// The task returned (or panicked), before its answer is written.
    pub(crate) fn returned(&self) {
        if let Some(timer) = &self.cpu {
            timer.arm(Duration::ZERO);
        }
        if let (Some(max), Some(rss)) = (self.limits.max_memory_per_child, self.resident())
            && rss > max
        {
            self.retire(Limit::Memory, rss);
        }
    }

    /// The task failed with `failure`: the open-files limit if that is what it ran into.
    pub(crate) fn failed(&self, failure: RemoteFailure) -> RemoteFailure {
        let Some(n) = self.limits.open_files else { return failure };
        if !out_of_descriptors(&failure) {
            return failure;
        }
        self.retire(Limit::OpenFiles, n);
        RemoteFailure::LimitExceeded { limit: Limit::OpenFiles, configured: n, observed: None }
    }

    /// Resident bytes now (`None` if unreadable).
    fn resident(&self) -> Option<u64> {
        let mut buf = [0u8; 96];
        let n = self.statm.as_ref()?.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let pages: u64 = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
        Some(pages * page_size())
    }

    fn retire(&self, limit: Limit, amount: u64) {
        if !self.retiring.swap(true, Ordering::Relaxed) {
            self.record(progress::RETIRE, limit, Some(amount));
        }
    }

    /// Writes `limit` (and what was seen) into progress word `slot`.
    fn record(&self, slot: usize, limit: Limit, observed: Option<u64>) {
        if let Some(words) = &self.words {
            words.store(slot, pack_limit(limit, observed));
        }
    }
}

/// Bytes of this process's address space now.
fn address_space() -> io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages = statm.split_ascii_whitespace().next().and_then(|p| p.parse::<u64>().ok());
    pages.map(|p| p * page_size()).ok_or_else(|| io::Error::other("unreadable /proc/self/statm"))
}

/// Whether a task's failure says it found no descriptor left: `EMFILE` in its error or
/// panic message ("Too many open files (os error 24)", or the `Debug` form an `unwrap`
/// prints), or this process's table found full now.
fn out_of_descriptors(failure: &RemoteFailure) -> bool {
    let text = match failure {
        RemoteFailure::Failed(e) => std::iter::once(e.message().to_string())
            .chain(e.sources().map(str::to_string))
            .collect(),
        RemoteFailure::Panicked(p) => vec![p.message.clone()],
        _ => return false,
    };
    let says = |t: &String| t.contains("(os error 24)") || t.contains("code: 24,");
    text.iter().any(says)
        || File::open("/dev/null").is_err_and(|e| e.raw_os_error() == Some(libc::EMFILE))
}
