//! `cargo xtask ci`: every check the project has, in order, stopping at the first failure.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cmd::{Cmd, Error, Result, workspace_args};
use crate::{bench, examples, tidy};

/// One step of the CI run.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// Short name shown in the summary.
    name: &'static str,
    /// What the step does.
    run: fn(&Path) -> Result,
}

/// The steps, in the order they run: cheap and likely-to-fail first.
const STEPS: &[Step] = &[
    Step { name: "fmt", run: fmt },
    Step { name: "clippy", run: clippy },
    Step { name: "doc", run: doc },
    Step { name: "tests", run: tests },
    Step { name: "doc tests", run: doc_tests },
    Step { name: "examples", run: run_examples },
    Step { name: "tidy", run: tidy::run },
    Step { name: "bench smoke", run: bench_smoke },
];

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// It succeeded.
    Ok,
    /// It failed, which stopped the run.
    Failed,
    /// It did not run because an earlier step failed.
    Skipped,
}

/// Runs every step; prints a summary with per-step durations, also after a failure.
pub(crate) fn run(root: &Path) -> Result {
    let started = Instant::now();
    let mut results = Vec::with_capacity(STEPS.len());
    let mut failure = None;
    for (index, step) in STEPS.iter().enumerate() {
        if failure.is_some() {
            results.push((step.name, Outcome::Skipped, Duration::ZERO));
            continue;
        }
        println!("\n[{}/{}] {}", index + 1, STEPS.len(), step.name);
        let step_started = Instant::now();
        let outcome = (step.run)(root);
        let elapsed = step_started.elapsed();
        match outcome {
            Ok(()) => results.push((step.name, Outcome::Ok, elapsed)),
            Err(err) => {
                results.push((step.name, Outcome::Failed, elapsed));
                failure = Some(format!("step `{}` failed: {err}", step.name));
            }
        }
    }
    println!("\nsummary:");
    for (name, outcome, elapsed) in &results {
        let (label, time) = match outcome {
            Outcome::Ok => ("ok", format!("{:.1} s", elapsed.as_secs_f64())),
            Outcome::Failed => ("FAILED", format!("{:.1} s", elapsed.as_secs_f64())),
            Outcome::Skipped => ("skipped", String::new()),
        };
        println!("  {label:<8} {name:<12} {time:>8}");
    }
    println!("  total {:.1} s", started.elapsed().as_secs_f64());
    match failure {
        None => {
            println!("ci: all {} steps passed", STEPS.len());
            Ok(())
        }
        Some(message) => Err(Error::new(message)),
    }
}

/// `cargo fmt --all -- --check`.
fn fmt(root: &Path) -> Result {
    Cmd::cargo(&["fmt", "--all", "--", "--check"]).run(root)
}

/// `cargo clippy` on every target, warnings denied; `--locked` once `Cargo.lock` exists.
/// Twice: with every feature, then the crates that have features without them (what a
/// feature leaves out must build clean too).
fn clippy(root: &Path) -> Result {
    let without = ["-p", "multiproc", "-p", "multiproc-pool", "-p", "multiproc-executor"];
    for selection in [workspace_args(root), &without[..]] {
        let mut args = vec!["clippy"];
        args.extend(selection);
        args.push("--all-targets");
        if root.join("Cargo.lock").is_file() {
            args.push("--locked");
        }
        args.extend(["--", "-D", "warnings"]);
        Cmd::cargo(&args).run(root)?;
    }
    Ok(())
}

/// `cargo doc` with rustdoc warnings denied (broken links, missing code blocks, ...).
fn doc(root: &Path) -> Result {
    Cmd::cargo(&["doc", "--no-deps"])
        .args(workspace_args(root))
        .env("RUSTDOCFLAGS", "-D warnings")
        .run(root)
}

/// The test suite: nextest when installed, else `cargo test` (which is slower, not weaker).
/// With MPI installed, the MPI tests too (each runs its jobs under `multiproc-mpirun`
/// with a timeout).
fn tests(root: &Path) -> Result {
    if Cmd::cargo(&["nextest", "--version"]).succeeds_quietly(root) {
        Cmd::cargo(&["nextest", "run", "--no-fail-fast"]).args(workspace_args(root)).run(root)
    } else {
        println!("cargo-nextest is not installed: falling back to cargo test");
        Cmd::cargo(&["test", "--all-targets"]).args(workspace_args(root)).run(root)
    }
}

/// Doc tests, which nextest does not run.
fn doc_tests(root: &Path) -> Result {
    Cmd::cargo(&["test", "--doc"]).args(workspace_args(root)).run(root)
}

/// Every example, as `cargo xtask examples` runs them.
fn run_examples(root: &Path) -> Result {
    examples::run(root, &examples::Options::default())
}

/// The benchmark suite in its quick form, as `cargo xtask bench --quick` runs it.
fn bench_smoke(root: &Path) -> Result {
    bench::run(root, &bench::Options { quick: true, ..bench::Options::default() })
}
