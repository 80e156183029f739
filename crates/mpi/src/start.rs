//! [`init`]: starting MPI on its own thread, the start-up handshake, and how a fatal
//! error on any thread ends the whole job instead of hanging it.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use mpi::Threading;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use multiproc_codec::{BinaryFingerprint, What, decode, encode};
use multiproc_process::{
    FunctionKey, binary_fingerprint, function_key, take_panic, trust_function_key,
};

use crate::error::MpiError;
use crate::hub::{self, Command, Links};
use crate::journal::Journal;
use crate::launch::{Launch, detect};
use crate::protocol::{HELLO, Hello, KEY};
use crate::rank;
use crate::supervisor::FATAL;
use crate::world::{WorkerRank, World};

/// The environment variable that sets how long rank 0 waits for every worker rank's
/// hello at start-up (seconds, default 60).
pub const START_TIMEOUT_ENV: &str = "MULTIPROC_MPI_START_TIMEOUT";

/// The exit code a job ends with when a rank aborts it (`MPI_Abort`).
pub(crate) const ABORTED: i32 = 70;

/// How the MPI thread reports what this process is.
enum Started {
    Root(Result<(Vec<WorkerRank>, Arc<Links>), MpiError>),
    Worker,
}

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Starts MPI. On rank 0, returns the [`World`]; on every other rank, serves tasks until
/// rank 0 ends the job, then exits the process with code 0 — it never returns into the
/// caller's code, so call it first thing in `main`, before any side effect.
///
/// Every rank must run the same binary (checked: [`MpiError::BinaryMismatch`]). Started
/// without a launcher, there are no workers ([`MpiError::NoWorkers`]); started by
/// Slurm's `srun` without PMI, every task would be a job of its own
/// ([`MpiError::NoPmi`]). A worker rank that has not said hello within
/// [`START_TIMEOUT_ENV`] seconds (default 60) is named on standard error, and the job is
/// aborted: MPI cannot end a job cleanly while some of its ranks never joined.
///
/// ```
/// match multiproc_mpi::init() {
///     Ok(world) => println!("{} worker ranks", world.workers().len()),
///     // A doc test is not started by mpirun: MPI runs as a singleton without workers.
///     Err(e) => assert_eq!(e, multiproc_mpi::MpiError::NoWorkers),
/// }
/// ```
pub fn init() -> Result<World, MpiError> {
    if let Launch::SlurmWithoutPmi { tasks } = detect(|v| std::env::var(v).ok()) {
        return Err(MpiError::NoPmi { tasks });
    }
    if INITIALIZED.swap(true, Ordering::AcqRel) {
        return Err(MpiError::AlreadyInitialized);
    }
    let (started_tx, started_rx) = channel();
    let (wake, commands_rx) = channel();
    let (mpi_side, task_side) = rank::sides();
    let thread = std::thread::Builder::new()
        .name("multiproc-mpi".into())
        .spawn(move || mpi_thread(&started_tx, &commands_rx, wake, mpi_side))
        .map_err(|e| MpiError::Init(format!("cannot start the MPI thread: {e}")))?;
    match started_rx.recv() {
        Ok(Started::Root(Ok((workers, links)))) => {
            note_panics(&links);
            Ok(World::new(links, workers, thread))
        }
        Ok(Started::Root(Err(e))) => {
            let _ = thread.join();
            Err(e)
        }
        Ok(Started::Worker) => {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| rank::serve_tasks(task_side))) {
                abort_job("task thread", &take_panic(payload.as_ref()).to_string());
            }
            // The MPI thread finalizes MPI and ends the process.
            loop {
                std::thread::park();
            }
        }
        Err(_) => Err(MpiError::Init("the MPI thread stopped during start-up".into())),
    }
}

/// Rank 0's first panic goes into the journal with what was in flight at that moment:
/// unwinding drops the pool, whose links then say nothing is.
fn note_panics(links: &Arc<Links>) {
    let links = Arc::downgrade(links);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(links) = links.upgrade() {
            let thread = std::thread::current();
            links.panicked(&format!("in thread {}: {info}", thread.name().unwrap_or("?")));
        }
        previous(info);
    }));
}

/// The thread that starts MPI, receives every message and finalizes MPI. A panic here,
/// as on any thread of a worker rank, aborts the job (`MPI_Abort`): unwinding into
/// `MPI_Finalize` while other ranks wait would hang them all.
fn mpi_thread(
    started: &Sender<Started>,
    commands: &Receiver<Command>,
    wake: Sender<Command>,
    side: rank::MpiSide,
) {
    let Some((universe, level)) = mpi::initialize_with_threading(Threading::Multiple) else {
        let _ = started.send(Started::Root(Err(MpiError::Init("MPI is already running".into()))));
        return;
    };
    let world = universe.world();
    let run = catch_unwind(AssertUnwindSafe(|| {
        if level != Threading::Multiple {
            panic!("MPI grants {level:?} threading, not MPI_THREAD_MULTIPLE");
        }
        if world.rank() == 0 {
            run_root(&world, started, commands, wake);
            false
        } else {
            run_worker(&world, started, side);
            true
        }
    }));
    match run {
        Ok(worker) => {
            drop(universe); // MPI_Finalize
            if worker {
                std::process::exit(0);
            }
        }
        Err(payload) => abort_job("MPI thread", &take_panic(payload.as_ref()).to_string()),
    }
}

