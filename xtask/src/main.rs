//! `cargo xtask`: the one entry point for the project's tooling (ci, examples, bench, tidy).
//!
//! Run `cargo xtask help` for the subcommands. Every command echoes what it runs
//! (`==> cargo ...`), stops at the first failure and exits non-zero when anything failed.
//! The crate has no dependencies so that it builds in seconds on a fresh machine.

mod bench;
mod ci;
mod cmd;
mod examples;
mod tidy;

use std::process::ExitCode;

use cmd::{Error, Result};

/// The help text printed by `cargo xtask help` and after a usage error.
const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  ci                       fmt, clippy, docs, tests, doc tests, examples, tidy, benchmark smoke
  examples [NAME...]       build examples/*.rs in release and run each (or only NAME...)
      --timeout SECS       kill and fail an example that runs longer (default 120)
  bench                    run the benchmark suite (cargo bench)
      --quick              a short smoke run
      --workload W1,W3     only the targets that implement these BENCHMARKS.md workloads
      --json PATH          write the results as a JSON array, one object per figure
      --svg PATH           also write the chart to PATH (always: bench-results/bench.svg)
      --features LIST      compile the workloads with these features (progress,tracing)
  tidy                     check the house rules (cargo test -p xtask)
  help                     print this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Dispatches `args` (without the program name) to a subcommand.
fn run(args: &[String]) -> Result {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Err(Error::new("no command given"));
    };
    let root = cmd::workspace_root();
    match command.as_str() {
        "ci" => {
            no_arguments("ci", rest)?;
            ci::run(&root)
        }
        "examples" => examples::run(&root, &examples::Options::parse(rest)?),
        "bench" => bench::run(&root, &bench::Options::parse(rest)?),
        "tidy" => {
            no_arguments("tidy", rest)?;
            tidy::run(&root)
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("{USAGE}");
            Err(Error::new(format!("unknown command `{other}`")))
        }
    }
}

/// Fails when a subcommand that takes no arguments was given some.
fn no_arguments(command: &str, rest: &[String]) -> Result {
    match rest.first() {
        None => Ok(()),
        Some(arg) => Err(Error::new(format!("`{command}` takes no arguments, got `{arg}`"))),
    }
}

/// Splits `--flag=value` or `--flag value` off the front of an argument list.
///
/// Returns the value when `arg` is `flag`, reading the next argument for the
/// `--flag value` form; `None` when `arg` is some other argument.
fn flag_value(
    flag: &str,
    arg: &str,
    rest: &mut impl Iterator<Item = String>,
) -> Result<Option<String>> {
    if arg == flag {
        return rest.next().map(Some).ok_or_else(|| Error::new(format!("`{flag}` needs a value")));
    }
    Ok(arg.strip_prefix(flag).and_then(|tail| tail.strip_prefix('=')).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn unknown_commands_and_stray_arguments_are_errors() {
        assert!(run(&args(&["frobnicate"])).is_err());
        assert!(run(&args(&[])).is_err());
        assert!(run(&args(&["ci", "--fast"])).is_err());
        assert!(run(&args(&["help"])).is_ok());
    }

    #[test]
    fn flag_values_in_both_spellings() {
        let mut rest = args(&["W1"]).into_iter();
        assert_eq!(
            flag_value("--workload", "--workload", &mut rest).ok().flatten(),
            Some("W1".into())
        );
        let mut none = Vec::<String>::new().into_iter();
        assert_eq!(
            flag_value("--json", "--json=a.json", &mut none).ok().flatten(),
            Some("a.json".into())
        );
        assert_eq!(flag_value("--json", "--jsonx", &mut none).ok().flatten(), None);
        assert!(flag_value("--json", "--json", &mut none).is_err());
    }
}
