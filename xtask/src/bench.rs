//! `cargo xtask bench`: the benchmark suite, one `cargo bench` target after another.
//!
//! [`TARGETS`] lists the bench targets; a new workload from `BENCHMARKS.md` lands as one
//! more entry naming the workload ids it measures. Every target is a `harness = false` bench
//! that accepts `--quick` (a short smoke run). A target marked `json` also accepts
//! `--json FILE` and writes one JSON object per line (JSON Lines) to `FILE`, one per
//! figure; `cargo xtask bench --json PATH` gathers those objects into one JSON array
//! (targets without JSON output still run and print their tables). A target marked `svg`
//! draws a chart to `bench-results/` and accepts `--svg PATH` for one more copy.
//!
//! The workloads target (`benches/workloads/`) runs every `BENCHMARKS.md` workload against
//! its CPython twin (`benches/python/workloads.py`), alternating repetitions; see its docs.

use std::path::{Path, PathBuf};

use crate::cmd::{Cmd, Error, Result};

/// One bench target of the suite.
#[derive(Debug, Clone, Copy)]
struct Target {
    /// The package that holds it (`cargo bench -p`).
    package: &'static str,
    /// The bench target's name (`cargo bench --bench`).
    bench: &'static str,
    /// Its source, relative to the workspace root (checked before cargo runs).
    source: &'static str,
    /// The `BENCHMARKS.md` workloads it measures; empty for micro-benchmarks.
    workloads: &'static [&'static str],
    /// Whether it understands `--json FILE` (see the module docs).
    json: bool,
    /// Whether it understands `--svg PATH` (see the module docs).
    svg: bool,
    /// Whether it needs MPI (skipped, with a note, where MPI is not installed).
    mpi: bool,
}

/// The suite, in the order it runs.
const TARGETS: &[Target] = &[
    Target {
        package: "multiproc-ipc",
        bench: "ipc_micro",
        source: "crates/ipc/benches/ipc_micro.rs",
        workloads: &[],
        json: false,
        svg: false,
        mpi: false,
    },
    Target {
        package: "multiproc",
        bench: "workloads",
        source: "benches/workloads/main.rs",
        workloads: WORKLOADS,
        json: true,
        svg: true,
        mpi: false,
    },
    Target {
        package: "multiproc-mpi",
        bench: "mpi_workloads",
        source: "crates/mpi/benches/mpi_workloads.rs",
        workloads: &["W1", "W3", "W7"],
        json: false,
        svg: false,
        mpi: true,
    },
];

/// The workload ids `BENCHMARKS.md` defines.
const WORKLOADS: &[&str] = &[
    "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10", "W11", "W12", "W13", "W14", "W15",
    "W16", "W17", "W18", "W19", "W20",
];

/// What `cargo xtask bench` was asked to do.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// A short smoke run (`--quick`, passed to every target).
    pub(crate) quick: bool,
    /// Only the targets that measure these workloads (all targets when empty).
    pub(crate) workloads: Vec<String>,
    /// Where to write the results as one JSON array.
    pub(crate) json: Option<PathBuf>,
    /// Where to write one more copy of the chart (always in `bench-results/bench.svg`).
    pub(crate) svg: Option<PathBuf>,
    /// Features of the facade to compile the workloads with (`--features progress,tracing`:
    /// W1 with them in, to compare with a run without).
    pub(crate) features: Option<String>,
}

impl Options {
    /// Parses `[--quick] [--workload W1,W3] [--json PATH] [--svg PATH] [--features LIST]`.
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut rest = args.iter().cloned();
        while let Some(arg) = rest.next() {
            if arg == "--quick" {
                options.quick = true;
            } else if let Some(list) = crate::flag_value("--workload", &arg, &mut rest)? {
                for id in list.split(',').map(str::trim).filter(|id| !id.is_empty()) {
                    let id = id.to_ascii_uppercase();
                    if !WORKLOADS.contains(&id.as_str()) {
                        return Err(Error::new(format!(
                            "unknown workload `{id}`: the suite measures {}",
                            WORKLOADS.join(", ")
                        )));
                    }
                    options.workloads.push(id);
                }
            } else if let Some(path) = crate::flag_value("--json", &arg, &mut rest)? {
                options.json = Some(PathBuf::from(path));
            } else if let Some(path) = crate::flag_value("--svg", &arg, &mut rest)? {
                options.svg = Some(PathBuf::from(path));
            } else if let Some(list) = crate::flag_value("--features", &arg, &mut rest)? {
                options.features = Some(list);
            } else {
                return Err(Error::new(format!("unknown option `{arg}` for `bench`")));
            }
        }
        Ok(options)
    }
}

