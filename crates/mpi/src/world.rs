//! [`World`]: rank 0's handle on the job's worker ranks, and the pools over them.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mpi::Rank;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, Group};
use multiproc_executor::ProcessPoolExecutor;
use multiproc_pool::{Pool, PoolBuilder};
use multiproc_process::InitOutcome;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::MpiBackend;
use crate::error::MpiError;
use crate::hub::Links;

/// One worker rank, as it introduced itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRank {
    /// Its rank in `MPI_COMM_WORLD`.
    pub rank: Rank,
    /// The host it runs on (`MPI_Get_processor_name`).
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
}

impl std::fmt::Display for WorkerRank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rank {} on {} (pid {})", self.rank, self.host, self.pid)
    }
}

/// What rank 0's pools share with its MPI thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) links: Arc<Links>,
    pub(crate) workers: Vec<WorkerRank>,
    /// Which worker ranks a pool holds (by rank; index 0 unused).
    held: Mutex<Vec<bool>>,
    pub(crate) next_link: AtomicU64,
}

impl Shared {
    /// Takes `ranks` for one pool: all of them, or none when one is another pool's.
    fn hold(&self, ranks: &[Rank]) -> Result<(), MpiError> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&rank) = ranks.iter().find(|&&r| !self.workers.iter().any(|w| w.rank == r)) {
            return Err(MpiError::NoSuchRank(rank));
        }
        if ranks.iter().any(|&r| held[r as usize]) {
            return Err(MpiError::Busy);
        }
        for &r in ranks {
            held[r as usize] = true;
        }
        Ok(())
    }

    /// A pool has stopped: its ranks are free for another.
    pub(crate) fn release(&self, ranks: &[WorkerRank]) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for w in ranks {
            held[w.rank as usize] = false;
        }
    }
}

/// Rank 0's handle on the MPI job: the worker ranks, and pools and executors over them.
/// Dropping it ends the job: every worker rank finalizes MPI and exits 0.
#[derive(Debug)]
pub struct World {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl World {
    pub(crate) fn new(
        links: Arc<Links>,
        workers: Vec<WorkerRank>,
        thread: JoinHandle<()>,
    ) -> World {
        let size = workers.iter().map(|w| w.rank as usize + 1).max().unwrap_or(1);
        let shared = Shared {
            links,
            workers,
            held: Mutex::new(vec![false; size]),
            next_link: AtomicU64::new(0),
        };
        World { shared: Arc::new(shared), thread: Some(thread) }
    }

    /// The worker ranks (every rank but 0), in rank order.
    pub fn workers(&self) -> &[WorkerRank] {
        &self.shared.workers
    }

    /// The worker ranks cut into `parts` groups of consecutive ranks, as even as can be
    /// (the first groups get one rank more), for pools that run at once, each over its
    /// own ranks ([`MpiBuilder::ranks`]). Python: `comm.Split` and one `MPICommExecutor`
    /// per part.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let world = multiproc_mpi::init()?;
    /// let [a, b] = <[_; 2]>::try_from(world.split(2)).unwrap();
    /// let (left, right) = (world.builder().ranks(a).pool()?, world.builder().ranks(b).pool()?);
    /// # Ok(()) }
    /// ```
    pub fn split(&self, parts: usize) -> Vec<Vec<Rank>> {
        let ranks: Vec<Rank> = self.workers().iter().map(|w| w.rank).collect();
        let parts = parts.clamp(1, ranks.len().max(1));
        let (each, more) = (ranks.len() / parts, ranks.len() % parts);
        let mut rest = ranks.as_slice();
        (0..parts)
            .map(|i| {
                let (part, after) = rest.split_at(each + usize::from(i < more));
                rest = after;
                part.to_vec()
            })
            .collect()
    }

    /// A [`Pool`] with one worker per worker rank: the whole `Pool` API (`map`,
    /// `imap_unordered`, `starmap`, `apply_async`, ...). A rank serves one pool or
    /// executor at a time ([`MpiError::Busy`]); dropping it frees the ranks.
    pub fn pool(&self) -> Result<Pool, MpiError> {
        self.builder().pool()
    }

