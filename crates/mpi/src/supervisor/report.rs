//! [`Report`]: how a supervised job ended, in the words the supervisor prints.

use std::time::Duration;

use multiproc_process::ExitStatus;

use crate::{InFlight, Panicked, WorkerRank};

/// How a lost rank ended, as its launcher reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostRank {
    /// Its rank (when the launcher named it, or its pid was in the journal).
    pub rank: Option<mpi::Rank>,
    /// Its host and pid, from the journal or the launcher.
    pub host: Option<String>,
    /// Its process id.
    pub pid: Option<u32>,
    /// Its exit code or signal.
    pub status: ExitStatus,
}

/// How a supervised job ended.
#[derive(Debug, Clone)]
pub struct Report {
    /// The launcher's own exit status (`None` if it was stopped by the watchdog).
    pub launcher: Option<ExitStatus>,
    /// The watchdog stopped the job.
    pub timed_out: bool,
    /// The rank whose death ended the job, when the launcher said.
    pub lost: Option<LostRank>,
    /// The worker ranks as rank 0 recorded them.
    pub workers: Vec<WorkerRank>,
    /// The task batches each rank held when the job ended.
    pub in_flight: Vec<(mpi::Rank, Vec<InFlight>)>,
    /// The worker ranks that never said hello at start-up (when the job got that far).
    pub silent: Vec<mpi::Rank>,
    /// Rank 0's first panic, with what each rank held at that moment.
    pub panicked: Option<Panicked>,
    /// Why a rank aborted the job, as it said it (`multiproc-mpi: fatal error on rank
    /// ...`).
    pub aborted: Option<String>,
    /// How long the job ran.
    pub elapsed: Duration,
}

impl Report {
    /// Whether the job succeeded: the launcher exited with 0 and nothing was lost.
    pub fn success(&self) -> bool {
        !self.timed_out && self.lost.is_none() && self.launcher == Some(ExitStatus::Code(0))
    }

    /// The exit code the supervisor should end with: 0 on success, the launcher's code
    /// when it failed, 124 after a timeout (like `timeout(1)`), else 1.
    pub fn exit_code(&self) -> i32 {
        match (self.success(), self.timed_out, self.launcher) {
            (true, _, _) => 0,
            (_, true, _) => 124,
            (_, _, Some(ExitStatus::Code(c))) if c != 0 => c,
            (_, _, Some(ExitStatus::Signal(s))) => 128 + s,
            _ => 1,
        }
    }
}

impl std::fmt::Display for Report {
    /// The report, one `multiproc-mpirun:` line per fact.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        if self.success() {
            return write!(f, "multiproc-mpirun: the job succeeded in {secs:.1} s");
        }
        if self.timed_out {
            writeln!(
                f,
                "multiproc-mpirun: the job ran past its timeout and was stopped after {secs:.1} s"
            )?;
        }
        if let Some(why) = &self.aborted {
            writeln!(f, "multiproc-mpirun: {why}")?;
        }
        if !self.silent.is_empty() {
            let ranks: Vec<String> = self.silent.iter().map(|r| r.to_string()).collect();
            writeln!(
                f,
                "multiproc-mpirun: worker rank(s) {} never said hello (stuck before or in \
                 MPI_Init, or not running this program)",
                ranks.join(", ")
            )?;
        }
        if let Some(lost) = &self.lost {
            let rank = lost.rank.map_or("a rank".to_string(), |r| format!("rank {r}"));
            let host = lost.host.as_deref().map(|h| format!(" on host {h}")).unwrap_or_default();
            let pid = lost.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            let how = match lost.status {
                ExitStatus::Code(c) => format!("exited with code {c}"),
                ExitStatus::Signal(_) => format!("was {}", lost.status.describe()),
            };
            writeln!(f, "multiproc-mpirun: {rank}{host}{pid} {how}; MPI ended the whole job")?;
        }
        match &self.panicked {
            Some(p) => {
                writeln!(f, "multiproc-mpirun: rank 0 panicked {}", p.message)?;
                held(f, &p.in_flight, "when rank 0 panicked")?;
            }
            None => held(f, &self.in_flight, "when the job ended")?,
        }
        match self.launcher {
            Some(status) => write!(
                f,
                "multiproc-mpirun: the launcher exited with status {status} after {secs:.1} s"
            ),
            None => write!(f, "multiproc-mpirun: the launcher was stopped"),
        }
    }
}

/// One line per rank that held tasks: which items of which jobs, lost.
fn held(
    f: &mut std::fmt::Formatter<'_>,
    in_flight: &[(mpi::Rank, Vec<InFlight>)],
    when: &str,
) -> std::fmt::Result {
    if in_flight.is_empty() {
        return writeln!(f, "multiproc-mpirun: no task was in flight {when}");
    }
    for (rank, batches) in in_flight {
        let tasks: usize = batches.iter().map(|b| b.items).sum();
        let items: Vec<String> = batches
            .iter()
            .flat_map(|b| match b.ranges.is_empty() {
                true => vec![format!("batch {}", b.batch)],
                false => b.ranges.iter().map(ToString::to_string).collect(),
            })
            .collect();
        writeln!(
            f,
            "multiproc-mpirun: rank {rank} held {tasks} task(s) {when} ({}); their results \
             are lost",
            items.join(", ")
        )?;
    }
    Ok(())
}
