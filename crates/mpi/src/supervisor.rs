//! The supervisor: runs `mpirun` (or another launcher) as a child, adds the flags this
//! machine needs, applies a watchdog timeout, and turns a lost rank into a clear report
//! instead of a silent hang or a wall of launcher text. The `multiproc-mpirun` binary is
//! a thin command line over [`Supervisor`].
//!
//! Why it exists: when one rank of an MPI job dies, the MPI runtime kills every rank,
//! rank 0 included, so the program itself never gets to say what was lost. The
//! supervisor reads the launcher's own account of the death and the journal rank 0 keeps
//! of the task batches it sent.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiproc_process::{ExitStatus, cpu_count};

use crate::journal::{JOURNAL_ENV, Replay, create as create_journal, replay};
use crate::launch::{Launch, detect};
use crate::{InFlight, WorkerRank};

/// Runs a program as an MPI job under a watchdog. See the [module docs](self).
///
/// ```
/// use std::time::Duration;
/// use multiproc_mpi::supervisor::Supervisor;
///
/// let s = Supervisor::new(3).timeout(Duration::from_secs(60)).launcher("mpirun");
/// let cmd = s.command("target/release/app".as_ref(), &[]);
/// let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
/// assert!(args.windows(2).any(|w| w == ["-n", "3"]));
/// assert_eq!(args.last().map(String::as_str), Some("target/release/app"));
/// ```
#[derive(Debug, Clone)]
pub struct Supervisor {
    ranks: usize,
    timeout: Option<Duration>,
    launcher: OsString,
    launcher_args: Vec<OsString>,
}

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
        if self.in_flight.is_empty() {
            writeln!(f, "multiproc-mpirun: no task batch was in flight")?;
        }
        for (rank, batches) in &self.in_flight {
            let tasks: usize = batches.iter().map(|b| b.items).sum();
            let ids: Vec<String> = batches.iter().map(|b| b.batch.to_string()).collect();
            writeln!(
                f,
                "multiproc-mpirun: rank {rank} held {tasks} task(s) in {} batch(es) (batch {}); \
                 their results are lost",
                batches.len(),
                ids.join(", ")
            )?;
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

/// The supervisor could not run the launcher at all.
#[derive(Debug)]
pub struct LaunchError {
    launcher: OsString,
    error: std::io::Error,
}

impl std::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot run `{}`: {} (install Open MPI: apt-get install openmpi-bin libopenmpi-dev)",
            self.launcher.to_string_lossy(),
            self.error
        )
    }
}

impl std::error::Error for LaunchError {}

/// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`) or by
/// Slurm's `srun`: if not, run it as a job ([`Supervisor::relaunch`]). Under `srun`
/// without PMI it is true too, and [`init`](crate::init) refuses with
/// [`MpiError::NoPmi`](crate::MpiError::NoPmi), which names the fix: relaunching each
/// task would start one job per task.
///
/// ```
/// // `cargo test` is not an MPI launcher.
/// assert!(!multiproc_mpi::supervisor::launched());
/// ```
pub fn launched() -> bool {
    detect(|v| std::env::var(v).ok()) != Launch::ByHand
}

/// How long the launcher gets between SIGTERM and SIGKILL after a timeout.
const GRACE: Duration = Duration::from_secs(3);

impl Supervisor {
    /// A job of `ranks` ranks (workers + rank 0), launched by `$MULTIPROC_MPIRUN` or else
    /// `mpirun`, without a timeout.
    pub fn new(ranks: usize) -> Supervisor {
        let launcher = std::env::var_os("MULTIPROC_MPIRUN").unwrap_or_else(|| "mpirun".into());
        Supervisor { ranks, timeout: None, launcher, launcher_args: Vec::new() }
    }

