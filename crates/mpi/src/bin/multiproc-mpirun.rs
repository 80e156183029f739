//! `multiproc-mpirun`: runs a program as an MPI job under a watchdog and reports a lost
//! rank clearly (see `multiproc_mpi::supervisor`).
//!
//! ```text
//! multiproc-mpirun [-n RANKS] [--timeout SECS] [--launcher mpirun|srun|...]
//!                  [--hostfile FILE] [--host HOSTS] [--launcher-arg ARG]... -- PROGRAM [ARGS]...
//! ```

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use multiproc_mpi::supervisor::Supervisor;

const USAGE: &str = "usage: multiproc-mpirun [-n RANKS] [--timeout SECS] [--launcher PROGRAM] \
                     [--hostfile FILE] [--host HOSTS] [--launcher-arg ARG]... -- PROGRAM [ARGS]...\n\
                     RANKS counts rank 0 (the scheduler) and the workers; default 3\n\
                     --launcher srun adds --mpi=pmix; --hostfile/--host become the launcher's own \
                     host options";

fn main() -> ExitCode {
    match parse(std::env::args_os().skip(1).collect()) {
        Ok((supervisor, program, args)) => supervisor.exit_code(supervisor.run(&program, &args)),
        Err(why) => {
            eprintln!("multiproc-mpirun: {why}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Parses the command line into a supervisor, the program and its arguments.
fn parse(args: Vec<OsString>) -> Result<(Supervisor, OsString, Vec<OsString>), String> {
    let mut ranks = 3;
    let mut timeout = None;
    let mut launcher = None;
    let mut launcher_args = Vec::new();
    let mut hostfile = None;
    let mut hosts = None;
    let mut it = args.into_iter();
    let value = |it: &mut std::vec::IntoIter<OsString>, flag: &str| {
        it.next().ok_or(format!("{flag} needs a value"))
    };
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--") => break,
            Some("-n" | "-np") => {
                let v = value(&mut it, "-n")?;
                ranks = v.to_str().and_then(|s| s.parse().ok()).filter(|n| *n >= 2).ok_or(
                    format!("-n takes a number of ranks >= 2, got {}", v.to_string_lossy()),
                )?;
            }
            Some("--timeout") => {
                let v = value(&mut it, "--timeout")?;
                let secs: f64 = v
                    .to_str()
                    .and_then(|s| s.parse().ok())
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or("--timeout takes a positive number of seconds")?;
                timeout = Some(Duration::from_secs_f64(secs));
            }
            Some("--launcher") => launcher = Some(value(&mut it, "--launcher")?),
            Some("--launcher-arg") => launcher_args.push(value(&mut it, "--launcher-arg")?),
            Some("--hostfile") => hostfile = Some(value(&mut it, "--hostfile")?),
            Some("--host") => {
                let v = value(&mut it, "--host")?;
                hosts = Some(v.into_string().map_err(|_| "--host takes text")?);
            }
            Some("-h" | "--help") => return Err("help".into()),
            _ => return Err(format!("unexpected argument `{}`", arg.to_string_lossy())),
        }
    }
    let program = it.next().ok_or("no program given after `--`")?;
    let mut supervisor = Supervisor::new(ranks);
    if let Some(t) = timeout {
        supervisor = supervisor.timeout(t);
    }
    if let Some(l) = launcher {
        supervisor = supervisor.launcher(l);
    }
    if let Some(f) = hostfile {
        supervisor = supervisor.hostfile(f);
    }
    if let Some(h) = hosts {
        supervisor = supervisor.hosts(h);
    }
    for a in launcher_args {
        supervisor = supervisor.launcher_arg(a);
    }
    Ok((supervisor, program, it.collect()))
}
