//! [`Limit`]: the per-worker resource limits a task can run into, and how their amounts read.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A resource limit of a worker process, as a task that ran into it reports it.
///
/// Each kind has its unit, in which the limit's configured and observed amounts are
/// counted: bytes for [`Memory`](Self::Memory), nanoseconds of CPU time for
/// [`CpuTime`](Self::CpuTime), descriptors for [`OpenFiles`](Self::OpenFiles).
///
/// ```
/// use multiproc_codec::Limit;
///
/// assert_eq!(Limit::Memory.amount(256 << 20), "256 MiB");
/// assert_eq!(Limit::CpuTime.amount(1_500_000_000), "1.5s");
/// assert_eq!(Limit::OpenFiles.amount(64), "64 descriptors");
/// assert_eq!(Limit::Memory.to_string(), "memory");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Limit {
    /// The worker's memory: its address space (`RLIMIT_AS`), in bytes. An allocation past
    /// it fails, and Rust aborts the worker.
    Memory,
    /// The CPU time one task may use (in its worker, all threads), in nanoseconds. Wall
    /// time is the pool's `timeout`.
    CpuTime,
    /// The worker's open file descriptors (`RLIMIT_NOFILE`), its own included.
    OpenFiles,
}

impl Limit {
    /// `amount` in this limit's unit, for messages.
    pub fn amount(self, amount: u64) -> String {
        match self {
            Limit::Memory => bytes(amount),
            Limit::CpuTime => format!("{:?}", Duration::from_nanos(amount)),
            Limit::OpenFiles => format!("{amount} descriptors"),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Memory => "memory",
            Limit::CpuTime => "CPU time",
            Limit::OpenFiles => "open files",
        })
    }
}

/// Bytes in the largest binary unit that keeps a whole number, else in bytes.
fn bytes(n: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{} {unit}", n >> shift);
        }
    }
    if n >= 1 << 20 {
        return format!("{:.1} MiB", n as f64 / f64::from(1 << 20));
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_their_unit() {
        assert_eq!(Limit::Memory.amount(1 << 30), "1 GiB");
        assert_eq!(Limit::Memory.amount((3 << 19) + 1), "1.5 MiB");
        assert_eq!(Limit::Memory.amount(100), "100 bytes");
        assert_eq!(Limit::CpuTime.amount(200_000_000), "200ms");
    }
}