/// Runs the chosen targets; with `--json`, gathers their results into one file.
pub(crate) fn run(root: &Path, options: &Options) -> Result {
    let chosen = select(&options.workloads)?;
    let mut records = Vec::new();
    let mpi = chosen.iter().any(|t| t.mpi) && crate::cmd::mpi_available(root);
    for target in &chosen {
        if target.mpi && !mpi {
            println!("bench: MPI is not installed: skipping `{}`", target.bench);
            continue;
        }
        if !root.join(target.source).is_file() {
            return Err(Error::new(format!(
                "bench target `{}` of `{}` is missing: expected {}",
                target.bench, target.package, target.source
            )));
        }
        let mut harness_args = Vec::new();
        if options.quick {
            harness_args.push("--quick".to_owned());
        }
        let covered: Vec<&str> = target
            .workloads
            .iter()
            .copied()
            .filter(|id| options.workloads.iter().any(|wanted| wanted == id))
            .collect();
        if !covered.is_empty() {
            harness_args.extend(["--workload".to_owned(), covered.join(",")]);
        }
        if let Some(svg) = options.svg.as_ref().filter(|_| target.svg) {
            harness_args
                .extend(["--svg".to_owned(), root.join(svg).to_string_lossy().into_owned()]);
        }
        let json_file = options.json.as_ref().filter(|_| target.json).map(|_| {
            std::env::temp_dir().join(format!(
                "multiproc-xtask-{}-{}.jsonl",
                std::process::id(),
                target.bench
            ))
        });
        if let Some(file) = &json_file {
            harness_args.extend(["--json".to_owned(), file.to_string_lossy().into_owned()]);
        }
        let mut cargo_args = vec!["bench", "-p", target.package, "--bench", target.bench];
        if let Some(features) =
            options.features.as_deref().filter(|_| target.package == "multiproc")
        {
            cargo_args.extend(["--features", features]);
        }
        cargo_args.push("--");
        Cmd::cargo(&cargo_args).args(&harness_args).run(root)?;
        if options.json.is_some() && !target.json {
            println!(
                "bench: `{}` has no JSON output; its results are in the table above",
                target.bench
            );
        }
        if let Some(file) = json_file {
            let lines = std::fs::read_to_string(&file).map_err(|err| {
                Error::new(format!(
                    "bench target `{}` wrote no JSON results to {}: {err}",
                    target.bench,
                    file.display()
                ))
            })?;
            let _ = std::fs::remove_file(&file);
            records
                .extend(lines.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from));
        }
    }
    if let Some(path) = &options.json {
        let path = root.join(path);
        std::fs::write(&path, json_array(&records))
            .map_err(|err| Error::new(format!("cannot write {}: {err}", path.display())))?;
        println!("bench: wrote {} results to {}", records.len(), path.display());
    }
    Ok(())
}

/// The targets to run: all of them, or those that measure one of `workloads`.
fn select(workloads: &[String]) -> Result<Vec<Target>> {
    if workloads.is_empty() {
        return Ok(TARGETS.to_vec());
    }
    let missing: Vec<&str> = workloads
        .iter()
        .map(String::as_str)
        .filter(|id| !TARGETS.iter().any(|target| target.workloads.contains(id)))
        .collect();
    if !missing.is_empty() {
        return Err(Error::new(format!("no benchmark implements {} yet", missing.join(", "))));
    }
    Ok(TARGETS
        .iter()
        .filter(|target| target.workloads.iter().any(|id| workloads.iter().any(|w| w == id)))
        .copied()
        .collect())
}

/// One JSON array of the given JSON objects, one per line.
fn json_array(records: &[String]) -> String {
    if records.is_empty() {
        return "[]\n".to_owned();
    }
    format!("[\n  {}\n]\n", records.join(",\n  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        Options::parse(&args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn options_parse() -> Result {
        let options = parse(&[
            "--quick",
            "--workload",
            "w1,W3",
            "--json=out.json",
            "--svg",
            "c.svg",
            "--features",
            "progress,tracing",
        ])?;
        assert!(options.quick);
        assert_eq!(options.features.as_deref(), Some("progress,tracing"));
        assert_eq!(options.workloads, ["W1", "W3"]);
        assert_eq!(options.json, Some(PathBuf::from("out.json")));
        assert_eq!(options.svg, Some(PathBuf::from("c.svg")));
        assert!(parse(&["--workload", "W99"]).is_err());
        assert!(parse(&["--slow"]).is_err());
        Ok(())
    }

    #[test]
    fn every_target_is_distinct_and_names_known_workloads() {
        for (index, target) in TARGETS.iter().enumerate() {
            assert!(target.workloads.iter().all(|id| WORKLOADS.contains(id)), "{target:?}");
            assert!(TARGETS[..index].iter().all(|other| other.bench != target.bench));
        }
    }

    #[test]
    fn unimplemented_workloads_are_an_error_not_an_empty_run() {
        let all: Vec<String> = WORKLOADS.iter().map(|id| (*id).to_owned()).collect();
        let implemented =
            all.iter().all(|id| TARGETS.iter().any(|t| t.workloads.contains(&id.as_str())));
        assert_eq!(select(&all).is_ok(), implemented);
        assert_eq!(select(&[]).map(|targets| targets.len()).ok(), Some(TARGETS.len()));
    }

    #[test]
    fn json_results_form_one_array() {
        assert_eq!(json_array(&[]), "[]\n");
        let records = [r#"{"id":"W1"}"#.to_owned(), r#"{"id":"W2"}"#.to_owned()];
        assert_eq!(json_array(&records), "[\n  {\"id\":\"W1\"},\n  {\"id\":\"W2\"}\n]\n");
    }
}
