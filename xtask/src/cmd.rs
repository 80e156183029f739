//! Running commands: the workspace root, echoing each command before it runs, the error type.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// A failure of an xtask command, as a message for the terminal.
#[derive(Debug)]
pub(crate) struct Error(String);

impl Error {
    /// An error with this message (lowercase, no final period).
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The result of an xtask step.
pub(crate) type Result<T = ()> = std::result::Result<T, Error>;

/// The workspace root: the parent of the xtask crate's manifest directory.
///
/// Prefers `CARGO_MANIFEST_DIR` from the environment (set by `cargo run` and `cargo test`)
/// over the path baked in at compile time, so that a moved checkout still finds itself.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.parent().map(Path::to_path_buf).unwrap_or(manifest_dir)
}

/// Cargo's target directory as the nested cargo commands see it: `CARGO_TARGET_DIR` when set
/// (relative to the workspace root, where every command runs), else `<root>/target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// A command to run from the workspace root, shown as a shell line before it runs.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    /// The program as shown (`cargo`) and run.
    program: String,
    /// Its arguments.
    args: Vec<String>,
    /// Environment variables set for this command only.
    envs: Vec<(String, String)>,
}

impl Cmd {
    /// `program args...`.
    pub(crate) fn new(program: impl Into<String>, args: &[&str]) -> Self {
        Self {
            program: program.into(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            envs: Vec::new(),
        }
    }

    /// `cargo args...`, run with the cargo that runs the xtask (`$CARGO`) when known.
    pub(crate) fn cargo(args: &[&str]) -> Self {
        Self::new("cargo", args)
    }

    /// Adds arguments.
    pub(crate) fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for this command.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The command as a shell line: `KEY='v a l' cargo doc --workspace`.
    pub(crate) fn display(&self) -> String {
        let envs = self.envs.iter().map(|(key, value)| format!("{key}={}", quote(value)));
        let words = std::iter::once(quote(&self.program)).chain(self.args.iter().map(|a| quote(a)));
        envs.chain(words).collect::<Vec<_>>().join(" ")
    }

    /// A `std::process::Command` for this command, in the workspace root.
    ///
    /// Cargo's `run` describes the xtask package to its child (`CARGO_MANIFEST_DIR`,
    /// `CARGO_PKG_NAME`, ...); those variables are removed so that neither nested cargo
    /// commands nor the examples mistake themselves for the xtask.
    pub(crate) fn command(&self, root: &Path) -> Command {
        let program = match self.program.as_str() {
            "cargo" => std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()),
            other => other.to_owned(),
        };
        let mut command = Command::new(program);
        command.args(&self.args).current_dir(root);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if is_xtask_package_var(&key) {
                command.env_remove(&*key);
            }
        }
        command.envs(self.envs.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Echoes the command (`==> cargo ...`) and runs it with the terminal's output;
    /// a non-zero exit is an error.
    pub(crate) fn run(&self, root: &Path) -> Result {
        println!("==> {}", self.display());
        let status = self
            .command(root)
            .status()
            .map_err(|err| Error::new(format!("could not start `{}`: {err}", self.display())))?;
        check_status(&self.display(), status)
    }

    /// Runs the command silently and tells whether it exited with 0 (a probe).
    pub(crate) fn succeeds_quietly(&self, root: &Path) -> bool {
        self.command(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

/// Whether `key` is one of the variables `cargo run` sets to describe the running package.
fn is_xtask_package_var(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || matches!(
            key,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        )
}

/// An error unless `status` is success, naming the command and how it ended.
pub(crate) fn check_status(what: &str, status: ExitStatus) -> Result {
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(format!("`{what}` failed: {}", describe(status))))
    }
}

/// How a process ended: `exit code 3` or `killed by signal 9`.
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// Quotes a word for display in a POSIX shell, only when it needs it.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// Whether MPI is installed (a launcher and a compiler wrapper), which the `multiproc-mpi`
/// crate needs to build and its tests need to run.
pub(crate) fn mpi_available(root: &Path) -> bool {
    Cmd::new("mpirun", &["--version"]).succeeds_quietly(root)
        && Cmd::new("mpicc", &["--version"]).succeeds_quietly(root)
}

/// The cargo arguments that select every package with every feature (`progress`,
/// `tracing`): with MPI installed, the MPI crate and the facade's `mpi` feature too;
/// without it, everything else (and a note saying so).
pub(crate) fn workspace_args(root: &Path) -> &'static [&'static str] {
    if mpi_available(root) {
        &["--workspace", "--features", "multiproc/mpi,multiproc/progress,multiproc/tracing"]
    } else {
        println!(
            "MPI is not installed: leaving out multiproc-mpi \
             (apt-get install openmpi-bin libopenmpi-dev libclang-dev to include it)"
        );
        &[
            "--workspace",
            "--exclude",
            "multiproc-mpi",
            "--features",
            "multiproc/progress,multiproc/tracing",
        ]
    }
}

/// The root package's features for a build of examples or benches: `mpi` where MPI is
/// installed, and the features that need nothing but crates.
pub(crate) fn root_features(root: &Path) -> &'static str {
    if mpi_available(root) { "mpi,progress,tracing" } else { "progress,tracing" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_display_as_shell_lines() {
        let doc = Cmd::cargo(&["doc", "--workspace"]).env("RUSTDOCFLAGS", "-D warnings");
        assert_eq!(doc.display(), "RUSTDOCFLAGS='-D warnings' cargo doc --workspace");
        assert_eq!(
            Cmd::cargo(&["fmt", "--all", "--", "--check"]).display(),
            "cargo fmt --all -- --check"
        );
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn the_root_holds_the_workspace_manifest() {
        let root = workspace_root();
        assert!(root.join("Cargo.toml").is_file());
        assert!(root.join("xtask").is_dir());
    }
}
