//! Failures over MPI ranks: a rank killed by SIGKILL, a rank running another build, a
//! panic on rank 0, a hung job, and a program started without a launcher. Each ends with
//! a clear report or error — never a hang.

mod common;

use std::process::Command;
use std::time::Duration;

use multiproc_mpi::MpiError;

fn nap_then_maybe_die(i: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(200));
    if i == 3 {
        // SIGKILL, as the OOM killer sends it.
        let _ = Command::new("kill").args(["-KILL", &std::process::id().to_string()]).status();
        std::thread::sleep(Duration::from_secs(30));
    }
    i
}

/// A worker rank killed with SIGKILL takes the job down (MPI's rule); the supervisor
/// names the rank, its host and the signal, lists the tasks in flight, and exits
/// non-zero, all within seconds.
#[test]
fn a_rank_killed_with_sigkill_is_reported() {
    if common::in_job() {
        let world = multiproc_mpi::init().unwrap();
        let pool = world.pool().unwrap();
        let _ = pool.chunksize(1).map(nap_then_maybe_die, 0..10);
        unreachable!("the job should have been ended by the rank's death");
    }
    let job = common::launch("a_rank_killed_with_sigkill_is_reported", 3);
    let err = job.stderr();
    assert!(!job.output.status.success(), "{err}");
    assert!(job.elapsed < Duration::from_secs(10), "took {:?}", job.elapsed);
    assert_eq!(job.output.status.code(), Some(137), "{err}");
    let report = common::report(&err);
    assert!(report.contains("was killed by signal 9 (SIGKILL)"), "{report}");
    assert!(report.contains(" on host "), "{report}");
    // Item 3 of the pool's first job (the map) killed its rank; the report names it.
    assert!(report.contains("item 3 of job 0"), "the items in flight are listed:\n{report}");
}

/// The build id of an ELF file's `NT_GNU_BUILD_ID` note, located by its header.
fn build_id_at(elf: &[u8]) -> usize {
    let header = [4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, b'G', b'N', b'U', 0];
    elf.windows(header.len()).position(|w| w == header).expect("a GNU build id note") + 16
}

