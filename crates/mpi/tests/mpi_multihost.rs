//! A pool whose worker ranks run on three hosts, simulated on this one machine.
//!
//! What it simulates: three machines on one LAN. Each "host" is a network namespace with
//! its own address (10.200.0.10–12/24 on a veth pair into a fourth namespace that holds a
//! bridge, the "switch") and its own UTS namespace, so its own host name; the names
//! resolve in every host through `/etc/netns/<host>/hosts`, which `ip netns exec` mounts
//! over `/etc/hosts`. `mpirun` runs inside host 0 and reaches the other hosts through a
//! stand-in for ssh (`--mca plm_rsh_agent`) that enters the host's namespaces and starts
//! Open MPI's daemon there, exactly as ssh would on a real cluster. MPI traffic is limited
//! to the simulated LAN (`btl tcp` and `oob tcp` on 10.200.0.0/24), so between hosts it
//! goes through TCP over the bridge, not shared memory.
//!
//! Why: every other MPI test runs all ranks on one host, where Open MPI uses shared
//! memory and every rank has the same host name. This one checks what only a cluster
//! shows: ranks on other hosts join the job, report their own host, and run the pool's
//! tasks, with arguments and results crossing between hosts.
//!
//! It needs root (`CAP_NET_ADMIN`, `CAP_SYS_ADMIN`) and `ip`; where creating a namespace
//! fails, it prints why and passes without running (the only skip). Everything it sets up
//! (namespaces, `/etc/netns/<host>` directories, scripts, and every process left in its
//! namespaces) is removed by a guard, also when it fails. Names carry this process's id,
//! so parallel runs do not collide.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The name of the test, for the job's filter.
const TEST: &str = "pool_runs_tasks_on_three_hosts";

/// The simulated hosts' names, comma-separated, host 0 first (rank 0's host).
const HOSTS_ENV: &str = "MULTIPROC_MPI_TEST_HOSTS";

/// How long the supervisor lets the job run.
const JOB_TIMEOUT: Duration = Duration::from_secs(25);

/// How long the driver waits for the supervisor before it kills everything itself: the
/// supervisor can outlive its timeout when a process it cannot reach (one started on
/// another host, in another process group) keeps its end of the launcher's stderr open.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(40);

/// The simulated LAN.
const SUBNET: &str = "10.200.0.0/24";

/// How many tasks the pool maps.
const TASKS: u64 = 60;

/// `--host`: rank 0 and one worker on host 0, one worker on each of hosts 1 and 2.
const SLOTS: [usize; 3] = [2, 1, 1];

/// A task's computation: a few milliseconds of arithmetic, so that every worker gets
/// some of the tasks.
fn work(x: u64) -> u64 {
    (0..100_000u64).fold(x, |acc, i| {
        std::hint::black_box(acc.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i ^ x))
    })
}

/// What a task reports: the host it ran on (read inside the task), its process, and the
/// computed value.
fn task(x: u64) -> (String, u32, u64) {
    (hostname(), std::process::id(), work(x))
}

/// This process's host name, as the kernel has it (its UTS namespace).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("reading /proc/sys/kernel/hostname")
        .trim()
        .to_string()
}

#[test]
fn pool_runs_tasks_on_three_hosts() {
    if common::in_job() {
        on_rank_0();
    } else {
        drive();
    }
}

/// Inside the job: rank 0 checks the workers' hosts, maps the tasks and counts where
/// they ran. (The worker ranks serve tasks inside `init` and never return from it.)
fn on_rank_0() {
    let world = multiproc_mpi::init().expect("MPI starts");
    let hosts: Vec<String> =
        std::env::var(HOSTS_ENV).expect(HOSTS_ENV).split(',').map(String::from).collect();
    let expected: BTreeSet<String> = hosts.iter().cloned().collect();
    assert_eq!(expected.len(), 3, "{hosts:?}");
    assert_eq!(hostname(), hosts[0], "rank 0 runs on host 0");

    let workers = world.workers();
    for w in workers {
        println!("multihost: worker {w}");
    }
    assert_eq!(workers.len(), SLOTS.iter().sum::<usize>() - 1);
    let worker_hosts: BTreeSet<String> = workers.iter().map(|w| w.host.clone()).collect();
    assert_eq!(worker_hosts, expected, "the worker ranks' hosts");

    let pool = world.pool().expect("a pool over the worker ranks");
    let results = pool.chunksize(1).map(task, 0..TASKS).expect("map");
    let serial: Vec<u64> = (0..TASKS).map(work).collect();
    let values: Vec<u64> = results.iter().map(|r| r.2).collect();
    assert_eq!(values, serial, "the values computed on the hosts");

    // Every task ran on a worker rank, on the host that rank reported.
    let by_pid: BTreeMap<u32, &multiproc_mpi::WorkerRank> =
        workers.iter().map(|w| (w.pid, w)).collect();
    let mut per_host: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_rank: BTreeMap<i32, usize> = BTreeMap::new();
    for (i, (host, pid, _)) in results.iter().enumerate() {
        let w = by_pid.get(pid).unwrap_or_else(|| panic!("task {i} ran in pid {pid}, no worker"));
        assert_eq!(host, &w.host, "task {i} ran on {host}, but {w} is on {}", w.host);
        *per_host.entry(host).or_default() += 1;
        *per_rank.entry(w.rank).or_default() += 1;
    }
    for (host, n) in &per_host {
        println!("multihost: host {host} ran {n} tasks");
    }
    for (rank, n) in &per_rank {
        println!("multihost: rank {rank} ran {n} tasks");
    }
    let ran_on: BTreeSet<String> = per_host.keys().map(|h| h.to_string()).collect();
    assert_eq!(ran_on, expected, "the hosts that ran tasks");
    assert_eq!(per_rank.len(), workers.len(), "every worker rank ran tasks");
}

