//! Slurm without Slurm: `srun` is a stand-in script, and a task's environment is made by
//! hand. What is checked is what multiproc does with Slurm's words and variables: the
//! supervisor runs `srun --mpi=pmix`, reads a dead task's node and signal from srun's
//! errors, and `init` refuses a step started without PMI instead of running one job per
//! task.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use multiproc_mpi::MpiError;

/// Set in the stand-in task's environment.
const TASK: &str = "MULTIPROC_MPI_TEST_SLURM_TASK";

/// A scratch directory holding an executable `srun` with this body.
fn fake_srun(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mpi-slurm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let srun = dir.join("srun");
    std::fs::write(&srun, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&srun, std::fs::Permissions::from_mode(0o755)).unwrap();
    srun
}

/// Runs `multiproc-mpirun --launcher <srun> -n 3` on this test binary's `test`.
fn supervise(srun: &Path, test: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_multiproc-mpirun"))
        .args(["--launcher"])
        .arg(srun)
        .args(["-n", "3", "--timeout", "60", "--host", "node[1-3]", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(common::filter(test))
        .env(common::IN_JOB, "1")
        .output()
        .unwrap()
}

fn square(x: u64) -> u64 {
    x * x
}

/// `--launcher srun` runs `srun -n 3 --mpi=pmix --nodelist=...`; here the stand-in checks
/// the flags and hands the job to `mpirun`, and the pool runs.
#[test]
fn the_supervisor_runs_srun_with_pmix() {
    const TEST: &str = "the_supervisor_runs_srun_with_pmix";
    if common::in_job() {
        let world = multiproc_mpi::init().unwrap();
        assert_eq!(world.pool().unwrap().map(square, 0..4).unwrap(), [0, 1, 4, 9]);
        println!("slurm: the pool ran");
        return;
    }
    let srun = fake_srun(
        "pmix",
        "[ \"$1 $2 $3 $4\" = '-n 3 --mpi=pmix --nodelist=node[1-3]' ] || { echo \"srun got: $*\" >&2; exit 9; }\n\
         shift 4\n\
         exec mpirun --allow-run-as-root --oversubscribe -n 3 \"$@\"\n",
    );
    let out = supervise(&srun, TEST);
    let _ = std::fs::remove_dir_all(srun.parent().unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("slurm: the pool ran"), "{stdout}");
}

/// When a task dies, srun's own words name it: the report gives the rank, the node and
/// the signal.
#[test]
fn a_dead_task_is_named_from_sruns_errors() {
    let srun = fake_srun(
        "dead",
        "echo 'srun: error: node7: task 2: Killed' >&2\n\
         echo 'srun: Job step aborted: Waiting up to 32 seconds for job step to finish.' >&2\n\
         echo 'srun: error: node1: tasks 0-1: Terminated' >&2\n\
         exit 137\n",
    );
    let out = supervise(&srun, "unused");
    let _ = std::fs::remove_dir_all(srun.parent().unwrap());
    let report = common::report(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(137), "{report}");
    assert!(report.contains("rank 2 on host node7 was killed by signal 9 (SIGKILL)"), "{report}");
}

/// A task of `srun -n 3` without `--mpi=pmix`: `launched` says a launcher started it (so
/// the program does not relaunch itself under each task), and `init` refuses with the
/// fix, before starting MPI.
#[test]
fn a_step_without_pmi_is_refused() {
    const TEST: &str = "a_step_without_pmi_is_refused";
    if std::env::var_os(TASK).is_some() {
        assert!(multiproc_mpi::supervisor::launched());
        let err = multiproc_mpi::init().unwrap_err();
        assert_eq!(err, MpiError::NoPmi { tasks: 3 });
        assert!(err.to_string().contains("srun --mpi=pmix"), "{err}");
        println!("slurm: refused");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(common::filter(TEST))
        .env(TASK, "1")
        // What srun sets in a task, with no PMI plugin's variables.
        .envs([
            ("SLURM_JOB_ID", "4242"),
            ("SLURM_STEP_ID", "0"),
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "3"),
            ("SLURM_STEP_NUM_TASKS", "3"),
        ])
        .env_remove("OMPI_COMM_WORLD_SIZE")
        .env_remove("PMIX_RANK")
        .env_remove("PMI_RANK")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("slurm: refused"), "{stdout}");
}