    /// Stops the job (SIGTERM, then SIGKILL) when it runs longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Supervisor {
        self.timeout = Some(timeout);
        self
    }

    /// The launcher to run (`mpirun`, `mpiexec`, `mpirun.mpich`, `srun`).
    pub fn launcher(mut self, launcher: impl Into<OsString>) -> Supervisor {
        self.launcher = launcher.into();
        self
    }

    /// An extra argument for the launcher (before the program).
    pub fn launcher_arg(mut self, arg: impl Into<OsString>) -> Supervisor {
        self.launcher_args.push(arg.into());
        self
    }

    /// The command that runs `program args...` as the job: the launcher, `-n <ranks>`,
    /// Open MPI's `--allow-run-as-root` when running as root and `--oversubscribe` when
    /// there are more ranks than CPUs, then the extra launcher arguments.
    pub fn command(&self, program: &OsStr, args: &[OsString]) -> Command {
        let mut cmd = Command::new(&self.launcher);
        cmd.arg("-n").arg(self.ranks.to_string());
        if self.is_open_mpi() {
            if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
                cmd.arg("--allow-run-as-root");
            }
            if self.ranks > cpu_count() {
                cmd.arg("--oversubscribe");
            }
        }
        cmd.args(&self.launcher_args).arg(program).args(args);
        cmd
    }

    fn is_open_mpi(&self) -> bool {
        let name = std::path::Path::new(&self.launcher).file_name().unwrap_or_default();
        if name == "srun" || name.to_string_lossy().contains("mpich") {
            return false;
        }
        Command::new(&self.launcher)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("Open MPI"))
    }

    /// Runs `program args...` as the job and waits for it. The launcher's standard
    /// output passes through; its standard error passes through and is read for the
    /// death of a rank.
    pub fn run(&self, program: &OsStr, args: &[OsString]) -> Result<Report, LaunchError> {
        let journal = journal_path();
        // Made here, private and new: rank 0 appends to it, or makes its own on another host.
        drop(create_journal(&journal));
        let mut cmd = self.command(program, args);
        cmd.env(JOURNAL_ENV, &journal).stdin(Stdio::null()).stderr(Stdio::piped());
        // Its own process group: a timeout stops the launcher and its local ranks.
        cmd.process_group(0);
        let started = Instant::now();
        let mut child =
            cmd.spawn().map_err(|error| LaunchError { launcher: self.launcher.clone(), error })?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (read_all, stderr_done) = std::sync::mpsc::channel::<()>();
        if let Some(pipe) = child.stderr.take() {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = writeln!(std::io::stderr(), "{line}");
                    lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
                drop(read_all);
            });
        }
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) => {}
                Err(_) => break None,
            }
            if !timed_out && self.timeout.is_some_and(|t| started.elapsed() > t) {
                timed_out = true;
                signal_group(child.id(), "TERM");
                let deadline = Instant::now() + GRACE;
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                signal_group(child.id(), "KILL");
                break child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The launcher's last words, but not forever: a process it started elsewhere (a
        // stuck remote shell) may hold the pipe open after the launcher is gone.
        let _ = stderr_done.recv_timeout(GRACE);
        let Replay { workers, in_flight } = replay(&journal).unwrap_or_default();
        let _ = std::fs::remove_file(&journal);
        let text = lines.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
        let launcher = status.map(|s| match s.signal() {
            Some(sig) => ExitStatus::Signal(sig),
            None => ExitStatus::Code(s.code().unwrap_or(1)),
        });
        let lost = lost_rank(&text, &workers);
        Ok(Report {
            launcher: if timed_out { None } else { launcher },
            timed_out,
            lost,
            workers,
            in_flight: in_flight.into_iter().collect(),
            elapsed: started.elapsed(),
        })
    }
}

impl Supervisor {
    /// Runs this very program, with its own arguments, as the job, prints the report
    /// when the job failed, and returns the exit code to end with. For a `main` started
    /// by hand (not by a launcher): see [`launched`].
    pub fn relaunch(&self) -> std::process::ExitCode {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let program = std::env::current_exe().map_or_else(
            |_| std::env::args_os().next().unwrap_or_default(),
            PathBuf::into_os_string,
        );
        self.exit_code(self.run(&program, &args))
    }

    /// Prints the report of a failed job (or why it could not start) and returns the
    /// exit code to end with.
    pub fn exit_code(&self, run: Result<Report, LaunchError>) -> std::process::ExitCode {
        let code = match run {
            Ok(report) => {
                if !report.success() {
                    eprintln!("{report}");
                }
                report.exit_code()
            }
            Err(e) => {
                eprintln!("multiproc-mpirun: {e}");
                127
            }
        };
        std::process::ExitCode::from(code.clamp(0, 255) as u8)
    }
}

/// A fresh journal file name for one job.
fn journal_path() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("multiproc-mpi-{}-{nanos}.journal", std::process::id()))
}

/// Sends a signal to the process group `pgid` with `kill(1)` (no `unsafe` here).
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stderr(Stdio::null())
        .status();
}

/// Finds the launcher's account of a dead rank in its standard error.
///
/// Open MPI: "process rank 1 with PID 4242 on node vm exited on signal 9 (Killed)", or
/// "...exited with non-zero status... Process name: [[53215,1],1] / Exit code: 3".
/// MPICH/Hydra: "PID 4242 RUNNING AT vm / EXIT CODE: 9".
pub(crate) fn lost_rank(text: &str, workers: &[WorkerRank]) -> Option<LostRank> {
    let by_rank = |rank: mpi::Rank| workers.iter().find(|w| w.rank == rank);
    let after = |key: &str| text.find(key).map(|i| &text[i + key.len()..]);
    let number = |s: &str| -> Option<i64> {
        let digits: String =
            s.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
        digits.parse().ok()
    };
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
        let known = by_rank(rank);
        return Some(LostRank {
            rank: Some(rank),
            host: known.map(|w| w.host.clone()),
            pid: known.map(|w| w.pid),
            status: ExitStatus::Code(code as i32),
        });
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
    fn nothing_lost_in_ordinary_output() {
        assert_eq!(lost_rank("hello\nworld\n", &workers()), None);
    }
}
