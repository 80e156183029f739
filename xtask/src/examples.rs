//! `cargo xtask examples`: build every `examples/*.rs` once in release, then run each with a
//! timeout from the workspace root.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cmd::{self, Cmd, Error, Result};

/// How long one example may run before it is killed and counted as failed.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// What `cargo xtask examples` was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Run only these examples (all when empty).
    pub(crate) names: Vec<String>,
    /// Per-example time limit.
    pub(crate) timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { names: Vec::new(), timeout: DEFAULT_TIMEOUT }
    }
}

impl Options {
    /// Parses `[NAME...] [--timeout SECS]`.
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut rest = args.iter().cloned();
        while let Some(arg) = rest.next() {
            if let Some(secs) = crate::flag_value("--timeout", &arg, &mut rest)? {
                let secs: f64 = secs
                    .parse()
                    .ok()
                    .filter(|secs: &f64| secs.is_finite() && *secs > 0.0)
                    .ok_or_else(|| Error::new(format!("bad --timeout `{secs}`: want seconds")))?;
                options.timeout = Duration::from_secs_f64(secs);
            } else if arg.starts_with('-') {
                return Err(Error::new(format!("unknown option `{arg}` for `examples`")));
            } else {
                options.names.push(arg.trim_end_matches(".rs").to_owned());
            }
        }
        Ok(options)
    }
}

/// The examples on disk, sorted: `examples/<name>.rs` and `examples/<name>/main.rs`.
pub(crate) fn discover(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("examples");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(Error::new(format!("cannot read {}: {err}", dir.display()))),
    };
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|err| Error::new(format!("cannot read {}: {err}", dir.display())))?
            .path();
        let is_single_file = path.extension().is_some_and(|ext| ext == "rs") && path.is_file();
        let name = if is_single_file { path.file_stem() } else { path.file_name() };
        if (is_single_file || path.join("main.rs").is_file())
            && let Some(name) = name.and_then(|name| name.to_str())
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Builds the examples once, runs the chosen ones, and fails if any of them failed.
pub(crate) fn run(root: &Path, options: &Options) -> Result {
    let all = discover(root)?;
    let chosen = if options.names.is_empty() {
        all
    } else {
        if let Some(unknown) = options.names.iter().find(|name| !all.contains(name)) {
            return Err(Error::new(format!(
                "no example `{unknown}` in examples/ (there are: {})",
                if all.is_empty() { "none".to_owned() } else { all.join(", ") }
            )));
        }
        options.names.clone()
    };
    if chosen.is_empty() {
        println!("no examples in examples/: nothing to run");
        return Ok(());
    }
    // Examples named `mpi_*` need the `mpi` feature, hence an MPI installation; the
    // others' features need nothing more.
    let features = crate::cmd::root_features(root);
    let chosen: Vec<String> = if crate::cmd::mpi_available(root) {
        chosen
    } else {
        let (mpi, rest): (Vec<String>, Vec<String>) =
            chosen.into_iter().partition(|name| name.starts_with("mpi_"));
        if !mpi.is_empty() {
            println!("MPI is not installed: skipping {}", mpi.join(", "));
        }
        rest
    };
    Cmd::cargo(&["build", "--release", "--examples", "--features", features]).run(root)?;
    let bin_dir = cmd::target_dir(root).join("release").join("examples");
    let mut failed = Vec::new();
    for name in &chosen {
        if let Err(err) = run_one(root, &bin_dir.join(name), name, options.timeout) {
            println!("FAILED {name}: {err}");
            failed.push(name.as_str());
        }
    }
    if failed.is_empty() {
        println!("examples: all {} passed", chosen.len());
        Ok(())
    } else {
        Err(Error::new(format!(
            "{} of {} examples failed: {}",
            failed.len(),
            chosen.len(),
            failed.join(", ")
        )))
    }
}

/// Runs one example binary; prints `ok <name> (1.2 s)`, or its output on failure.
///
/// The output goes to a file rather than a pipe: a worker process the example left behind
/// would hold a pipe open and hang the reader, while a file is simply read once it exits.
fn run_one(root: &Path, binary: &Path, name: &str, timeout: Duration) -> Result {
    let log_path = log_path(name);
    let log = File::create(&log_path)
        .map_err(|err| Error::new(format!("cannot create {}: {err}", log_path.display())))?;
    let log_for_stderr = log
        .try_clone()
        .map_err(|err| Error::new(format!("cannot share {}: {err}", log_path.display())))?;
    println!("==> {}", binary.strip_prefix(root).unwrap_or(binary).display());
    let started = Instant::now();
    let mut child = Cmd::new(binary.to_string_lossy(), &[])
        .command(root)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr)
        .spawn()
        .map_err(|err| Error::new(format!("cannot start {}: {err}", binary.display())))?;
    let outcome = loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break Ok(()),
            Ok(Some(status)) => break Err(Error::new(cmd::describe(status))),
            Ok(None) if started.elapsed() >= timeout => {
                // The example may already have exited between the two calls: ignore errors.
                let _ = child.kill();
                let _ = child.wait();
                break Err(Error::new(format!(
                    "timed out after {:.0} s and was killed",
                    timeout.as_secs_f64()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => break Err(Error::new(format!("cannot wait for {name}: {err}"))),
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    match outcome {
        Ok(()) => {
            println!("ok {name} ({elapsed:.1} s)");
            Ok(())
        }
        Err(err) => {
            let newline = if output.is_empty() || output.ends_with('\n') { "" } else { "\n" };
            println!(
                "--- output of {name} ({elapsed:.1} s) ---\n{output}{newline}--- end of {name} ---"
            );
            Err(err)
        }
    }
}

/// A scratch file for one example's output, unique to this xtask process.
fn log_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("multiproc-xtask-{}-{name}.log", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_take_names_and_a_timeout() -> Result {
        let args: Vec<String> = ["tour.rs", "--timeout", "5", "pool"].map(String::from).into();
        let options = Options::parse(&args)?;
        assert_eq!(options.names, ["tour", "pool"]);
        assert_eq!(options.timeout, Duration::from_secs(5));
        assert!(Options::parse(&["--timeout=0".to_owned()]).is_err());
        assert!(Options::parse(&["--fast".to_owned()]).is_err());
        Ok(())
    }
}
