//! multiproc's [`Pool`](multiproc_pool::Pool) and
//! [`ProcessPoolExecutor`](multiproc_executor::ProcessPoolExecutor) with workers that are
//! the ranks of an MPI job: the same API, on as many machines as `mpirun` (or Slurm's
//! `srun`) gives the job. The Python twin is `mpi4py.futures`.
//!
//! ```no_run
//! fn square(x: u64) -> u64 { x * x }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Rank 0 gets the world; every other rank serves tasks here and never returns.
//!     let world = multiproc_mpi::init()?;
//!     let pool = world.pool()?;
//!     assert_eq!(pool.map(square, 0..4u64)?, [0, 1, 4, 9]);
//!     Ok(())
//! }
//! ```
//!
//! Run it with `multiproc-mpirun -n 3 -- target/release/app` (2 workers + rank 0), or
//! `mpirun -n 3 target/release/app` (as root, Open MPI also wants `--allow-run-as-root`,
//! and `--oversubscribe` for more ranks than cores; the supervisor adds both when
//! needed), or `srun --mpi=pmix -n 3 target/release/app` under Slurm.
//!
//! # How it works
//!
//! - **Static SPMD launch.** Every rank runs the same binary; [`init`] starts MPI
//!   (`MPI_THREAD_MULTIPLE`) on a dedicated thread, which receives every message of its
//!   rank. Rank 0 runs the pool's scheduler and the user's code and executes no task;
//!   the other ranks run tasks on the thread that called [`init`] while their MPI thread
//!   stays ready to receive. At start-up every worker rank says hello; one that has not
//!   within [`START_TIMEOUT_ENV`] seconds (default 60) is named and the job aborted.
//! - **Function identity** is the one of local pools (offsets from an anchor symbol);
//!   every rank's build is compared at start-up and a mismatch is refused
//!   ([`MpiError::BinaryMismatch`]).
//! - **Frames** are the local pools' frames, sent by the thread that has them, from
//!   where their parts lie (a large argument is not copied into a send buffer), and
//!   received into reused buffers. A frame larger than MPI's count limit (2 GiB - 1
//!   bytes, or [`MAX_MESSAGE_ENV`]) crosses in pieces.
//! - **Several pools at once**, each over its own worker ranks ([`World::split`],
//!   [`MpiBuilder::ranks`], [`MpiBuilder::communicator`]); a rank serves one pool at a
//!   time ([`MpiError::Busy`]).
//! - **Failures.** A task's panic or error fails that task, as in a local pool. A rank
//!   that dies takes the whole job down (that is MPI's rule, rank 0 included): the
//!   supervisor, `multiproc-mpirun`, reports the rank, its host, its exit code or signal
//!   and the items of each job it held (from a journal rank 0 keeps), and exits
//!   non-zero. A panic or fatal error on any rank's MPI thread, or on a worker's task
//!   thread outside a task, aborts the job (`MPI_Abort`) with a line saying why, instead
//!   of hanging in `MPI_Finalize`. When rank 0 panics, the report says what each rank
//!   was running at that moment.
//!
//! # What is not promised
//!
//! No data locality (arguments travel from rank 0), no elastic scaling, no replacement
//! of a dead rank (MPI gives a job a fixed set of processes), no per-task timeout or
//! `max_tasks_per_child` (a rank cannot be killed or restarted alone): resubmit the job
//! instead. Keep the [`World`] until the end of `main`: dropping it ends the job
//! cleanly, while `std::process::exit` before that leaves MPI unfinalized and the
//! launcher aborts the job.
//!
//! # Slurm
//!
//! `srun --mpi=pmix -n <workers + 1> target/release/app` inside an allocation
//! (`salloc -n ...` or an `sbatch` script, see `examples/mpi_pool.sbatch`); every node
//! needs the same binary (a shared file system). `multiproc-mpirun --launcher srun`
//! adds `--mpi=pmix` and keeps the supervisor's report (Slurm's account of a dead task:
//! its rank, node and signal). Started by `srun` without PMI, each task would be an MPI
//! job of its own: [`init`] refuses with [`MpiError::NoPmi`], which names the fix.
#![forbid(unsafe_code)]

mod backend;
mod error;
mod hub;
mod journal;
mod launch;
mod pieces;
mod protocol;
mod rank;
mod spare;
mod start;
pub mod supervisor;
mod transport;
mod wire;
mod world;

pub use error::MpiError;
pub use journal::{InFlight, JOURNAL_ENV, Panicked};
pub use pieces::MAX_MESSAGE_ENV;
pub use start::{START_TIMEOUT_ENV, init};
pub use world::{MpiBuilder, WorkerRank, World};
