//! [`Insights`]: where a pool's time went — per worker and overall — as the scheduler
//! accounted it, a batch at a time (never per item).

use std::fmt;
use std::time::Duration;

use multiproc_codec::Limit;
use multiproc_process::ExitStatus;

/// Where a pool's time went, from its start until the call. Python: mpire's
/// `print_insights()`; `Display` prints a small table.
///
/// Times are the scheduler's, taken once per batch of items: a worker is *working* while
/// it holds work it has not answered, and *waiting* while it is ready and holds none.
/// Quick items travel in batches, so their own durations are not measured one by one:
/// see [`SlowTask`].
///
/// ```
/// use multiproc::Pool;
///
/// let pool = Pool::new(2)?;
/// pool.map(|x: u64| x * x, 0..100)?;
/// let insights = pool.insights();
/// let done: u64 = insights.workers.iter().map(|w| w.tasks_done).sum();
/// assert_eq!(done, 100);
/// println!("{insights}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Insights {
    /// The pool's id (as in its `tracing` events).
    pub pool: u64,
    /// Time since the pool was built.
    pub wall: Duration,
    /// Each worker slot, in order (a replacement takes its predecessor's slot).
    pub workers: Vec<WorkerInsights>,
    /// The slowest tasks seen, slowest first (at most [`SLOWEST`]).
    pub slowest: Vec<SlowTask>,
    /// The share (0 to 1) of the workers' working time spent outside their task
    /// batches: scheduling, encoding in the parent, transport. `None` when the workers do
    /// not report their own time (ranks of an MPI job) or have not worked yet.
    pub outside_task_code: Option<f64>,
}

/// How many of the slowest tasks [`Insights`] keeps.
pub const SLOWEST: usize = 5;

/// One worker slot of [`Insights`]: the sums over every worker that ran in it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerInsights {
    /// The worker's pid, if it is a running local process.
    pub pid: Option<u32>,
    /// From asking for a worker to its being ready for work, less the initializer.
    pub startup: Duration,
    /// Running the initializer (with one message round trip).
    pub initializer: Duration,
    /// Holding work not answered yet.
    pub working: Duration,
    /// Ready and holding nothing.
    pub waiting: Duration,
    /// Tasks that returned a value.
    pub tasks_done: u64,
    /// Tasks that failed: returned `Err`, panicked, or died or timed out with their
    /// worker.
    pub tasks_failed: u64,
    /// Why workers in this slot were replaced, and how often for each cause.
    pub restarts: Vec<(RestartCause, u64)>,
}

impl WorkerInsights {
    /// Workers replaced in this slot, for every cause.
    ///
    /// ```
    /// let pool = multiproc::Pool::builder().processes(1).max_tasks_per_child(1).build()?;
    /// pool.map(|x: u8| x, 0..3)?;
    /// assert!(pool.insights().workers[0].restart_count() >= 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restart_count(&self) -> u64 {
        self.restarts.iter().map(|(_, n)| n).sum()
    }
}

/// Why a worker was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RestartCause {
    /// It ended by itself (a crash, an `exit` in a task), with its exit status when known.
    Died(Option<ExitStatus>),
    /// It was killed because a task ran past the pool's timeout.
    TimedOut,
    /// It ran its `max_tasks_per_child`.
    MaxTasks,
    /// It asked to be replaced after a task: its resident memory was over
    /// `max_memory_per_child`, or the task ran out of descriptors.
    Recycled,
    /// A task ran into one of its limits (`memory_limit`, `cpu_time_limit`) and ended it.
    LimitExceeded(Limit),
}

impl fmt::Display for RestartCause {
    /// ```
    /// use multiproc::pool::RestartCause;
    /// use multiproc::ExitStatus;
    ///
    /// assert_eq!(RestartCause::Died(Some(ExitStatus::Signal(9))).to_string(), "died (-9 (SIGKILL))");
    /// assert_eq!(RestartCause::MaxTasks.to_string(), "max tasks");
    /// assert_eq!(RestartCause::Recycled.to_string(), "recycled");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartCause::Died(Some(status)) => write!(f, "died ({status})"),
            RestartCause::Died(None) => f.write_str("died"),
            RestartCause::TimedOut => f.write_str("timed out"),
            RestartCause::MaxTasks => f.write_str("max tasks"),
            RestartCause::Recycled => f.write_str("recycled"),
            RestartCause::LimitExceeded(limit) => write!(f, "{limit} limit"),
        }
    }
}

/// A slow task of [`Insights::slowest`]: item `index` of the pool's call number `job`
/// (counting the pool's calls from 0), and how long it took from the worker's side of
/// the scheduler (running, plus moving its argument and result).
///
/// Slow tasks travel one to a batch, so their time is their own. Quick ones travel many
/// to a batch (`items` > 1): then `duration` is the batch's mean and `index` its first
/// item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlowTask {
    /// The call that submitted it.
    pub job: u64,
    /// Its index in that call's input.
    pub index: usize,
    /// Items timed together (1: the task alone).
    pub items: usize,
    /// Its time (a mean when `items` > 1).
    pub duration: Duration,
}

impl SlowTask {
    pub(crate) fn new(job: u64, index: usize, items: usize, duration: Duration) -> SlowTask {
        SlowTask { job, index, items, duration }
    }
}

impl fmt::Display for Insights {
    /// A table of the workers, then the slowest tasks and the share outside task code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "pool {} insights after {}", self.pool, secs(self.wall))?;
        writeln!(
            f,
            "{:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6}  restarts",
            "worker", "pid", "start-up", "init", "working", "waiting", "done", "failed"
        )?;
        for (i, w) in self.workers.iter().enumerate() {
            let pid = w.pid.map_or("-".to_string(), |p| p.to_string());
            let restarts: Vec<String> =
                w.restarts.iter().map(|(cause, n)| format!("{n} {cause}")).collect();
            writeln!(
                f,
                "{i:>6} {pid:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6}  {}",
                secs(w.startup),
                secs(w.initializer),
                secs(w.working),
                secs(w.waiting),
                w.tasks_done,
                w.tasks_failed,
                if restarts.is_empty() { "-".to_string() } else { restarts.join(", ") }
            )?;
        }
        for t in &self.slowest {
            let what = match t.items {
                1 => format!("job {} task {}", t.job, t.index),
                n => format!("job {} tasks {}..{} (mean)", t.job, t.index, t.index + n),
            };
            writeln!(f, "slow: {what}: {}", secs(t.duration))?;
        }
        match self.outside_task_code {
            Some(share) => write!(f, "outside task code: {:.1}% of working time", share * 100.0),
            None => write!(f, "outside task code: unknown"),
        }
    }
}

/// A duration for the table: seconds with three decimals, or microseconds below 1 ms.
fn secs(d: Duration) -> String {
    if d < Duration::from_millis(1) && !d.is_zero() {
        format!("{}µs", d.as_micros())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}