/// A rank that runs another build (here: this binary with a different build id) is
/// refused at start-up; no task runs, and every rank ends cleanly.
#[test]
fn a_binary_mismatch_is_refused() {
    const TEST: &str = "a_binary_mismatch_is_refused";
    if common::in_job() {
        match multiproc_mpi::init() {
            Err(MpiError::BinaryMismatch { rank, host }) => {
                println!("refused: rank {rank} on {host} runs a different binary");
            }
            other => panic!("expected a binary mismatch, got {other:?}"),
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut elf = std::fs::read(&exe).unwrap();
    let at = build_id_at(&elf);
    elf[at] ^= 0xff;
    let other = std::env::temp_dir().join(format!("mpi-other-build-{}", std::process::id()));
    std::fs::write(&other, &elf).unwrap();
    std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let filter = common::filter(TEST);
    let mut cmd = Command::new("mpirun");
    cmd.args(["--timeout", "60", "-n", "1"])
        .arg(&exe)
        .args(&filter)
        .args([":", "-n", "2"])
        .arg(&other)
        .args(&filter);
    let out = common::job_env(&mut cmd).output().unwrap();
    let _ = std::fs::remove_file(&other);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("refused: rank 1 on"), "{stdout}");
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// A panic in the program on rank 0, with tasks running, ends the job promptly with a
/// non-zero exit: the pool is dropped, the ranks are told the job is over. The report
/// says what each rank was running when rank 0 panicked (not after unwinding dropped
/// the pool).
#[test]
fn a_panic_on_rank_0_ends_the_job() {
    const TEST: &str = "a_panic_on_rank_0_ends_the_job";
    if common::in_job() {
        let world = multiproc_mpi::init().unwrap();
        let ex = world.executor().unwrap();
        // Two jobs (0 and 1), one a rank, both sent; the others wait in the queue.
        let futures: Vec<_> = (0..4).map(|_| ex.submit(nap, 1_000).unwrap()).collect();
        while !futures[..2].iter().all(|f| f.running()) {
            std::thread::yield_now();
        }
        panic!("the program failed on rank 0");
    }
    let job = common::launch(TEST, 3);
    assert!(!job.output.status.success());
    assert!(job.elapsed < Duration::from_secs(20), "took {:?}", job.elapsed);
    let err = job.stderr();
    let report = common::report(&err);
    assert!(report.contains("rank 0 panicked in thread "), "{err}");
    assert!(report.contains("the program failed on rank 0"), "{report}");
    for rank in [1, 2] {
        let line = format!("rank {rank} held ");
        let held = report.lines().find(|l| l.contains(&line)).unwrap_or_else(|| {
            panic!("rank {rank}'s tasks are listed:\n{report}");
        });
        assert!(held.contains("held 1 task(s) when rank 0 panicked (item 0 of job "), "{report}");
    }
}

/// A job that hangs is stopped by the supervisor's watchdog: exit code 124 and a report.
#[test]
fn the_watchdog_stops_a_hung_job() {
    const TEST: &str = "the_watchdog_stops_a_hung_job";
    if common::in_job() {
        let world = multiproc_mpi::init().unwrap();
        let pool = world.pool().unwrap();
        // A task that never ends: what the watchdog is for.
        let _ = pool.apply(nap, u64::MAX / 2);
        unreachable!();
    }
    let job = common::launch_with_timeout(TEST, 3, Duration::from_secs(4));
    assert_eq!(job.output.status.code(), Some(124), "{}", job.stderr());
    assert!(job.elapsed < Duration::from_secs(15), "took {:?}", job.elapsed);
    let err = job.stderr();
    assert!(err.contains("ran past its timeout"), "{err}");
    assert!(err.contains("held 1 task(s)"), "{err}");
}

/// Without a launcher, MPI runs as a singleton: no workers, and the error says how to
/// start the program.
#[test]
fn without_a_launcher_there_are_no_workers() {
    if common::in_job() {
        return; // only meaningful outside a job
    }
    let err = multiproc_mpi::init().unwrap_err();
    assert_eq!(err, MpiError::NoWorkers);
    assert!(err.to_string().contains("multiproc-mpirun -n"), "{err}");
    assert_eq!(multiproc_mpi::init().unwrap_err(), MpiError::AlreadyInitialized);
}

/// What rank 0 tells a worker's MPI thread: a piece of a frame it never announced (the
/// transport's tag for a piece), which no correct rank sends.
fn send_a_stray_piece(to: mpi::Rank) {
    use mpi::traits::*;
    const PIECE: mpi::Tag = 9;
    mpi::topology::SimpleCommunicator::world()
        .process_at_rank(to)
        .send_with_tag(&[1u8, 2, 3][..], PIECE);
}

/// A task that breaks the protocol towards rank 0, as a fault on rank 0's MPI thread.
fn break_rank_0(x: u64) -> u64 {
    send_a_stray_piece(0);
    std::thread::sleep(Duration::from_secs(30));
    x
}

/// A fatal error on a worker rank's MPI thread (here: a broken message) aborts the job
/// at once: the report names the rank and why, never a hang until the watchdog.
#[test]
fn a_fatal_error_on_a_workers_mpi_thread_ends_the_job() {
    const TEST: &str = "a_fatal_error_on_a_workers_mpi_thread_ends_the_job";
    if common::in_job() {
        let world = multiproc_mpi::init().unwrap();
        let pool = world.pool().unwrap();
        assert_eq!(pool.apply(nap, 1).unwrap(), 1);
        send_a_stray_piece(1);
        let _ = pool.apply(nap, 30_000);
        unreachable!("the job should have been aborted");
    }
    let job = common::launch_with_timeout(TEST, 3, Duration::from_secs(60));
    let report = common::failure_report(&job);
    assert!(
        report.contains("fatal error on rank 1 (MPI thread)")
            && report.contains("piece of a frame it did not announce"),
        "{report}"
    );
    assert!(report.contains("multiproc-mpirun: rank 1 on host "), "the rank is named:\n{report}");
}

/// The same on rank 0's MPI thread (the one that receives every worker's replies): the
/// job ends with a report instead of hanging in `MPI_Finalize`.
#[test]
fn a_fatal_error_on_rank_0s_mpi_thread_ends_the_job() {
    const TEST: &str = "a_fatal_error_on_rank_0s_mpi_thread_ends_the_job";
    if common::in_job() {
        let world = multiproc_mpi::init().unwrap();
        let pool = world.pool().unwrap();
        let _ = pool.apply(break_rank_0, 1);
        unreachable!("the job should have been aborted");
    }
    let job = common::launch_with_timeout(TEST, 3, Duration::from_secs(60));
    let report = common::failure_report(&job);
    assert!(report.contains("fatal error on rank 0 (MPI thread)"), "{report}");
    assert!(report.contains("held 1 task(s)"), "the task in flight is listed:\n{report}");
}

/// A worker rank that joined MPI but never says hello (here: it runs its own MPI code
/// instead of `init`) is named within the start-up timeout, and the job is aborted.
#[test]
fn a_rank_that_never_says_hello_is_named() {
    const TEST: &str = "a_rank_that_never_says_hello_is_named";
    if common::in_job() {
        if std::env::var("OMPI_COMM_WORLD_RANK").as_deref() == Ok("2") {
            let _universe = mpi::initialize().expect("MPI starts");
            loop {
                std::thread::park();
            }
        }
        let _ = multiproc_mpi::init();
        unreachable!("rank 0 should have aborted the job");
    }
    let env = [(multiproc_mpi::START_TIMEOUT_ENV, "2")];
    let job = common::launch_with(TEST, 3, Duration::from_secs(60), &env);
    let report = common::failure_report(&job);
    assert!(report.contains("worker rank(s) 2 did not say hello within 2 s"), "{report}");
    assert!(report.contains("worker rank(s) 2 never said hello"), "from the journal:\n{report}");
}