/// Outside the job: builds the three hosts, runs the job from host 0 under the
/// supervisor, checks it, and tears everything down.
fn drive() {
    let started = Instant::now();
    let mut lan = Lan::new();
    if let Err(why) = lan.create_switch() {
        eprintln!(
            "SKIPPED {TEST}: cannot create a network namespace ({why}); this test needs root \
             (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's `ip`"
        );
        return;
    }
    lan.create_hosts();
    let names = lan.hosts.clone();
    let dir = lan.dir.clone();

    // `fakessh HOST COMMAND...`: what ssh does, on a simulated host.
    let fakessh = write_script(
        &dir,
        "fakessh",
        "host=\"$1\"; shift\nexec ip netns exec \"$host\" unshare --uts sh -c \"hostname $host && $*\"\n",
    );
    // `mpirun` run on host 0 (the supervisor's launcher).
    let launcher = write_script(
        &dir,
        "mpirun-on-h0",
        &format!(
            "exec ip netns exec {h0} unshare --uts -- sh -c 'hostname \"$0\" && exec mpirun \"$@\"' {h0} \"$@\"\n",
            h0 = names[0]
        ),
    );
    let hosts_arg: Vec<String> = names.iter().zip(SLOTS).map(|(h, n)| format!("{h}:{n}")).collect();
    let mut launcher_args: Vec<String> = vec![
        "--mca".into(),
        "plm_rsh_agent".into(),
        fakessh.display().to_string(),
        "--mca".into(),
        "plm_rsh_no_tree_spawn".into(),
        "1".into(),
        "--mca".into(),
        "btl".into(),
        "self,vader,tcp".into(),
        "--mca".into(),
        "btl_tcp_if_include".into(),
        SUBNET.into(),
        "--mca".into(),
        "oob_tcp_if_include".into(),
        SUBNET.into(),
        "--host".into(),
        hosts_arg.join(","),
    ];
    for var in ["MULTIPROC_MPI_TEST_IN_JOB", HOSTS_ENV] {
        launcher_args.extend(["-x".to_string(), var.to_string()]);
    }

    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_multiproc-mpirun"));
    cmd.args(["-n", &SLOTS.iter().sum::<usize>().to_string()])
        .args(["--timeout", &JOB_TIMEOUT.as_secs().to_string()])
        .args(["--launcher", &launcher.display().to_string()]);
    for a in &launcher_args {
        cmd.args(["--launcher-arg", a]);
    }
    cmd.arg("--")
        .arg(std::env::current_exe().expect("the test binary's path"))
        .args(common::filter(TEST))
        .env("MULTIPROC_MPI_TEST_IN_JOB", "1")
        .env(HOSTS_ENV, names.join(","))
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdin(Stdio::null())
        // Files, not pipes: a process left behind on a host cannot hold the driver up.
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
    let child = cmd.spawn().expect("cannot run multiproc-mpirun");
    let supervisor = child.id();
    let (done_tx, done_rx) = channel();
    let waiter = std::thread::spawn(move || {
        let mut child = child;
        let _ = done_tx.send(child.wait());
    });
    let status: Option<ExitStatus> = match done_rx.recv_timeout(DRIVER_TIMEOUT) {
        Ok(status) => Some(status.expect("waiting for multiproc-mpirun")),
        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
            lan.kill_processes();
            kill(supervisor);
            None
        }
    };
    let _ = waiter.join();
    // Whatever is still running on the hosts (nothing, when the job ended well).
    let leftovers = lan.kill_processes();
    let elapsed = started.elapsed();

    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let report = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    let Some(status) = status else {
        panic!(
            "the job did not end within {DRIVER_TIMEOUT:?}; killed it and {} process(es) \
             on the hosts\n{report}",
            leftovers.len()
        );
    };
    println!("{stdout}");
    assert!(status.success(), "the job failed ({status}) after {elapsed:?}\n{report}");
    assert!(stdout.contains("test result: ok. 1 passed"), "{report}");
    for host in &names {
        let ran = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("multihost: host {host} ran ")))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<usize>().ok());
        assert!(ran.is_some_and(|n| n > 0), "no tasks reported on host {host}\n{report}");
    }
    println!(
        "multihost: the job on {} took {elapsed:.1?}; {} process(es) left on the hosts",
        names.join(", "),
        leftovers.len()
    );
}

