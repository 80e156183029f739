//! [`MpiError`]: what can go wrong setting up pools over MPI ranks.

use std::fmt;

use mpi::Rank;
use multiproc_pool::PoolError;

/// Why [`init`](crate::init) or a pool over MPI ranks could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MpiError {
    /// `init` was called before in this process (MPI starts once per process).
    AlreadyInitialized,
    /// MPI could not be initialized.
    Init(String),
    /// The job has no worker ranks: the program was not started by `mpirun` (or with
    /// `-n 1`).
    NoWorkers,
    /// A rank runs a different binary: function identities would not match, so nothing
    /// is run. Every rank must run the same build of the same executable.
    BinaryMismatch {
        /// The first rank that differs.
        rank: Rank,
        /// Its host.
        host: String,
    },
    /// Another pool or executor uses the worker ranks asked for (a rank serves one at a
    /// time).
    Busy,
    /// A rank asked for is not a worker rank of the job.
    NoSuchRank(Rank),
    /// The program was started by Slurm's `srun` as one of `tasks` tasks without PMI:
    /// each task would be an MPI job of its own. Run `srun --mpi=pmix ...`.
    NoPmi {
        /// How many tasks the step has.
        tasks: u32,
    },
    /// The pool's options were invalid (an initializer argument that cannot be encoded).
    Pool(PoolError),
}

impl fmt::Display for MpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MpiError::AlreadyInitialized => {
                f.write_str("MPI was initialized before in this process")
            }
            MpiError::Init(why) => write!(f, "cannot initialize MPI: {why}"),
            MpiError::NoWorkers => f.write_str(
                "the MPI job has no worker ranks: start the program with \
                 `multiproc-mpirun -n <workers + 1> -- <program>` (or mpirun/srun)",
            ),
            MpiError::BinaryMismatch { rank, host } => write!(
                f,
                "rank {rank} on {host} runs a different binary: every rank must run the same \
                 build (use a shared file system or `mpirun --preload-binary`)"
            ),
            MpiError::Busy => {
                f.write_str("the worker ranks are in use by another pool or executor")
            }
            MpiError::NoSuchRank(rank) => write!(f, "rank {rank} is not a worker rank of the job"),
            MpiError::NoPmi { tasks } => write!(
                f,
                "started by srun as one of {tasks} tasks without PMI, so each task would be an \
                 MPI job of its own: run `srun --mpi=pmix ...` (`srun --mpi=list` shows what \
                 the cluster has; `pmi2` works too)"
            ),
            MpiError::Pool(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for MpiError {}

impl From<PoolError> for MpiError {
    fn from(e: PoolError) -> MpiError {
        MpiError::Pool(e)
    }
}
