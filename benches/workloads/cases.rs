//! The cases: every `BENCHMARKS.md` workload as one or more measured calls, each with the
//! figures (rows of the table) it reports. The multiproc side of each is a function in
//! [`measure`](crate::measure); the CPython side is the function of the same key in
//! `benches/python/workloads.py`.

use std::error::Error;

use crate::measure::*;
use crate::mixes::*;
use crate::scale::*;
use crate::talk::*;

/// What one repetition of a case yields: one value per figure.
pub(crate) type Outcome = Result<Vec<Value>, Box<dyn Error>>;

/// One measured value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A number in the figure's unit.
    Num(f64),
    /// A qualitative outcome (W11, W12).
    Text(String),
}

/// The unit of a figure, which also says which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    ItemsPerSec,
    TasksPerSec,
    Micros,
    Millis,
    Seconds,
    GigabytesPerSec,
    MegabytesPerSec,
    IncrementsPerSec,
    Speedup,
    SecondsAboveIdeal,
    MibGrowth,
    /// Proportional set size of a worker process.
    KibPerWorker,
    /// Peak RSS over the peak RSS of the same run with few items.
    PeakRatio,
    Qualitative,
}

impl Unit {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Unit::ItemsPerSec => "items/s",
            Unit::TasksPerSec => "tasks/s",
            Unit::Micros => "µs",
            Unit::Millis => "ms",
            Unit::Seconds => "s",
            Unit::GigabytesPerSec => "GB/s",
            Unit::MegabytesPerSec => "MB/s",
            Unit::IncrementsPerSec => "increments/s",
            Unit::Speedup => "× serial",
            Unit::SecondsAboveIdeal => "s above ideal",
            Unit::MibGrowth => "MiB RSS growth",
            Unit::KibPerWorker => "KiB PSS/worker",
            Unit::PeakRatio => "× small run",
            Unit::Qualitative => "outcome",
        }
    }

    /// Whether a larger value is better (throughputs, speedups).
    pub(crate) fn higher_is_better(self) -> bool {
        matches!(
            self,
            Unit::ItemsPerSec
                | Unit::TasksPerSec
                | Unit::GigabytesPerSec
                | Unit::MegabytesPerSec
                | Unit::IncrementsPerSec
                | Unit::Speedup
        )
    }

    /// The smallest value a ratio divides by: figures that can be ~0 (seconds above
    /// ideal, memory growth) are floored so the ratio stays finite and says "at least".
    pub(crate) fn floor(self) -> f64 {
        match self {
            Unit::SecondsAboveIdeal => 0.001,
            Unit::MibGrowth => 1.0,
            _ => f64::MIN_POSITIVE,
        }
    }
}

/// One reported figure of a case: a row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figure {
    /// The call as users write it, plus size or start method.
    pub(crate) variant: &'static str,
    pub(crate) unit: Unit,
}

/// One measured call of a workload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Case {
    /// The `BENCHMARKS.md` id: `W1` ... `W20`.
    pub(crate) id: &'static str,
    /// The key both sides know it by.
    pub(crate) key: &'static str,
    pub(crate) figures: &'static [Figure],
    /// Repetitions of each side in a full run (one with `--quick`).
    pub(crate) reps: usize,
    /// Left out of `--quick` runs.
    pub(crate) full_only: bool,
    /// One repetition of the multiproc side; the flag is `--quick`.
    pub(crate) run: fn(bool) -> Outcome,
}

const fn fig(variant: &'static str, unit: Unit) -> Figure {
    Figure { variant, unit }
}

const fn case(
    id: &'static str,
    key: &'static str,
    figures: &'static [Figure],
    run: fn(bool) -> Outcome,
) -> Case {
    Case { id, key, figures, reps: 5, full_only: false, run }
}

impl Case {
    const fn reps(mut self, reps: usize) -> Case {
        self.reps = reps;
        self
    }

    const fn full_only(mut self) -> Case {
        self.full_only = true;
        self
    }

    /// Whether the case reports outcomes (text) rather than numbers.
    pub(crate) fn is_qualitative(&self) -> bool {
        self.figures.iter().all(|f| f.unit == Unit::Qualitative)
    }
}

use Unit::*;

