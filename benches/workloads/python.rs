//! The CPython twin: finds the newest `python3*` (on `PATH` or under pyenv) and drives
//! `benches/python/workloads.py serve`, one case repetition per request.
//!
//! The protocol is lines on the script's stdin and stdout: it starts with
//! `ready<TAB>version<TAB>default start method`; each request `KEY<TAB>QUICK` (`0`/`1`)
//! gets `ok<TAB>v1<TAB>v2...` (numbers, or text for qualitative figures) or
//! `err<TAB>message`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cases::Value;

/// The twin script, next to this bench.
pub(crate) const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/python/workloads.py");

/// A running `workloads.py serve`.
#[derive(Debug)]
pub(crate) struct Python {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The interpreter's path.
    pub(crate) path: PathBuf,
    /// `3.11.7`.
    pub(crate) version: String,
    /// `multiprocessing.get_start_method()`: what `Pool()` uses by default.
    pub(crate) start_method: String,
}

impl Python {
    /// Starts the twin with the newest `python3*` found; `Err` says why there is none.
    pub(crate) fn start() -> Result<Python, String> {
        let path = newest_python().ok_or("no python3 on PATH or under pyenv")?;
        let mut child = Command::new(&path)
            .args(["-u", SCRIPT, "serve"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut python = Python {
            child,
            stdin: Some(stdin),
            stdout,
            path,
            version: String::new(),
            start_method: String::new(),
        };
        let ready = python.read_line()?;
        match ready.split('\t').collect::<Vec<_>>().as_slice() {
            ["ready", version, method] => {
                python.version = (*version).to_owned();
                python.start_method = (*method).to_owned();
                Ok(python)
            }
            _ => Err(format!("{SCRIPT} did not start: {ready:?}")),
        }
    }

    /// Asks for one repetition of `key`; read the answer with [`receive`](Self::receive).
    pub(crate) fn send(&mut self, key: &str, quick: bool) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("CPython twin closed")?;
        writeln!(stdin, "{key}\t{}", u8::from(quick))
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("CPython twin gone: {e}"))
    }

    /// The answer to the last [`send`](Self::send).
    pub(crate) fn receive(&mut self) -> Result<Vec<Value>, String> {
        let line = self.read_line()?;
        let mut fields = line.split('\t');
        match fields.next() {
            Some("ok") => Ok(fields
                .map(|f| f.parse().map(Value::Num).unwrap_or_else(|_| Value::Text(f.to_owned())))
                .collect()),
            Some("err") => Err(fields.collect::<Vec<_>>().join(" ")),
            _ => Err(format!("unexpected answer {line:?}")),
        }
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("CPython twin exited".to_owned()),
            Ok(_) => Ok(line.trim_end_matches(['\n', '\r']).to_owned()),
            Err(e) => Err(format!("reading from the CPython twin: {e}")),
        }
    }
}

impl Drop for Python {
    /// Closes the twin's stdin, so that it exits (shutting down its forkserver and
    /// resource tracker), and reaps it; kills it if it has not exited within 5 s.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `python3` or `python3.N` with the highest version, on `PATH` or installed by
/// pyenv (whose shims on `PATH` run only the versions it was told to select, so a newer
/// interpreter can be on the machine and not on `PATH`).
fn newest_python() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")));
    if let Some(Ok(versions)) = pyenv.map(|root| std::fs::read_dir(root.join("versions"))) {
        dirs.extend(versions.flatten().map(|v| v.path().join("bin")));
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let minor = name.strip_prefix("python3.").unwrap_or("0");
            if (name == "python3" || (name.starts_with("python3.") && minor.parse::<u32>().is_ok()))
                && !candidates.contains(&dir.join(&name))
            {
                candidates.push(dir.join(&name));
            }
        }
    }
    candidates
        .into_iter()
        .filter_map(|path| version_of(&path).map(|v| (v, path)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, path)| path)
}

/// `(3, 11, 7)` from `python --version`.
fn version_of(path: &Path) -> Option<(u32, u32, u32)> {
    let out = Command::new(path).arg("--version").stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text
        .trim()
        .strip_prefix("Python ")?
        .split('.')
        .map(|p| p.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().unwrap_or(0));
    Some((parts.next()?, parts.next().unwrap_or(0), parts.next().unwrap_or(0)))
}
