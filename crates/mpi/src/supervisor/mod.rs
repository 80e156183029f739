//! The supervisor: runs `mpirun` (or another launcher) as a child, adds the flags this
//! machine needs, applies a watchdog timeout, and turns a lost rank into a clear report
//! instead of a silent hang or a wall of launcher text. The `multiproc-mpirun` binary is
//! a thin command line over [`Supervisor`].
//!
//! Why it exists: when one rank of an MPI job dies, the MPI runtime kills every rank,
//! rank 0 included, so the program itself never gets to say what was lost. The
//! supervisor reads the launcher's own account of the death (Open MPI's `mpirun`,
//! Slurm's `srun`, MPICH's Hydra, or the rank's own last words when it aborted the job)
//! and the journal rank 0 keeps of the job items it sent each rank.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiproc_process::{ExitStatus, cpu_count};

mod death;
mod report;

use crate::journal::{JOURNAL_ENV, Replay, create as create_journal, replay};
use crate::launch::{Launch, detect};
use death::{aborted_rank, lost_rank};
pub use report::{LostRank, Report};

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
///
/// // Under Slurm: srun, with PMIx so that the tasks form one job, on these nodes.
/// let s = Supervisor::new(3).launcher("srun").hosts("node[1-2]");
/// let cmd = s.command("app".as_ref(), &[]);
/// let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
/// assert_eq!(args, ["-n", "3", "--mpi=pmix", "--nodelist=node[1-2]", "app"]);
/// ```
#[derive(Debug, Clone)]
pub struct Supervisor {
    ranks: usize,
    timeout: Option<Duration>,
    launcher: OsString,
    launcher_args: Vec<OsString>,
    hostfile: Option<OsString>,
    hosts: Option<String>,
}

/// Which launcher's command line to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    OpenMpi,
    Slurm,
    Hydra,
    /// Another launcher: `-n`, the pass-throughs in Open MPI's words, and nothing else.
    Other,
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
        Supervisor {
            ranks,
            timeout: None,
            launcher,
            launcher_args: Vec::new(),
            hostfile: None,
            hosts: None,
        }
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

    /// Runs the ranks on the hosts listed in this file (Open MPI's `--hostfile`, Slurm's
    /// `--nodefile`, Hydra's `-f`).
    pub fn hostfile(mut self, path: impl Into<OsString>) -> Supervisor {
        self.hostfile = Some(path.into());
        self
    }

    /// Runs the ranks on these hosts, comma-separated (Open MPI's `--host`, e.g.
    /// `a:2,b:1`; Slurm's `--nodelist`, e.g. `node[1-2]`; Hydra's `-hosts`).
    pub fn hosts(mut self, hosts: impl Into<String>) -> Supervisor {
        self.hosts = Some(hosts.into());
        self
    }

    /// The command that runs `program args...` as the job: the launcher, `-n <ranks>`,
    /// for Open MPI `--allow-run-as-root` when running as root and `--oversubscribe`
    /// when there are more ranks than CPUs, for Slurm's `srun` `--mpi=pmix` (unless an
    /// `--mpi` argument is given), the hosts, then the extra launcher arguments.
    pub fn command(&self, program: &OsStr, args: &[OsString]) -> Command {
        let mut cmd = Command::new(&self.launcher);
        cmd.arg("-n").arg(self.ranks.to_string());
        let flavor = self.flavor();
        match flavor {
            Flavor::OpenMpi => {
                if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
                    cmd.arg("--allow-run-as-root");
                }
                if self.ranks > cpu_count() {
                    cmd.arg("--oversubscribe");
                }
            }
            Flavor::Slurm => {
                if !self.launcher_args.iter().any(|a| a.to_string_lossy().starts_with("--mpi")) {
                    cmd.arg("--mpi=pmix");
                }
            }
            Flavor::Hydra | Flavor::Other => {}
        }
        if let Some(file) = &self.hostfile {
            match flavor {
                Flavor::Slurm => cmd.arg(concat_os("--nodefile=", file)),
                Flavor::Hydra => cmd.arg("-f").arg(file),
                Flavor::OpenMpi | Flavor::Other => cmd.arg("--hostfile").arg(file),
            };
        }
        if let Some(hosts) = &self.hosts {
            match flavor {
                Flavor::Slurm => cmd.arg(format!("--nodelist={hosts}")),
                Flavor::Hydra => cmd.arg("-hosts").arg(hosts),
                Flavor::OpenMpi | Flavor::Other => cmd.arg("--host").arg(hosts),
            };
        }
        cmd.args(&self.launcher_args).arg(program).args(args);
        cmd
    }

    fn flavor(&self) -> Flavor {
        let name = std::path::Path::new(&self.launcher).file_name().unwrap_or_default();
        let name = name.to_string_lossy();
        if name == "srun" {
            return Flavor::Slurm;
        }
        if name.contains("mpich") || name.contains("hydra") {
            return Flavor::Hydra;
        }
        let open_mpi = Command::new(&self.launcher)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("Open MPI"));
        if open_mpi { Flavor::OpenMpi } else { Flavor::Other }
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
        let Replay { workers, in_flight, silent, panicked } = replay(&journal).unwrap_or_default();
        let _ = std::fs::remove_file(&journal);
        let text = lines.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
        let launcher = status.map(|s| match s.signal() {
            Some(sig) => ExitStatus::Signal(sig),
            None => ExitStatus::Code(s.code().unwrap_or(1)),
        });
        let aborted = text.lines().find_map(|l| {
            let at = l.find(FATAL)?;
            Some(l[at + "multiproc-mpi: ".len()..].to_string())
        });
        let lost = lost_rank(&text, &workers).or_else(|| aborted_rank(&text, &workers));
        #[cfg(feature = "tracing")]
        if let Some(lost) = &lost {
            tracing::error!(
                rank = lost.rank,
                host = lost.host.as_deref(),
                pid = lost.pid,
                status = %lost.status,
                "MPI rank lost: MPI ended the whole job"
            );
        }
        Ok(Report {
            launcher: if timed_out { None } else { launcher },
            timed_out,
            lost,
            workers,
            in_flight: in_flight.into_iter().collect(),
            silent,
            panicked,
            aborted,
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

/// How a rank that aborts the job says why (see `start::abort_job`).
pub(crate) const FATAL: &str = "multiproc-mpi: fatal error on rank ";

/// `flag` followed by `value`, as one argument.
fn concat_os(flag: &str, value: &OsStr) -> OsString {
    let mut arg = OsString::from(flag);
    arg.push(value);
    arg
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
