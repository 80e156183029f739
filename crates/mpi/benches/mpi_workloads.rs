//! W1, W3 and W7 of `BENCHMARKS.md` with MPI ranks as the workers, beside a local pool of
//! as many workers in the same job (alternating repetitions), so that the figures say
//! what the MPI transport costs against local processes on the same machine; then the
//! same workloads in `mpi4py.futures` (`benches/python/mpi_workloads.py`, a 3-rank job of
//! its own right after), where mpi4py is installed.
//!
//! Run: `cargo bench -p multiproc-mpi --bench mpi_workloads [-- --quick] [--workload W7]`
//! (or through `cargo xtask bench`). Started by cargo, it runs itself as a 3-rank job
//! (rank 0 + 2 workers) under the supervisor, then the Python twin.

use std::error::Error;
use std::ffi::OsString;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use multiproc::{Bytes, Pool};
use multiproc_mpi::supervisor::{Supervisor, launched};

fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

fn payload_len(b: Bytes) -> u64 {
    b.len() as u64
}

fn payload_echo(b: Bytes) -> Bytes {
    b
}

type Measure = fn(&Pool, bool) -> Result<f64, Box<dyn Error>>;

/// One figure: workload, variant, unit, whether higher is better, and how to measure it.
struct Case(&'static str, &'static str, &'static str, bool, Measure);

const CASES: &[Case] = &[
    Case("W1", "map, default chunksize", "items/s", true, w1_default),
    Case("W1", "map, chunksize 10000", "items/s", true, w1_chunked),
    Case("W3", "apply round trip, median", "us", false, w3_apply),
    Case("W7", "16 MiB -> len, apply", "GB/s", true, w7_len),
    Case("W7", "16 MiB echo, apply", "GB/s", true, w7_echo),
];

fn items(quick: bool) -> u64 {
    if quick { 100_000 } else { 1_000_000 }
}

fn w1(pool: &Pool, quick: bool, chunksize: Option<usize>) -> Result<f64, Box<dyn Error>> {
    let n = items(quick);
    let t = Instant::now();
    let out = match chunksize {
        Some(c) => pool.chunksize(c).map(square, 0..n)?,
        None => pool.map(square, 0..n)?,
    };
    let took = t.elapsed();
    if out.len() as u64 != n || out[3] != 9 {
        return Err("W1: wrong results".into());
    }
    Ok(n as f64 / took.as_secs_f64())
}

fn w1_default(pool: &Pool, quick: bool) -> Result<f64, Box<dyn Error>> {
    w1(pool, quick, None)
}

fn w1_chunked(pool: &Pool, quick: bool) -> Result<f64, Box<dyn Error>> {
    w1(pool, quick, Some(10_000))
}

fn w3_apply(pool: &Pool, quick: bool) -> Result<f64, Box<dyn Error>> {
    let mut micros = Vec::new();
    for i in 0..if quick { 500 } else { 5_000 } {
        let t = Instant::now();
        let got = pool.apply(square, i)?;
        micros.push(t.elapsed().as_secs_f64() * 1e6);
        if got != i * i {
            return Err("W3: wrong result".into());
        }
    }
    micros.sort_by(f64::total_cmp);
    Ok(micros[micros.len() / 2])
}

fn w7(pool: &Pool, quick: bool, echo: bool) -> Result<f64, Box<dyn Error>> {
    let size = 16 << 20;
    let calls = if quick { 1 } else { 4 };
    let buffers: Vec<Bytes> = (0..calls).map(|_| Bytes::from(vec![7_u8; size])).collect();
    let t = Instant::now();
    for buf in buffers {
        let ok = if echo {
            pool.apply(payload_echo, buf)?.len() == size
        } else {
            pool.apply(payload_len, buf)? == size as u64
        };
        if !ok {
            return Err("W7: wrong result".into());
        }
    }
    let moved = if echo { 2 * size * calls } else { size * calls };
    Ok(moved as f64 / t.elapsed().as_secs_f64() / 1e9)
}

fn w7_len(pool: &Pool, quick: bool) -> Result<f64, Box<dyn Error>> {
    w7(pool, quick, false)
}

fn w7_echo(pool: &Pool, quick: bool) -> Result<f64, Box<dyn Error>> {
    w7(pool, quick, true)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn num(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.3}"),
    }
}

/// The workloads asked for with `--workload W1,W7` (all when not given).
fn chosen() -> Vec<String> {
    option("--workload")
        .map_or_else(Vec::new, |l| l.split(',').map(|w| w.trim().to_ascii_uppercase()).collect())
}

