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
    /// Another pool or executor uses the worker ranks (one at a time).
    Busy,
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
