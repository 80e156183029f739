//! The fault mix of `BENCHMARKS.md`'s W14, shared by the soak test (`pool_fault_soak.rs`,
//! scaled down) and the bench (`benches/workloads`, full size, which includes this file):
//! what task `i` does, fixed by its index, and whether an outcome is its own.

use std::time::Duration;

use multiproc::ExitStatus;
use multiproc::pool::TaskError;

/// What task `i` does (`benches/python/workloads.py` has the same rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Value,
    Abort,
    Exit(i32),
    Panic,
    Sleep,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Value => "value",
            Fault::Abort => "abort",
            Fault::Exit(_) => "exit",
            Fault::Panic => "panic",
            Fault::Sleep => "sleep",
        }
    }
}

/// About 0.5% abort, 0.5% `_exit` with a code of their own, 1% panic, 0.5% sleep past any
/// timeout, the rest return a value (a multiplicative hash spreads them).
pub fn fault(i: u64) -> Fault {
    match i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1000 {
        0..5 => Fault::Abort,
        5..10 => Fault::Exit(3 + (i % 60) as i32),
        10..20 => Fault::Panic,
        20..25 => Fault::Sleep,
        _ => Fault::Value,
    }
}

/// Does what `fault(i)` says: returns `i * 7`, or aborts, `_exit`s, panics, or sleeps a
/// minute.
pub fn act(i: u64) -> u64 {
    match fault(i) {
        Fault::Value => std::hint::black_box(i * 7),
        Fault::Abort => std::process::abort(),
        // SAFETY: `_exit` ends the process at once; it has no memory-safety preconditions.
        Fault::Exit(code) => unsafe { libc::_exit(code) },
        Fault::Panic => panic!("task {i} panics"),
        Fault::Sleep => {
            std::thread::sleep(Duration::from_secs(60));
            i
        }
    }
}

/// Whether `outcome` is what task `i` did, on a pool whose per-task timeout is `timeout`.
pub fn is_own_outcome(i: u64, outcome: &Result<u64, TaskError>, timeout: Duration) -> bool {
    match (fault(i), outcome) {
        (Fault::Value, Ok(v)) => *v == i * 7,
        (Fault::Abort, Err(TaskError::WorkerDied { status, .. })) => {
            *status == Some(ExitStatus::Signal(libc::SIGABRT))
        }
        (Fault::Exit(code), Err(TaskError::WorkerDied { status, .. })) => {
            *status == Some(ExitStatus::Code(code))
        }
        (Fault::Panic, Err(TaskError::Panicked(p))) => p.message == format!("task {i} panics"),
        (Fault::Sleep, Err(TaskError::TimedOut { after, .. })) => *after == timeout,
        _ => false,
    }
}
