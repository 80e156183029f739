//! The `BENCHMARKS.md` workloads, W1 to W20: multiproc against its CPython twin
//! (`benches/python/workloads.py`, `multiprocessing` and `concurrent.futures`), in
//! alternating repetitions, with the ratio of the two.
//!
//! Run it through `cargo xtask bench [--quick] [--workload W1,W3] [--json PATH] [--svg PATH]`,
//! or directly: `cargo bench -p multiproc --bench workloads -- [the same options]` (here
//! `--json FILE` writes JSON Lines, one object per figure; xtask gathers them into an array).
//!
//! - Each case (one measured call; [`cases::CASES`]) runs a warm-up of both sides at
//!   `--quick` sizes, then 5 repetitions of each side, alternating: multiproc, CPython,
//!   multiproc, ... (`--quick`: no warm-up, 1 repetition, small sizes). W9 too: run at
//!   the same time to save a minute, each side's start collided with the other's and
//!   added up to 9 ms to a figure of 1 ms. W11 and W12 are outcomes, observed once. W5 runs in a
//!   fresh process on both sides (what a fork costs grows with the parent's memory, which
//!   the workloads run before would otherwise set, differently on each side), as W10 does.
//! - The table (stdout) gives median [min – max] for both and the ratio of the medians,
//!   oriented so that > 1 means multiproc is better: throughput and speedup mp/py;
//!   times, latencies and RSS growth py/mp.
//! - The chart goes to `bench-results/bench.svg` (and to `--svg PATH`).
//! - Without CPython (on `PATH` or under pyenv) the multiproc side still runs and the table
//!   says so.
//!
//! Under `cargo test` (no `--bench` argument) the binary only checks its own harness.

mod cases;
mod chart;
mod child;
#[path = "../../tests/common/fault_mix.rs"]
mod fault_mix;
mod measure;
mod mixes;
mod python;
mod report;
mod scale;
mod talk;
mod tasks;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cases::{CASES, Case, Unit, Value};
use python::Python;
use report::{Row, Side};

/// The options of a run.
#[derive(Debug, Default)]
struct Options {
    quick: bool,
    workloads: Vec<String>,
    json: Option<PathBuf>,
    svg: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options::default();
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| rest.next().cloned())
                    .ok_or(format!("{flag} needs a value"))
            };
            match flag {
                "--bench" => {}
                "--quick" => options.quick = true,
                "--workload" => {
                    for id in value()?.split(',').map(str::trim).filter(|id| !id.is_empty()) {
                        let id = id.to_ascii_uppercase();
                        if !CASES.iter().any(|case| case.id == id) {
                            return Err(format!("unknown workload `{id}`"));
                        }
                        options.workloads.push(id);
                    }
                }
                "--json" => options.json = Some(PathBuf::from(value()?)),
                "--svg" => options.svg = Some(PathBuf::from(value()?)),
                _ => return Err(format!("unknown option `{arg}`")),
            }
        }
        Ok(options)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|arg| arg == child::FLAG) {
        return child::main(&args[1..]);
    }
    if !args.iter().any(|arg| arg == "--bench") {
        return self_check();
    }
    match Options::parse(&args).and_then(|options| run(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("workloads: {err}");
            ExitCode::FAILURE
        }
    }
}

/// One side's repetition: its values, or why it failed.
type Rep = Result<Vec<Value>, String>;