    /// A [`ProcessPoolExecutor`] over the worker ranks (`submit`, `map`,
    /// `as_completed`, `wait`, `shutdown`).
    pub fn executor(&self) -> Result<ProcessPoolExecutor, MpiError> {
        self.builder().executor()
    }

    /// Options for a pool or executor over the worker ranks (or some of them).
    pub fn builder(&self) -> MpiBuilder<'_> {
        MpiBuilder { world: self, pool: Pool::builder(), ranks: None }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.shared.links.end();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Options of a pool or executor over MPI ranks: those of the local [`PoolBuilder`] that
/// make sense for a fixed set of processes that cannot be killed one by one (no
/// `processes`, `max_tasks_per_child`, start method or per-task `timeout`), and which
/// ranks serve it.
#[derive(Debug)]
#[must_use = "a builder does nothing until `pool` or `executor` is called"]
pub struct MpiBuilder<'w> {
    world: &'w World,
    pool: PoolBuilder,
    ranks: Option<Vec<Rank>>,
}

impl MpiBuilder<'_> {
    /// Runs `f(arg)` once on every worker rank before its first task (again on each new
    /// pool). An `Err` or a panic fails the pool's tasks with that error.
    pub fn initializer<A, R>(mut self, f: fn(A) -> R, arg: A) -> Self
    where
        A: Serialize + DeserializeOwned + 'static,
        R: InitOutcome + Serialize + DeserializeOwned + 'static,
    {
        self.pool = self.pool.initializer(f, arg);
        self
    }

    /// Only these worker ranks serve the pool (all of them by default); other pools can
    /// use the others at the same time. See [`World::split`]. A rank that is no worker
    /// is [`MpiError::NoSuchRank`]; one another pool holds, [`MpiError::Busy`].
    pub fn ranks(mut self, ranks: impl IntoIterator<Item = Rank>) -> Self {
        let mut ranks: Vec<Rank> = ranks.into_iter().collect();
        ranks.sort_unstable();
        ranks.dedup();
        self.ranks = Some(ranks);
        self
    }

    /// Only the ranks of `comm` serve the pool: the Rust twin of mpi4py's
    /// `MPICommExecutor(comm)`. Its ranks are taken as ranks of `MPI_COMM_WORLD`; world
    /// rank 0 (the scheduler) is left out. A group of ranks made on rank 0
    /// (`world.group().include(...)`) will do: rank 0's threads may call MPI
    /// (`MPI_THREAD_MULTIPLE`), but the worker ranks take part in no collective call.
    ///
    /// ```no_run
    /// use mpi::traits::*;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let world = multiproc_mpi::init()?;
    /// let group = mpi::topology::SimpleCommunicator::world().group().include(&[1, 2]);
    /// let pool = world.builder().group(&group).pool()?;
    /// # Ok(()) }
    /// ```
    pub fn communicator(self, comm: &impl Communicator) -> Self {
        self.group(&comm.group())
    }

    /// Only the ranks of `group` serve the pool (see [`communicator`](Self::communicator)).
    pub fn group(self, group: &impl Group) -> Self {
        let world = SimpleCommunicator::world().group();
        let ranks: Vec<Rank> = (0..group.size())
            .filter_map(|r| group.translate_rank(r, &world))
            .filter(|&r| r != 0)
            .collect();
        self.ranks(ranks)
    }

    /// The pool.
    pub fn pool(self) -> Result<Pool, MpiError> {
        let shared = &self.world.shared;
        let ranks = self.ranks.unwrap_or_else(|| shared.workers.iter().map(|w| w.rank).collect());
        if ranks.is_empty() {
            return Err(MpiError::NoWorkers);
        }
        shared.hold(&ranks)?;
        let workers: Vec<WorkerRank> =
            shared.workers.iter().filter(|w| ranks.contains(&w.rank)).cloned().collect();
        let processes = workers.len();
        let backend = MpiBackend::new(Arc::clone(shared), workers);
        Ok(self.pool.processes(processes).backend(backend).build()?)
    }

    /// The executor.
    pub fn executor(self) -> Result<ProcessPoolExecutor, MpiError> {
        Ok(ProcessPoolExecutor::from(self.pool()?))
    }
}