/// A worker rank: hello, rank 0's function key, then frames until the job ends.
fn run_worker(world: &SimpleCommunicator, started: &Sender<Started>, side: rank::MpiSide) {
    let mut hello = Vec::new();
    if let Err(e) = encode(&me(), What::Message, &mut hello) {
        panic!("cannot encode the hello: {e}");
    }
    world.process_at_rank(0).send_with_tag(&hello[..], HELLO);
    let (key, _) = world.process_at_rank(0).receive_vec_with_tag::<u8>(KEY);
    match decode::<FunctionKey>(&key, What::Message) {
        Ok(key) => trust_function_key(key),
        Err(e) => panic!("rank 0 sent no function key: {e}"),
    }
    let _ = started.send(Started::Worker);
    rank::serve_mpi(world, side);
}

/// Rank 0: the function key to every rank, every rank's hello, then the hub until the
/// job ends.
fn run_root(
    world: &SimpleCommunicator,
    started: &Sender<Started>,
    commands: &Receiver<Command>,
    wake: Sender<Command>,
) {
    if world.size() < 2 {
        let _ = started.send(Started::Root(Err(MpiError::NoWorkers)));
        return;
    }
    let mut key = Vec::new();
    if let Err(e) = encode(&function_key(), What::Message, &mut key) {
        panic!("cannot encode the function key: {e}");
    }
    for rank in 1..world.size() {
        world.process_at_rank(rank).send_with_tag(&key[..], KEY);
    }
    let mut journal = Journal::from_env();
    if let Some(j) = &mut journal {
        j.size(world.size() as usize);
    }
    let hellos = handshake(world, start_timeout(), journal.as_mut());
    let mismatch = hellos.iter().find(|(_, binary)| *binary != binary_fingerprint());
    let refused =
        mismatch.map(|(w, _)| MpiError::BinaryMismatch { rank: w.rank, host: w.host.clone() });
    let workers: Vec<WorkerRank> = hellos.into_iter().map(|(w, _)| w).collect();
    if let Some(j) = &mut journal {
        j.workers(&workers);
    }
    let links = Arc::new(Links::new(world.size() as usize, journal, wake));
    match refused {
        Some(e) => {
            let _ = started.send(Started::Root(Err(e)));
        }
        None => {
            let _ = started.send(Started::Root(Ok((workers, Arc::clone(&links)))));
            hub::run(world, &links, commands);
        }
    }
    hub::end(world, &links);
}

/// This rank, as it introduces itself.
fn me() -> Hello {
    Hello {
        pid: std::process::id(),
        host: mpi::environment::processor_name().unwrap_or_else(|_| "?".into()),
        binary: binary_fingerprint(),
    }
}

/// How long rank 0 waits for the hellos.
fn start_timeout() -> Duration {
    let secs = std::env::var(START_TIMEOUT_ENV).ok().and_then(|v| v.trim().parse::<f64>().ok());
    secs.filter(|s| *s > 0.0 && s.is_finite())
        .map_or(Duration::from_secs(60), Duration::from_secs_f64)
}

/// Collects every worker's hello, in rank order, with the fingerprint of its binary.
/// Ranks that have not said hello within `timeout` are named, and the job is aborted.
fn handshake(
    world: &SimpleCommunicator,
    timeout: Duration,
    mut journal: Option<&mut Journal>,
) -> Vec<(WorkerRank, BinaryFingerprint)> {
    let size = world.size();
    let mut workers: Vec<Option<(WorkerRank, BinaryFingerprint)>> = vec![None; size as usize - 1];
    let deadline = Instant::now() + timeout;
    let mut waiting = workers.len();
    while waiting > 0 {
        let Some(probed) = world.any_process().immediate_matched_probe_with_tag(HELLO) else {
            if Instant::now() > deadline {
                let missing: Vec<String> = (1..size)
                    .filter(|r| workers[*r as usize - 1].is_none())
                    .map(|r| r.to_string())
                    .collect();
                abort_job(
                    "start-up",
                    &format!(
                        "worker rank(s) {} did not say hello within {:.0} s ({START_TIMEOUT_ENV})",
                        missing.join(", "),
                        timeout.as_secs_f64()
                    ),
                );
            }
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let (buf, status) = probed.matched_receive_vec::<u8>();
        let rank = status.source_rank();
        let hello: Hello = match decode(&buf, What::Message) {
            Ok(hello) => hello,
            Err(e) => panic!("rank {rank} said a hello that does not decode: {e}"),
        };
        if let Some(j) = journal.as_deref_mut() {
            j.hello(rank);
        }
        let slot = &mut workers[rank as usize - 1];
        if slot.is_none() {
            waiting -= 1;
        }
        *slot = Some((WorkerRank { rank, host: hello.host, pid: hello.pid }, hello.binary));
    }
    workers.into_iter().flatten().collect()
}

/// Ends the whole job after a fatal error on this rank: says why on standard error, then
/// `MPI_Abort`, which makes the launcher end every rank.
pub(crate) fn abort_job(what: &str, why: &str) -> ! {
    let world = SimpleCommunicator::world();
    // In one write: the launcher prints its own banner about the abort meanwhile, into
    // the same stream, and a line written piece by piece (as `eprintln!` writes) came out
    // cut by it, after "rank 0 (" (seen once in ~80 runs under load).
    let line = format!("{FATAL}{} ({what}): {why}; aborting the job\n", world.rank());
    let _ = std::io::stderr().write_all(line.as_bytes());
    world.abort(ABORTED)
}
