//! Reading a launcher's account of a dead rank from its standard error: Open MPI's,
//! Slurm's, Hydra's, and a rank's own `MPI_Abort`.

use multiproc_process::ExitStatus;

use super::{FATAL, LostRank};
use crate::WorkerRank;
use crate::start::ABORTED;

/// Finds the launcher's account of a dead rank in its standard error.
///
/// - A rank that aborted the job (`MPI_Abort`, Open MPI): "MPI_ABORT was invoked on rank
///   1 in communicator MPI_COMM_WORLD with errorcode 70".
/// - Open MPI: "process rank 1 with PID 4242 on node vm exited on signal 9 (Killed)", or
///   "...exited with non-zero status... Process name: [[53215,1],1] / Exit code: 3".
/// - Slurm's `srun`: "srun: error: node2: task 1: Killed", "...: task 1: Exited with exit
///   code 3", "...: tasks 1-2: Segmentation fault (core dumped)".
/// - MPICH/Hydra: "PID 4242 RUNNING AT vm / EXIT CODE: 9".
pub(crate) fn lost_rank(text: &str, workers: &[WorkerRank]) -> Option<LostRank> {
    let by_rank = |rank: mpi::Rank| workers.iter().find(|w| w.rank == rank);
    let after = |key: &str| text.find(key).map(|i| &text[i + key.len()..]);
    if let Some(rest) = after("MPI_ABORT was invoked on rank ") {
        let rank = number(rest)? as mpi::Rank;
        let code = rest.find("errorcode ").and_then(|i| number(&rest[i + 10..])).unwrap_or(1);
        return Some(known(rank, workers, ExitStatus::Code(code as i32)));
    }
    if let Some(lost) = slurm(text, workers) {
        return Some(lost);
    }
    if let Some(rest) = after("process rank ") {
        let rank = number(rest)? as mpi::Rank;
        let pid = rest.find("with PID ").and_then(|i| number(&rest[i + 9..]));
        let host = rest.find("on node ").and_then(|i| rest[i + 8..].split_whitespace().next());
        let signal = rest.find("on signal ").and_then(|i| number(&rest[i + 10..]));
        let code = rest.find("exit code ").and_then(|i| number(&rest[i + 10..]));
        let known = by_rank(rank);
        return Some(LostRank {
            rank: Some(rank),
            host: known.map(|w| w.host.clone()).or(host.map(str::to_string)),
            pid: known.map(|w| w.pid).or(pid.filter(|p| *p > 0).map(|p| p as u32)),
            status: match (signal, code) {
                (Some(s), _) => ExitStatus::Signal(s as i32),
                (None, Some(c)) => ExitStatus::Code(c as i32),
                (None, None) => ExitStatus::Code(1),
            },
        });
    }
    if let Some(rest) = after("Process name: [[") {
        // [[job,step],rank]
        let rank = rest.find("],").and_then(|i| number(&rest[i + 2..]))? as mpi::Rank;
        let code = after("Exit code:").and_then(number).unwrap_or(1);
        return Some(known(rank, workers, ExitStatus::Code(code as i32)));
    }
    if let Some(rest) = after("EXIT CODE: ") {
        let code = number(rest)? as i32;
        let pid = after("PID ").and_then(number).map(|p| p as u32);
        let known = workers.iter().find(|w| Some(w.pid) == pid);
        return Some(LostRank {
            rank: known.map(|w| w.rank),
            host: known.map(|w| w.host.clone()).or_else(|| {
                after("RUNNING AT ").and_then(|r| r.split_whitespace().next()).map(str::to_string)
            }),
            pid,
            // Hydra prints a signal as its number.
            status: if code < 64 { ExitStatus::Signal(code) } else { ExitStatus::Code(code) },
        });
    }
    None
}

/// The rank that aborted the job, from its own last words (see [`FATAL`]), for when the
/// launcher ends before it says which rank called `MPI_Abort`.
pub(crate) fn aborted_rank(text: &str, workers: &[WorkerRank]) -> Option<LostRank> {
    let rank = text.lines().find_map(|l| number(&l[l.find(FATAL)? + FATAL.len()..]))?;
    Some(known(rank as mpi::Rank, workers, ExitStatus::Code(ABORTED)))
}

/// Rank `rank`, with its host and pid as the journal has them.
fn known(rank: mpi::Rank, workers: &[WorkerRank], status: ExitStatus) -> LostRank {
    let known = workers.iter().find(|w| w.rank == rank);
    LostRank {
        rank: Some(rank),
        host: known.map(|w| w.host.clone()),
        pid: known.map(|w| w.pid),
        status,
    }
}

/// The first number at the start of `s` (after blanks).
fn number(s: &str) -> Option<i64> {
    let digits: String =
        s.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
    digits.parse().ok()
}

/// Signals by the text `strsignal` gives them, as Slurm prints them.
const SIGNALS: &[(&str, i32)] = &[
    ("Hangup", 1),
    ("Interrupt", 2),
    ("Quit", 3),
    ("Illegal instruction", 4),
    ("Trace/breakpoint trap", 5),
    ("Aborted", 6),
    ("Bus error", 7),
    ("Floating point exception", 8),
    ("Killed", 9),
    ("Out Of Memory", 9),
    ("Segmentation fault", 11),
    ("Broken pipe", 13),
    ("Alarm clock", 14),
    ("Terminated", 15),
];

