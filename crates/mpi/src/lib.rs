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
//! `mpirun -n 3 target/release/app`, or `srun --mpi=pmix -n 3 target/release/app`.
//!
//! # How it works
//!
//! - **Static SPMD launch.** Every rank runs the same binary; [`init`] starts MPI on a
//!   dedicated thread (the only thread that makes MPI calls, `MPI_THREAD_FUNNELED`).
//!   Rank 0 runs the pool's scheduler and the user's code and executes no task; the
//!   other ranks run tasks on the thread that called [`init`] while their MPI thread
//!   stays ready to receive.
//! - **Function identity** is the one of local pools (offsets from an anchor symbol);
//!   every rank's build is compared at start-up and a mismatch is refused
//!   ([`MpiError::BinaryMismatch`]).
//! - **Frames** are the local pools' frames, one MPI message each: a large argument is
//!   the bytes of its message, not copied through another envelope.
//! - **Failures.** A task's panic or error fails that task, as in a local pool. A rank
//!   that dies takes the whole job down (that is MPI's rule, rank 0 included): the
//!   supervisor, `multiproc-mpirun`, reports the rank, its host, its exit code or signal
//!   and the tasks it held (from a journal rank 0 keeps), and exits non-zero. A panic
//!   outside a task aborts the process, so the job ends instead of hanging in
//!   `MPI_Finalize`.
//!
//! # What is not promised
//!
//! No data locality (arguments travel from rank 0), no elastic scaling, no replacement
//! of a dead rank (MPI gives a job a fixed set of processes), no per-task timeout or
//! `max_tasks_per_child` (a rank cannot be killed or restarted alone): resubmit the job
//! instead. One pool or executor uses the ranks at a time. Keep the [`World`] until the
//! end of `main`: dropping it ends the job cleanly, while `std::process::exit` before
//! that leaves MPI unfinalized and the launcher aborts the job.
//!
//! # Slurm
//!
//! `srun --mpi=pmix -n <workers + 1> target/release/app` inside an allocation
//! (`salloc -n ...` or an `sbatch` script); every node needs the same binary (a shared
//! file system). Use `multiproc-mpirun --mpirun srun` to keep the supervisor's report.
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
