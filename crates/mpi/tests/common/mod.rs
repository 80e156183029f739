//! Running a test as an MPI job: `MPI_Init` runs once per process and libtest runs tests
//! as threads of one process, so each test launches this very test binary under
//! `multiproc-mpirun`, filtered to itself; inside the job, rank 0 runs the test's body
//! and the other ranks serve tasks.
#![allow(dead_code)] // each test file uses part of this module

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use multiproc_mpi::World;

/// Set in the environment of the job's ranks.
pub const IN_JOB: &str = "MULTIPROC_MPI_TEST_IN_JOB";

/// Every job gets this long before the supervisor stops it: a hang fails, never blocks.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(90);

/// Whether this process is a rank of a test's job.
pub fn in_job() -> bool {
    std::env::var_os(IN_JOB).is_some()
}

/// A finished job: what the supervisor printed and how long it took.
pub struct Job {
    pub output: Output,
    pub elapsed: Duration,
}

impl Job {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Fails the test with the job's output unless it succeeded.
    pub fn assert_success(&self) {
        assert!(
            self.output.status.success(),
            "the job failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.output.status,
            self.stdout(),
            self.stderr()
        );
    }
}

/// The arguments that make this test binary run only `test`, printing as it goes.
pub fn filter(test: &str) -> Vec<String> {
    ["--exact", test, "--nocapture", "--test-threads", "1"].map(String::from).to_vec()
}

/// Runs `test` of this binary as a job of `ranks` ranks under the supervisor.
pub fn launch(test: &str, ranks: usize) -> Job {
    launch_with_timeout(test, ranks, JOB_TIMEOUT)
}

/// Runs `test` of this binary as a job of `ranks` ranks under the supervisor, stopped
/// after `timeout`.
pub fn launch_with_timeout(test: &str, ranks: usize, timeout: Duration) -> Job {
    launch_with(test, ranks, timeout, &[])
}

/// Runs `test` of this binary as a job of `ranks` ranks under the supervisor, stopped
/// after `timeout`, with `env` set in every rank.
pub fn launch_with(test: &str, ranks: usize, timeout: Duration, env: &[(&str, &str)]) -> Job {
    let exe = std::env::current_exe().expect("the test binary's path");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_multiproc-mpirun"))
        .args(["-n", &ranks.to_string(), "--timeout", &timeout.as_secs_f64().to_string(), "--"])
        .arg(exe)
        .args(filter(test))
        .env(IN_JOB, "1")
        .envs(env.iter().copied())
        .output()
        .expect("cannot run multiproc-mpirun");
    Job { output, elapsed: started.elapsed() }
}

/// The supervisor's report of a job that must have failed by itself, not been stopped
/// by the watchdog (exit 124): a fatal error ends a job, never hangs it.
pub fn failure_report(job: &Job) -> String {
    let err = job.stderr();
    assert_ne!(job.output.status.code(), Some(124), "the watchdog had to stop it:\n{err}");
    assert!(!job.output.status.success(), "the job should have failed:\n{err}");
    report(&err)
}

/// The lines of the supervisor's report in `stderr`.
pub fn report(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("multiproc-mpirun:")).collect();
    lines.join("\n")
}

/// Sets the environment a job's ranks get, for a test that runs `mpirun` itself.
pub fn job_env(cmd: &mut Command) -> &mut Command {
    cmd.env(IN_JOB, "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
}

/// The test `test`: outside a job, runs it as a 3-rank job and checks that it passed;
/// inside, runs `body` on rank 0 (the other ranks serve tasks inside `init`).
pub fn on_ranks(test: &str, body: impl FnOnce(&World)) {
    if in_job() {
        let world = multiproc_mpi::init().expect("MPI starts");
        body(&world);
    } else {
        let job = launch(test, 3);
        job.assert_success();
        assert!(job.stdout().contains("test result: ok. 1 passed"), "{}", job.stdout());
    }
}

/// Declares `#[test] fn $name` whose body runs on rank 0 of a 3-rank job.
#[macro_export]
macro_rules! mpi_test {
    ($(#[$doc:meta])* fn $name:ident($world:ident) $body:block) => {
        $(#[$doc])*
        #[test]
        fn $name() {
            common::on_ranks(stringify!($name), |$world: &multiproc_mpi::World| $body);
        }
    };
}