/// Slurm's account: the first "srun: error: HOST: task(s) N...: WHAT" line.
fn slurm(text: &str, workers: &[WorkerRank]) -> Option<LostRank> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("srun: error: ")?;
        let (host, rest) = rest.split_once(": task")?;
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        let rank = number(rest)? as mpi::Rank;
        let (_, what) = rest.split_once(": ")?;
        let what = what.trim().trim_end_matches(" (core dumped)");
        let status = match what.strip_prefix("Exited with exit code ") {
            Some(code) => ExitStatus::Code(number(code)? as i32),
            None => ExitStatus::Signal(SIGNALS.iter().find(|(name, _)| *name == what)?.1),
        };
        let lost = known(rank, workers, status);
        Some(LostRank { host: lost.host.or_else(|| Some(host.to_string())), ..lost })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workers() -> Vec<WorkerRank> {
        vec![
            WorkerRank { rank: 1, host: "h1".into(), pid: 4242 },
            WorkerRank { rank: 2, host: "h2".into(), pid: 4343 },
        ]
    }

    #[test]
    fn open_mpi_signal() {
        let text = "--------\nmpirun noticed that process rank 2 with PID 0 on node vm exited on signal 9 (Killed).\n--------";
        let lost = lost_rank(text, &workers()).unwrap();
        assert_eq!(lost.rank, Some(2));
        assert_eq!(lost.host.as_deref(), Some("h2"));
        assert_eq!(lost.pid, Some(4343));
        assert_eq!(lost.status, ExitStatus::Signal(9));
    }

    #[test]
    fn open_mpi_exit_code() {
        let text = "mpirun detected that one or more processes exited with non-zero status, thus causing\nthe job to be terminated. The first process to do so was:\n\n  Process name: [[53215,1],2]\n  Exit code:    3\n";
        let lost = lost_rank(text, &workers()).unwrap();
        assert_eq!((lost.rank, lost.status), (Some(2), ExitStatus::Code(3)));
        assert_eq!(lost.host.as_deref(), Some("h2"));
    }

    #[test]
    fn hydra_bad_termination() {
        let text = "=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES\n=   PID 4242 RUNNING AT vm\n=   EXIT CODE: 9\n";
        let lost = lost_rank(text, &workers()).unwrap();
        assert_eq!((lost.rank, lost.status), (Some(1), ExitStatus::Signal(9)));
    }

    #[test]
    fn an_abort_names_its_rank() {
        let text = "multiproc-mpi: fatal error on rank 2 (MPI thread): boom; aborting the job\n\
                    --------\nMPI_ABORT was invoked on rank 2 in communicator MPI_COMM_WORLD\n\
                    with errorcode 70.\n";
        let lost = lost_rank(text, &workers()).unwrap();
        assert_eq!((lost.rank, lost.status), (Some(2), ExitStatus::Code(70)));
        assert_eq!((lost.host.as_deref(), lost.pid), (Some("h2"), Some(4343)));
    }

    #[test]
    fn slurm_names_the_task_its_node_and_the_signal() {
        let text = "srun: error: node7: task 2: Killed\n\
                    srun: Job step aborted: Waiting up to 32 seconds for job step to finish.\n\
                    slurmstepd: error: *** STEP 4242.0 ON node1 CANCELLED AT 2026-01-01 ***\n\
                    srun: error: node1: tasks 0-1: Terminated\n";
        let lost = lost_rank(text, &[]).unwrap();
        assert_eq!(lost.rank, Some(2));
        assert_eq!(lost.host.as_deref(), Some("node7"));
        assert_eq!(lost.status, ExitStatus::Signal(9));
        let text = "srun: error: n3: tasks 1,3: Segmentation fault (core dumped)\n";
        let lost = lost_rank(text, &workers()).unwrap();
        assert_eq!((lost.rank, lost.status), (Some(1), ExitStatus::Signal(11)));
        assert_eq!((lost.host.as_deref(), lost.pid), (Some("h1"), Some(4242)), "the journal's");
        let text = "srun: error: n3: task 1: Exited with exit code 3\n";
        assert_eq!(lost_rank(text, &[]).unwrap().status, ExitStatus::Code(3));
        let text = "srun: error: n3: task 2: Out Of Memory\n";
        assert_eq!(lost_rank(text, &[]).unwrap().status, ExitStatus::Signal(9));
    }

    #[test]
    fn a_rank_that_aborted_is_named_from_its_own_words() {
        let text = "multiproc-mpi: fatal error on rank 1 (MPI thread): boom; aborting the job\n";
        assert_eq!(lost_rank(text, &workers()), None, "no launcher account");
        let lost = aborted_rank(text, &workers()).unwrap();
        assert_eq!((lost.rank, lost.status), (Some(1), ExitStatus::Code(ABORTED)));
        assert_eq!(lost.host.as_deref(), Some("h1"));
        assert_eq!(aborted_rank("hello\n", &workers()), None);
    }

    #[test]
    fn nothing_lost_in_ordinary_output() {
        assert_eq!(lost_rank("hello\nworld\n", &workers()), None);
    }
}