/// The simulated LAN: a switch namespace and three host namespaces with their
/// `/etc/netns` directories and a scratch directory. Dropping it kills every process
/// left in the namespaces and removes all of it.
struct Lan {
    switch: String,
    hosts: Vec<String>,
    /// The namespaces created so far (each is deleted on drop).
    namespaces: Vec<String>,
    /// The `/etc/netns/<host>` directories created so far.
    etc: Vec<PathBuf>,
    dir: PathBuf,
}

impl Lan {
    fn new() -> Lan {
        // Short: a host's name is also an interface-name part (at most 15 bytes).
        let tag = format!("mpt{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("{tag}-multihost"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Lan {
            switch: format!("{tag}s"),
            hosts: (0..3).map(|i| format!("{tag}h{i}")).collect(),
            namespaces: Vec::new(),
            etc: Vec::new(),
            dir,
        }
    }

    /// Creates the switch: the first namespace, so the privilege check.
    fn create_switch(&mut self) -> Result<(), String> {
        let switch = self.switch.clone();
        try_ip(&["netns", "add", &switch])?;
        self.namespaces.push(switch.clone());
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        Ok(())
    }

    /// Creates the hosts, each wired to the switch, with an address and a hosts file.
    fn create_hosts(&mut self) {
        let hosts_file: String = std::iter::once("127.0.0.1 localhost\n".to_string())
            .chain(self.hosts.iter().enumerate().map(|(i, h)| format!("10.200.0.1{i} {h}\n")))
            .collect();
        for (i, host) in self.hosts.clone().iter().enumerate() {
            ip(&["netns", "add", host]);
            self.namespaces.push(host.clone());
            let etc = PathBuf::from("/etc/netns").join(host);
            std::fs::create_dir_all(&etc).expect("creating /etc/netns/<host>");
            self.etc.push(etc.clone());
            std::fs::write(etc.join("hosts"), &hosts_file).expect("writing its hosts file");
            // The veth pair is made inside the switch: nothing appears in the root namespace.
            let port = format!("{host}v");
            let sw = self.switch.as_str();
            ip(&["-n", sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0"]);
            ip(&["-n", sw, "link", "set", "eth0", "netns", host]);
            ip(&["-n", sw, "link", "set", &port, "master", "br0"]);
            ip(&["-n", sw, "link", "set", &port, "up"]);
            ip(&["-n", host, "addr", "add", &format!("10.200.0.1{i}/24"), "dev", "eth0"]);
            ip(&["-n", host, "link", "set", "eth0", "up"]);
            ip(&["-n", host, "link", "set", "lo", "up"]);
        }
    }

    /// Kills every process in the namespaces (by the pids `ip netns pids` records) and
    /// returns their pids.
    fn kill_processes(&self) -> Vec<u32> {
        let mut killed = Vec::new();
        // Twice: a process may have started another one while the first round ran.
        for _ in 0..2 {
            for ns in &self.namespaces {
                let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
                    continue;
                };
                for pid in String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok())
                {
                    kill(pid);
                    killed.push(pid);
                }
            }
        }
        killed.sort_unstable();
        killed.dedup();
        killed
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let left = self.kill_processes();
        if !left.is_empty() {
            eprintln!("multihost: killed processes left on the simulated hosts: {left:?}");
        }
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = try_ip(&["netns", "del", ns]) {
                eprintln!("multihost: cannot delete namespace {ns}: {e}");
            }
        }
        for etc in &self.etc {
            let _ = std::fs::remove_dir_all(etc);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `ip args...`; the error is its standard error.
fn try_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}`: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Runs `ip args...`, which must succeed.
fn ip(args: &[&str]) {
    if let Err(e) = try_ip(args) {
        panic!("setting up the simulated hosts: {e}");
    }
}

/// Sends SIGKILL to `pid` (with `kill(1)`: no `unsafe` here).
fn kill(pid: u32) {
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
}

/// Writes an executable `sh` script `name` into `dir`.
fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).expect("writing a script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("making a script executable");
    path
}
