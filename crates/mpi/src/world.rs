//! [`init`] and [`World`]: one call at the top of `main` that returns the pool's handle on
//! rank 0 and turns every other rank into a worker.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use mpi::Rank;
use mpi::Threading;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use multiproc_codec::{What, decode, encode};
use multiproc_executor::ProcessPoolExecutor;
use multiproc_pool::{Lost, Pool, PoolBuilder};
use multiproc_process::{
    FunctionKey, InitOutcome, binary_fingerprint, function_key, take_panic, trust_function_key,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::MpiBackend;
use crate::error::MpiError;
use crate::hub::{self, Command};
use crate::journal::Journal;
use crate::protocol::{END, HELLO, Hello, KEY, NOTHING};
use crate::rank;

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
    commands: Sender<Command>,
    pub(crate) workers: Vec<WorkerRank>,
    pub(crate) busy: AtomicBool,
    pub(crate) next_link: AtomicU64,
}

impl Shared {
    /// Hands `command` to the MPI thread; `Lost` once the job has ended.
    pub(crate) fn command(&self, command: Command) -> Result<(), Lost> {
        self.commands.send(command).map_err(|_| Lost)
    }
}

/// Rank 0's handle on the MPI job: the worker ranks, and pools and executors over them.
/// Dropping it ends the job: every worker rank finalizes MPI and exits 0.
#[derive(Debug)]
pub struct World {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// How the MPI thread reports what this process is.
enum Started {
    Root(Result<Vec<WorkerRank>, MpiError>),
    Worker,
}

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Starts MPI. On rank 0, returns the [`World`]; on every other rank, serves tasks until
/// rank 0 ends the job, then exits the process with code 0 — it never returns into the
/// caller's code, so call it first thing in `main`, before any side effect.
///
/// Every rank must run the same binary (checked: [`MpiError::BinaryMismatch`]). Started
/// without `mpirun`, there are no workers ([`MpiError::NoWorkers`]).
///
/// ```
/// match multiproc_mpi::init() {
///     Ok(world) => println!("{} worker ranks", world.workers().len()),
///     // A doc test is not started by mpirun: MPI runs as a singleton without workers.
///     Err(e) => assert_eq!(e, multiproc_mpi::MpiError::NoWorkers),
/// }
/// ```
pub fn init() -> Result<World, MpiError> {
    if INITIALIZED.swap(true, Ordering::AcqRel) {
        return Err(MpiError::AlreadyInitialized);
    }
    let (started_tx, started_rx) = channel();
    let (commands_tx, commands_rx) = channel();
    let (mpi_side, task_side) = rank::sides();
    let thread = std::thread::Builder::new()
        .name("multiproc-mpi".into())
        .spawn(move || mpi_thread(&started_tx, &commands_rx, mpi_side))
        .map_err(|e| MpiError::Init(format!("cannot start the MPI thread: {e}")))?;
    match started_rx.recv() {
        Ok(Started::Root(Ok(workers))) => Ok(World {
            shared: Arc::new(Shared {
                commands: commands_tx,
                workers,
                busy: AtomicBool::new(false),
                next_link: AtomicU64::new(0),
            }),
            thread: Some(thread),
        }),
        Ok(Started::Root(Err(e))) => {
            let _ = thread.join();
            Err(e)
        }
        Ok(Started::Worker) => {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| rank::serve_tasks(task_side))) {
                abort_job("task thread", payload.as_ref());
            }
            // The MPI thread finalizes MPI and ends the process.
            loop {
                std::thread::park();
            }
        }
        Err(_) => Err(MpiError::Init("the MPI thread stopped during start-up".into())),
    }
}

/// The one thread that makes MPI calls in this process (`MPI_THREAD_FUNNELED`). A panic
/// here aborts the process, which makes the MPI runtime end the job: unwinding into
/// `MPI_Finalize` while other ranks wait would hang forever.
fn mpi_thread(started: &Sender<Started>, commands: &Receiver<Command>, side: rank::MpiSide) {
    let run = catch_unwind(AssertUnwindSafe(|| {
        let Some((universe, _level)) = mpi::initialize_with_threading(Threading::Funneled) else {
            let _ =
                started.send(Started::Root(Err(MpiError::Init("MPI is already running".into()))));
            return false;
        };
        let world = universe.world();
        let me = Hello {
            pid: std::process::id(),
            host: mpi::environment::processor_name().unwrap_or_else(|_| "?".into()),
            binary: binary_fingerprint(),
        };
        let worker = world.rank() != 0;
        if worker {
            let mut hello = Vec::new();
            if encode(&me, What::Message, &mut hello).is_ok() {
                world.process_at_rank(0).send_with_tag(&hello[..], HELLO);
            }
            let (key, _) = world.process_at_rank(0).receive_vec_with_tag::<u8>(KEY);
            match decode::<FunctionKey>(&key, What::Message) {
                Ok(key) => trust_function_key(key),
                Err(e) => panic!("rank 0 sent no function key: {e}"),
            }
            let _ = started.send(Started::Worker);
            rank::serve_mpi(&world, side);
        } else {
            let mut key = Vec::new();
            if let Err(e) = encode(&function_key(), What::Message, &mut key) {
                panic!("cannot encode the function key: {e}");
            }
            for rank in 1..world.size() {
                world.process_at_rank(rank).send_with_tag(&key[..], KEY);
            }
            match handshake(&world, &me) {
                Ok(workers) => {
                    let mut journal = Journal::from_env();
                    if let Some(j) = &mut journal {
                        j.workers(&workers);
                    }
                    let _ = started.send(Started::Root(Ok(workers)));
                    hub::run(&world, commands, journal);
                    end_job(&world);
                }
                Err(e) => {
                    end_job(&world);
                    let _ = started.send(Started::Root(Err(e)));
                }
            }
        }
        drop(universe); // MPI_Finalize
        worker
    }));
    match run {
        Ok(true) => std::process::exit(0),
        Ok(false) => {}
        Err(payload) => abort_job("MPI thread", payload.as_ref()),
    }
}

