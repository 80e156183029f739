//! What several integration tests share: a hang guard, small task functions, and a gate
//! that holds a task in its worker until the test opens it.
#![allow(dead_code)] // each test file uses part of this module

pub mod fault_mix;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Generous bound for anything that should happen "soon": only a hang guard.
pub const GUARD: Duration = Duration::from_secs(30);

pub fn square(x: u64) -> u64 {
    x * x
}

pub fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Creates `<dir>/started`, then waits for `<dir>/go` (or for the directory to vanish);
/// returns 7.
pub fn gated(dir: String) -> u64 {
    let dir = Path::new(&dir);
    std::fs::write(dir.join("started"), b"").expect("gate directory exists");
    let t = Instant::now();
    while dir.exists() && !dir.join("go").exists() {
        assert!(t.elapsed() < Duration::from_secs(60), "the gate was never opened");
        std::thread::sleep(Duration::from_millis(2));
    }
    7
}

/// A directory shared by the test and a [`gated`] task.
pub struct Gate {
    dir: PathBuf,
}

impl Gate {
    pub fn new(name: &str) -> Gate {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "multiproc-{}-{}-{name}-{n}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Gate { dir }
    }

    pub fn arg(&self) -> String {
        self.dir.to_str().unwrap().to_owned()
    }

    pub fn wait_started(&self) {
        wait_until("the gated task started", || self.dir.join("started").exists());
    }

    pub fn open(&self) {
        std::fs::write(self.dir.join("go"), b"").unwrap();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("go"), b"");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `cond` until it holds; panics after [`GUARD`] (a hang guard, not a delay).
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < GUARD, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Descriptors open in this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Children of this process that are zombies.
pub fn zombies() -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let after = &stat[stat.rfind(')').unwrap_or(0) + 2..];
            let mut f = after.split_whitespace();
            let state = f.next();
            let ppid: Option<u32> = f.next().and_then(|p| p.parse().ok());
            state == Some("Z") && ppid == Some(me)
        })
        .collect()
}

/// The tests of a file that takes this run one at a time: a panic in this process (a
/// failing assertion, a panicking callback) while another test forks a worker can leave
/// that worker stuck (see `pool_fork_while_panicking.rs`).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A pool of two workers started with `method`.
pub fn pool(method: multiproc::StartMethod) -> multiproc::Pool {
    multiproc::Pool::builder().processes(2).start_method(method).build().unwrap()
}

/// Waits until the file `gate` exists, then returns its name's length.
pub fn wait_for_gate(gate: String) -> usize {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !Path::new(&gate).exists() {
        assert!(Instant::now() < give_up, "the gate {gate} never opened");
        std::thread::sleep(Duration::from_millis(2));
    }
    gate.len()
}

/// A fresh path for a gate file (not created yet) that [`wait_for_gate`] waits for.
pub fn gate(name: &str, method: multiproc::StartMethod) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "multiproc-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{method}"));
    let _ = std::fs::remove_file(&path);
    path
}

/// Whether `pid` exists and is not a zombie.
pub fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat[stat.rfind(')').unwrap_or(0)..].starts_with(") Z"),
        Err(_) => false,
    }
}

/// Reads the pids a probe process prints (`child <pid>` lines, then `ready`), SIGKILLs
/// the probe, and checks that all three of its children are gone within a second.
pub fn kill_the_parent_and_count_survivors(mut middle: std::process::Child, what: &str) {
    use std::io::BufRead;
    let mut pids = Vec::new();
    for line in std::io::BufReader::new(middle.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest may print "test orphan_probe_entry ... " before the first line.
        if let Some((_, pid)) = line.split_once("child ") {
            pids.push(pid.trim().parse::<u32>().unwrap());
        }
        if line.ends_with("ready") {
            break;
        }
    }
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&p| running(p)));
    middle.kill().unwrap();
    middle.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while pids.iter().any(|&p| running(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let survivors: Vec<u32> = pids.iter().copied().filter(|&p| running(p)).collect();
    assert!(
        survivors.is_empty(),
        "{what}: children alive 1 s after their parent was killed: {survivors:?}"
    );
}

/// A file that tasks append their indices to, to count how often each ran.
pub struct RunLog {
    path: PathBuf,
}

impl RunLog {
    pub fn new(name: &str) -> RunLog {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "multiproc-{}-{}-{name}-{n}.log",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        std::fs::write(&path, b"").unwrap();
        RunLog { path }
    }

    pub fn arg(&self) -> String {
        self.path.to_str().unwrap().to_owned()
    }

    /// How many times each index was logged.
    pub fn runs(&self) -> std::collections::HashMap<u64, u32> {
        let mut runs = std::collections::HashMap::new();
        for line in std::fs::read_to_string(&self.path).unwrap().lines() {
            *runs.entry(line.parse().unwrap()).or_default() += 1;
        }
        runs
    }
}

impl Drop for RunLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// In a task: appends `i` to the log at `log` (one write, atomic for a line this short).
pub fn log_run(log: &str, i: u64) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(log).expect("the log exists");
    f.write_all(format!("{i}\n").as_bytes()).expect("the log is writable");
}