fn run(quick: bool) -> Result<(), Box<dyn Error>> {
    let wanted = chosen();
    let cases: Vec<&Case> =
        CASES.iter().filter(|c| wanted.is_empty() || wanted.iter().any(|w| w == c.0)).collect();
    let world = multiproc_mpi::init()?;
    let workers = world.workers().len();
    let mpi = world.pool()?;
    let local = Pool::new(workers)?;
    for pool in [&mpi, &local] {
        pool.chunksize(1).map(square, 0..4 * workers as u64)?; // warm
    }
    let reps = if quick { 1 } else { 5 };
    let mut figures = vec![(Vec::new(), Vec::new()); cases.len()];
    let started = Instant::now();
    for _ in 0..reps {
        for (case, (on_mpi, on_local)) in cases.iter().zip(&mut figures) {
            on_mpi.push((case.4)(&mpi, quick)?);
            on_local.push((case.4)(&local, quick)?);
        }
    }
    println!(
        "\nMPI ranks vs local processes: {workers} workers each, {reps} repetition(s), \
         medians (ratio > 1: MPI better)"
    );
    header("MPI", "local");
    for (case, (on_mpi, on_local)) in cases.iter().zip(&mut figures) {
        row(case, median(on_mpi), median(on_local));
    }
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    if let Some(path) = option("--figures") {
        let lines: String = cases
            .iter()
            .zip(&mut figures)
            .map(|(case, (on_mpi, _))| format!("{}\t{}\n", case.1, median(on_mpi)))
            .collect();
        std::fs::write(path, lines)?;
    }
    Ok(())
}

/// The table's header, with the names of its two columns of figures.
fn header(a: &str, b: &str) {
    println!("{:<4} {:<26} {:<8} {:>12} {:>12} {:>7}", "id", "variant", "unit", a, b, "ratio");
}

/// One row: `a` beside `b`, and how much better `a` is.
fn row(case: &Case, a: f64, b: f64) {
    let ratio = if case.3 { a / b } else { b / a };
    let (id, variant, unit) = (case.0, case.1, case.2);
    println!("{id:<4} {variant:<26} {unit:<8} {:>12} {:>12} {ratio:>7.2}", num(a), num(b));
}

/// The Python twin.
const TWIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../benches/python/mpi_workloads.py");

/// The value of option `name` on the command line.
fn option(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// Started by hand: the Rust job, then the mpi4py.futures job, and the two side by side.
fn compare() -> ExitCode {
    let supervisor = Supervisor::new(3).timeout(Duration::from_secs(900));
    let exe = std::env::current_exe().expect("the bench's path");
    let figures = std::env::temp_dir().join(format!("mpi-bench-{}.tsv", std::process::id()));
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    args.extend(["--figures".into(), figures.clone().into_os_string()]);
    let report = supervisor.run(exe.as_os_str(), &args);
    let ours = std::fs::read_to_string(&figures).unwrap_or_default();
    let _ = std::fs::remove_file(&figures);
    match report {
        Ok(r) if r.success() => {}
        other => return supervisor.exit_code(other),
    }
    let theirs = match mpi4py(&supervisor) {
        Ok(theirs) => theirs,
        Err(why) => {
            println!("\nmpi4py.futures: {why}; the Python twin is skipped");
            return ExitCode::SUCCESS;
        }
    };
    println!(
        "\nmultiproc-mpi vs mpi4py.futures: 2 worker ranks each, one job after the other, \
         medians (ratio > 1: multiproc-mpi better)"
    );
    header("ours", "mpi4py");
    for case in CASES {
        let find = |text: &str, prefix: &str| {
            text.lines().filter_map(|l| l.strip_prefix(prefix)).find_map(|l| {
                l.strip_prefix(case.1)?.strip_prefix('\t')?.trim().parse::<f64>().ok()
            })
        };
        if let (Some(m), Some(p)) = (find(&ours, ""), find(&theirs, "fig\t")) {
            row(case, m, p);
        }
    }
    ExitCode::SUCCESS
}

/// Runs the mpi4py.futures twin as a 3-rank job: its `fig` lines, or why it could not.
fn mpi4py(supervisor: &Supervisor) -> Result<String, String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import mpi4py.futures"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return Err(format!("`{python} -c 'import mpi4py.futures'` fails (pip install mpi4py)"));
    }
    let mut twin: Vec<OsString> = ["-m", "mpi4py.futures", TWIN].map(OsString::from).to_vec();
    if std::env::args().any(|a| a == "--quick") {
        twin.push("--quick".into());
    }
    if let Some(w) = option("--workload") {
        twin.extend(["--workload".into(), w.into()]);
    }
    let out = supervisor
        .command(python.as_ref(), &twin)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the launcher: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !text.lines().any(|l| l == "done") {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("the twin failed ({}): {}", out.status, err.trim()));
    }
    Ok(text)
}

fn main() -> ExitCode {
    if !launched() {
        return compare();
    }
    let quick = std::env::args().any(|a| a == "--quick");
    match run(quick) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mpi_workloads: {e}");
            ExitCode::FAILURE
        }
    }
}