/// Ends the job after a panic outside any task: aborting this process makes the MPI
/// runtime end every rank, where unwinding into `MPI_Finalize` would hang them all.
fn abort_job(thread: &str, payload: &(dyn std::any::Any + Send)) -> ! {
    let rank = std::env::var("OMPI_COMM_WORLD_RANK").or_else(|_| std::env::var("PMI_RANK"));
    eprintln!(
        "multiproc-mpi: the {thread} of rank {} {}; aborting the job",
        rank.as_deref().unwrap_or("?"),
        take_panic(payload)
    );
    std::process::abort()
}

/// Collects every worker's hello and checks that all run this very binary.
fn handshake(world: &SimpleCommunicator, me: &Hello) -> Result<Vec<WorkerRank>, MpiError> {
    let size = world.size();
    if size < 2 {
        return Err(MpiError::NoWorkers);
    }
    let mut workers: Vec<Option<WorkerRank>> = vec![None; size as usize - 1];
    let mut mismatch = None;
    for _ in 1..size {
        let (buf, status) = world.any_process().receive_vec_with_tag::<u8>(HELLO);
        let rank = status.source_rank();
        let hello: Hello = decode(&buf, What::Message)
            .map_err(|e| MpiError::Init(format!("bad hello from rank {rank}: {e}")))?;
        if hello.binary != me.binary && mismatch.as_ref().is_none_or(|(r, _)| rank < *r) {
            mismatch = Some((rank, hello.host.clone()));
        }
        workers[rank as usize - 1] = Some(WorkerRank { rank, host: hello.host, pid: hello.pid });
    }
    match mismatch {
        Some((rank, host)) => Err(MpiError::BinaryMismatch { rank, host }),
        None => Ok(workers.into_iter().flatten().collect()),
    }
}

/// Tells every worker rank that the job is over.
fn end_job(world: &SimpleCommunicator) {
    for rank in 1..world.size() {
        world.process_at_rank(rank).send_with_tag(&NOTHING[..], END);
    }
}

impl World {
    /// The worker ranks (every rank but 0), in rank order.
    pub fn workers(&self) -> &[WorkerRank] {
        &self.shared.workers
    }

    /// A [`Pool`] with one worker per worker rank: the whole `Pool` API (`map`,
    /// `imap_unordered`, `starmap`, `apply_async`, ...). One pool or executor at a time
    /// uses the ranks ([`MpiError::Busy`]); dropping it frees them.
    pub fn pool(&self) -> Result<Pool, MpiError> {
        self.builder().pool()
    }

    /// A [`ProcessPoolExecutor`] over the worker ranks (`submit`, `map`,
    /// `as_completed`, `wait`, `shutdown`).
    pub fn executor(&self) -> Result<ProcessPoolExecutor, MpiError> {
        self.builder().executor()
    }

    /// Options for a pool or executor over the worker ranks.
    pub fn builder(&self) -> MpiBuilder<'_> {
        MpiBuilder { world: self, pool: Pool::builder() }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.shared.command(Command::End);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Options of a pool or executor over MPI ranks: those of the local [`PoolBuilder`] that
/// make sense for a fixed set of processes that cannot be killed one by one (no
/// `processes`, `max_tasks_per_child`, start method or per-task `timeout`).
#[derive(Debug)]
#[must_use = "a builder does nothing until `pool` or `executor` is called"]
pub struct MpiBuilder<'w> {
    world: &'w World,
    pool: PoolBuilder,
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

    /// The pool.
    pub fn pool(self) -> Result<Pool, MpiError> {
        let shared = &self.world.shared;
        if shared.busy.swap(true, Ordering::AcqRel) {
            return Err(MpiError::Busy);
        }
        let backend = MpiBackend { shared: Arc::clone(shared), released: AtomicBool::new(false) };
        Ok(self.pool.processes(shared.workers.len()).backend(backend).build()?)
    }

    /// The executor.
    pub fn executor(self) -> Result<ProcessPoolExecutor, MpiError> {
        Ok(ProcessPoolExecutor::from(self.pool()?))
    }
}