fn run(options: &Options) -> Result<(), String> {
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut python = Python::start();
    match &python {
        Ok(py) => eprintln!(
            "bench: CPython {} ({}), default start method {}",
            py.version,
            py.path.display(),
            py.start_method
        ),
        Err(why) => eprintln!("bench: {why}: running the multiproc side only"),
    }
    let chosen: Vec<&Case> = CASES
        .iter()
        .filter(|case| {
            options.workloads.is_empty() || options.workloads.iter().any(|w| w == case.id)
        })
        .filter(|case| !(options.quick && case.full_only))
        .collect();
    let mut rows = Vec::new();
    for (index, case) in chosen.iter().enumerate() {
        let t = Instant::now();
        let reps = if options.quick { 1 } else { case.reps };
        eprintln!(
            "bench: [{}/{}] {} {} ({} rep{} per side)",
            index + 1,
            chosen.len(),
            case.id,
            case.key,
            reps,
            if reps == 1 { "" } else { "s" },
        );
        if !options.quick && !case.is_qualitative() {
            let _ = repetition(case, true, python.as_mut().ok());
        }
        let (mut mine, mut theirs) = (Vec::new(), Vec::new());
        for rep in 0..reps {
            let (mp, py) = repetition(case, options.quick, python.as_mut().ok());
            eprintln!(
                "bench:   {}/{reps}  multiproc {}  |  CPython {}",
                rep + 1,
                brief(&mp),
                py.as_ref().map_or("–".to_owned(), brief)
            );
            mine.push(mp);
            theirs.push(py);
        }
        let missing = python.as_ref().err().cloned();
        rows.extend(rows_of(case, &mine, &theirs, missing.as_deref()));
        eprintln!("bench:   {:.1} s", t.elapsed().as_secs_f64());
    }
    let python_label = match &python {
        Ok(py) => format!("CPython {} median [min – max]", py.version),
        Err(_) => "CPython".to_owned(),
    };
    println!("\n{}", header(options, cores, python.as_ref().ok()));
    println!("{}", report::table(&rows, &python_label));
    if let Some(path) = &options.json {
        let lines: String = rows.iter().map(|row| row.json(options.quick) + "\n").collect();
        std::fs::write(path, lines).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let title = match &python {
        Ok(py) => format!(
            "multiproc vs CPython {}: BENCHMARKS.md workloads ({cores} cores{})",
            py.version,
            if options.quick { ", quick run" } else { "" }
        ),
        Err(_) => format!("multiproc: BENCHMARKS.md workloads ({cores} cores, no CPython)"),
    };
    let svg = chart::svg(&rows, &title, cores);
    let default_svg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-results/bench.svg");
    for path in std::iter::once(&default_svg).chain(&options.svg) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, &svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("chart: {}", path.display());
    }
    println!("workloads: {:.0} s", started.elapsed().as_secs_f64());
    drop(python);
    let failed: Vec<String> = rows
        .iter()
        .filter(|row| matches!(row.multiproc, Side::Failed(_)))
        .map(|row| format!("{} {}", row.id, row.variant))
        .collect();
    if failed.is_empty() { Ok(()) } else { Err(format!("multiproc failed: {}", failed.join("; "))) }
}

/// One repetition of both sides, in turn.
fn repetition(case: &Case, quick: bool, python: Option<&mut Python>) -> (Rep, Option<Rep>) {
    let check = |values: Vec<Value>| -> Rep {
        if values.len() == case.figures.len() {
            Ok(values)
        } else {
            Err(format!("{} values for {} figures", values.len(), case.figures.len()))
        }
    };
    let mine = |quick| (case.run)(quick).map_err(|e| e.to_string()).and_then(check);
    match python {
        None => (mine(quick), None),
        Some(py) => {
            let mp = mine(quick);
            (mp, Some(py.send(case.key, quick).and_then(|()| py.receive()).and_then(check)))
        }
    }
}