/// Every case, in the order the suite runs them.
pub(crate) const CASES: &[Case] = &[
    case("W1", "W1.map", &[fig("pool map", ItemsPerSec)], w1_map),
    case("W1", "W1.map_chunked", &[fig("pool map chunksize 10000", ItemsPerSec)], w1_map_chunked),
    case(
        "W1",
        "W1.executor_map",
        &[fig("executor map chunksize 10000", ItemsPerSec)],
        w1_executor_map,
    ),
    case(
        "W2",
        "W2.imap_unordered",
        &[fig("imap_unordered chunksize 1000", ItemsPerSec)],
        w2_imap_unordered,
    ),
    case("W3", "W3.apply", &[fig("apply median", Micros), fig("apply p99", Micros)], w3_apply),
    case(
        "W3",
        "W3.submit",
        &[fig("submit().result() median", Micros), fig("submit().result() p99", Micros)],
        w3_submit,
    ),
    case("W4", "W4.apply_async", &[fig("apply_async", TasksPerSec)], w4_apply_async),
    case("W4", "W4.submit", &[fig("submit + as_completed", TasksPerSec)], w4_submit),
    case("W5", "W5.fork", &[fig("Process start+join, fork", Millis)], w5_fork),
    case("W5", "W5.spawn", &[fig("Process start+join, spawn", Millis)], w5_spawn),
    case("W5", "W5.forkserver", &[fig("Process start+join, forkserver", Millis)], w5_forkserver),
    case(
        "W6",
        "W6.pool",
        &[fig("pool new → first map result", Millis), fig("pool new → shut down", Millis)],
        w6_pool,
    ),
    case(
        "W7",
        "W7.1",
        &[fig("apply 1 MiB len", GigabytesPerSec), fig("apply 1 MiB echo", GigabytesPerSec)],
        w7_1,
    ),
    case(
        "W7",
        "W7.16",
        &[fig("apply 16 MiB len", GigabytesPerSec), fig("apply 16 MiB echo", GigabytesPerSec)],
        w7_16,
    ),
    case(
        "W7",
        "W7.128",
        &[fig("apply 128 MiB len", GigabytesPerSec), fig("apply 128 MiB echo", GigabytesPerSec)],
        w7_128,
    )
    .full_only(),
    case(
        "W8",
        "W8.cpu",
        &[
            fig("pool map", Speedup),
            fig("imap_unordered chunksize 4", Speedup),
            fig("pool map, 1 worker", Speedup),
            fig("pool map, 3 workers", Speedup),
            fig("pool map, 4 workers", Speedup),
        ],
        w8_cpu,
    ),
    case("W9", "W9.parallel", &[fig("pool map sleep, 4 workers", SecondsAboveIdeal)], w9_parallel),
    case(
        "W9",
        "W9.serial",
        &[fig("pool map sleep, 1 worker (serial)", SecondsAboveIdeal)],
        w9_serial,
    ),
    case(
        "W10",
        "W10.imap",
        &[fig("imap chunksize 1000", MibGrowth), fig("imap chunksize 1000, peak RSS", PeakRatio)],
        w10_imap,
    ),
    case(
        "W10",
        "W10.executor_map",
        &[
            fig("executor map chunksize 1000", MibGrowth),
            fig("executor map chunksize 1000, peak RSS", PeakRatio),
        ],
        w10_executor_map,
    ),
    case(
        "W11",
        "W11.map",
        &[
            fig("pool map, a task calls exit(1)", Qualitative),
            fig("pool map, a task SIGKILLs its worker", Qualitative),
        ],
        w11_map,
    )
    .reps(1),
    case(
        "W11",
        "W11.executor_map",
        &[
            fig("executor map, a task calls exit(1)", Qualitative),
            fig("executor map, a task SIGKILLs its worker", Qualitative),
        ],
        w11_executor_map,
    )
    .reps(1),
    case("W12", "W12.apply", &[fig("apply, the task panics/raises", Qualitative)], w12_apply)
        .reps(1),
    case(
        "W12",
        "W12.submit",
        &[fig("submit().result(), the task panics/raises", Qualitative)],
        w12_submit,
    )
    .reps(1),
    case(
        "W13",
        "W13.imap_unordered",
        &[
            fig("imap_unordered chunksize 1, makespan", Seconds),
            fig("imap_unordered chunksize 1, mean latency", Millis),
        ],
        w13_imap_unordered,
    )
    .reps(3),
    case(
        "W13",
        "W13.submit",
        &[
            fig("submit + as_completed, makespan", Seconds),
            fig("submit + as_completed, mean latency", Millis),
        ],
        w13_submit,
    )
    .reps(3),
    case(
        "W14",
        "W14.map",
        &[fig("map, chunksize 1, 1 s timeout, fault mix", Qualitative)],
        w14_pool,
    )
    .reps(1),
    case("W15", "W15.queue", &[fig("Queue put/get, 200k ints", ItemsPerSec)], w15_queue),
    case(
        "W15",
        "W15.queue_many",
        &[fig("Queue put_many/get_many (CPython: put/get), 200k ints", ItemsPerSec)],
        w15_queue_many,
    ),
    case(
        "W15",
        "W15.faster_fifo",
        &[fig("Queue put_many/get_many vs faster_fifo's, 200k ints", ItemsPerSec)],
        w15_queue_many,
    ),
    case(
        "W16",
        "W16.queue_kib",
        &[fig("Queue put/get, 50k × 1 KiB", MegabytesPerSec)],
        w16_queue_kib,
    ),
    case("W17", "W17.pipe_rtt", &[fig("Pipe round trip, median", Micros)], w17_pipe_rtt),
    case(
        "W18",
        "W18.value_lock",
        &[fig("Value += 1 under its lock, 2 processes", IncrementsPerSec)],
        w18_value_lock,
    ),
    case(
        "W19",
        "W19.shared_memory",
        &[fig("SharedMemory 64 MiB create + fill", GigabytesPerSec)],
        w19_shared_memory,
    ),
    case(
        "W20",
        "W20.pool64",
        &[
            fig("Pool(64) new → first imap result, forkserver", Millis),
            fig("64 naps of 200 ms at once", SecondsAboveIdeal),
            fig("memory per worker", KibPerWorker),
        ],
        w20_pool64,
    ),
];