/// A repetition's values in a few words, for the progress line.
fn brief(rep: &Rep) -> String {
    match rep {
        Ok(values) => values
            .iter()
            .map(|v| match v {
                Value::Num(n) => report::num(*n),
                Value::Text(t) => t.chars().take(40).collect(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Err(why) => format!("FAILED: {why}"),
    }
}

/// The rows of one case: per figure, each side's values over the repetitions.
fn rows_of(case: &Case, mine: &[Rep], theirs: &[Option<Rep>], missing: Option<&str>) -> Vec<Row> {
    let side = |reps: Vec<&Rep>, figure: usize, unit: Unit| -> Side {
        if let Some(Err(why)) = reps.iter().find(|r| r.is_err()) {
            return Side::Failed(why.clone());
        }
        let values: Vec<&Value> =
            reps.iter().filter_map(|r| r.as_ref().ok()?.get(figure)).collect();
        if unit == Unit::Qualitative {
            let text = values.iter().map(|v| match v {
                Value::Text(t) => t.clone(),
                Value::Num(n) => n.to_string(),
            });
            Side::Text(text.collect::<Vec<_>>().join(" / "))
        } else {
            let numbers: Option<Vec<f64>> = values
                .iter()
                .map(|v| match v {
                    Value::Num(n) => Some(*n),
                    Value::Text(_) => None,
                })
                .collect();
            numbers
                .map_or_else(|| Side::Failed("text where a number was due".into()), Side::Numbers)
        }
    };
    case.figures
        .iter()
        .enumerate()
        .map(|(i, figure)| Row {
            id: case.id,
            variant: figure.variant,
            unit: figure.unit,
            multiproc: side(mine.iter().collect(), i, figure.unit),
            python: match missing {
                Some(why) => Side::Missing(why.to_owned()),
                None => side(theirs.iter().flatten().collect(), i, figure.unit),
            },
        })
        .collect()
}

/// What was run, on what, and how to read the table.
fn header(options: &Options, cores: usize, python: Option<&Python>) -> String {
    let runs = if options.quick {
        "quick run: small sizes, 1 repetition per side, no warm-up".to_owned()
    } else {
        "full run: 5 alternating repetitions per side after a warm-up (W11, W12: once)".to_owned()
    };
    let python = match python {
        Some(py) => format!(
            "CPython {} ({}); its Pool/Executor default start method: {}",
            py.version,
            py.path.display(),
            py.start_method
        ),
        None => "CPython: not found on PATH or under pyenv; multiproc side only".to_owned(),
    };
    // `cargo xtask bench --features progress,tracing` compares W1 with them compiled in.
    let features: Vec<&str> =
        [("progress", cfg!(feature = "progress")), ("tracing", cfg!(feature = "tracing"))]
            .into_iter()
            .filter_map(|(name, on)| on.then_some(name))
            .collect();
    let features = match features.is_empty() {
        true => "features: none".to_owned(),
        false => format!("features compiled in: {} (no subscriber, no bar)", features.join(", ")),
    };
    format!(
        "multiproc workloads (BENCHMARKS.md) on {cores} cores; {runs}; {features}\n\
         {python}; multiproc's default start method: {}\n\
         ratio > 1: multiproc better (throughput, speedup: mp/py; time, latency, RSS growth: py/mp).\n\
         W5 runs each repetition in a fresh process on both sides (this binary re-executed, a new \
         python3), so neither side's figure depends on the workloads run before it.\n\
         Ratio floors: 1 ms (W9), 1 MiB (W10), marked ≥.\n\
         W7 counts an echo's payload twice (there and back). W10 is the peak RSS of a fresh \
         process draining {} items minus (and over) the same with 1 000 items.",
        multiproc::get_start_method(),
        if options.quick { "200 000" } else { "20 000 000" }
    )
}

/// Under `cargo test`: the harness checks itself (statistics, ratio orientation, JSON,
/// the chart, and that every case has a CPython twin) without running any workload.
fn self_check() -> ExitCode {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_owned());
        }
    };
    let stats = report::Stats::of(&[3.0, 1.0, 2.0, 10.0]);
    expect(stats.map(|s| (s.median, s.min, s.max)) == Some((2.5, 1.0, 10.0)), "median of 4");
    let row = |unit, mp: f64, py: f64| Row {
        id: "W0",
        variant: "test",
        unit,
        multiproc: Side::Numbers(vec![mp]),
        python: Side::Numbers(vec![py]),
    };
    expect(row(Unit::ItemsPerSec, 4.0, 2.0).ratio() == Some((2.0, false)), "throughput mp/py");
    expect(row(Unit::Micros, 2.0, 8.0).ratio() == Some((4.0, false)), "latency py/mp");
    expect(row(Unit::MibGrowth, 0.1, 50.0).ratio() == Some((50.0, true)), "floored growth");
    expect(report::json_str("a\"b\\\n") == r#""a\"b\\\n""#, "JSON string escapes");
    let rows = vec![row(Unit::ItemsPerSec, 4.0, 2.0), row(Unit::Millis, 3.0, 1.0)];
    let svg = chart::svg(&rows, "self-check", 2);
    expect(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "SVG document");
    expect(report::table(&rows, "CPython").lines().count() == 4, "table of two rows");
    let script = std::fs::read_to_string(python::SCRIPT).unwrap_or_default();
    for (i, case) in CASES.iter().enumerate() {
        expect(
            script.contains(&format!("\"{}\":", case.key)),
            &format!("{} has no twin", case.key),
        );
        expect(CASES[..i].iter().all(|c| c.key != case.key), &format!("{} twice", case.key));
    }
    if problems.is_empty() {
        println!(
            "workloads: harness self-check passed (run the workloads with `cargo xtask bench`)"
        );
        ExitCode::SUCCESS
    } else {
        eprintln!("workloads: harness self-check failed: {}", problems.join("; "));
        ExitCode::FAILURE
    }
}
