//! The tidy rules: each `#[test]` walks the workspace and lists every offending `file:line`.
//!
//! Needles that would match this file are assembled from pieces, so the rules do not
//! trip over their own source.

use std::path::{Path, PathBuf};

use crate::cmd::workspace_root;

/// A text file of the workspace with its path relative to the root.
#[derive(Debug)]
pub(super) struct SourceFile {
    /// Path relative to the workspace root, `/`-separated.
    pub(super) path: String,
    /// The whole text.
    pub(super) text: String,
}

/// Every `.rs` file in the workspace, sorted by path, skipping target and hidden directories.
pub(super) fn rust_files() -> Vec<SourceFile> {
    let root = workspace_root();
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
            let relative = path.strip_prefix(&root).unwrap_or(&path);
            SourceFile { path: relative.to_string_lossy().replace('\\', "/"), text }
        })
        .collect()
}

/// Collects the files under `dir`; skips `.git` and other hidden directories, cargo
/// target directories (named `target` or holding cargo's `CACHEDIR.TAG`), and `vendor`
/// (third-party code, kept as its authors wrote it; see `vendor/*/PATCHES.md`).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()));
    for entry in entries {
        let path =
            entry.unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display())).path();
        let name =
            path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        if path.is_dir() {
            let skip = name.starts_with('.')
                || name == "target"
                || name == "vendor"
                || path.join("CACHEDIR.TAG").exists();
            if !skip {
                walk(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// Reads a file relative to the workspace root; a missing file fails the rule that needs it.
fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("tidy: cannot read {relative}: {err}"))
}

/// Fails with every violation of `rule`, one `file:line: what` per line.
pub(super) fn report(rule: &str, violations: &[String]) {
    assert!(
        violations.is_empty(),
        "tidy rule broken: {rule}\n{}\n",
        violations.iter().map(|v| format!("  {v}")).collect::<Vec<_>>().join("\n")
    );
}

/// Whether a line is a `//` comment (doc comments included).
fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

#[test]
fn every_rust_file_starts_with_a_doc_line() {
    let doc = ["//", "!"].concat();
    let violations: Vec<String> = rust_files()
        .iter()
        .filter(|file| !file.text.starts_with(&doc))
        .map(|file| {
            format!("{}:1: must start with a `{doc}` line saying what the file is", file.path)
        })
        .collect();
    report("every .rs file starts with a `//!` doc line (no blank lines before it)", &violations);
}

#[test]
fn no_ignored_tests() {
    let needle = ["#[", "ignore"].concat();
    let mut violations = Vec::new();
    for file in rust_files() {
        for (index, line) in file.text.lines().enumerate() {
            if line.contains(&needle) && !is_comment(line) {
                violations.push(format!("{}:{}: {}", file.path, index + 1, line.trim()));
            }
        }
    }
    report(
        "no ignored tests: fix the test, or delete it and say why in the CHANGELOG",
        &violations,
    );
}

#[test]
fn no_debugging_leftovers_in_library_code() {
    let needles =
        [["dbg", "!("].concat(), ["todo", "!("].concat(), ["unimplemented", "!("].concat()];
    let mut violations = Vec::new();
    for file in rust_files().iter().filter(|file| is_library_code(&file.path)) {
        for (index, line) in file.text.lines().enumerate() {
            // Test modules sit at the bottom of a file: everything after it is test code.
            if line.trim() == ["#[cfg(", "test)]"].concat() {
                break;
            }
            if let Some(needle) = needles.iter().find(|needle| line.contains(needle.as_str()))
                && !is_comment(line)
            {
                violations.push(format!("{}:{}: `{needle}` in library code", file.path, index + 1));
            }
        }
    }
    report("no dbg!, todo! or unimplemented! outside tests", &violations);
}

/// Non-test source of the library crates, the facade and the xtask.
fn is_library_code(path: &str) -> bool {
    let in_src = path.starts_with("src/")
        || path.starts_with("xtask/src/")
        || (path.starts_with("crates/") && path.split('/').nth(2) == Some("src"));
    let test_file = path.ends_with("/tests.rs") || path.contains("/tests/");
    in_src && !test_file
}

#[test]
fn changelog_has_an_unreleased_section() {
    let changelog = read("CHANGELOG.md");
    let violations = if changelog.lines().any(|line| line.trim_end() == "## [Unreleased]") {
        Vec::new()
    } else {
        vec!["CHANGELOG.md: no `## [Unreleased]` heading".to_owned()]
    };
    report("CHANGELOG.md keeps an `## [Unreleased]` section (Keep a Changelog)", &violations);
}

#[test]
fn every_crate_inherits_lints_and_version_from_the_workspace() {
    let root = workspace_root();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap_or_else(|err| panic!("cannot read crates/: {err}"))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    crates.sort();
    let mut violations = Vec::new();
    for dir in crates {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let relative = format!("crates/{name}/Cargo.toml");
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            violations.push(format!("{relative}: missing"));
            continue;
        };
        if !inherits(&manifest, "lints", "workspace") && !inherits(&manifest, "", "lints.workspace")
        {
            violations.push(format!("{relative}: missing `[lints] workspace = true`"));
        }
        if !inherits(&manifest, "package", "version.workspace") {
            violations.push(format!("{relative}: missing `version.workspace = true` in [package]"));
        }
    }
    report("crates/* take `[lints]` and `version` from the workspace", &violations);
}

/// Whether `manifest` sets `key = true` in `[section]` (`""` = before any header).
/// Spacing is free; `version = { workspace = true }` counts as `version.workspace = true`.
fn inherits(manifest: &str, section: &str, key: &str) -> bool {
    let mut current = String::new();
    for line in manifest.lines() {
        let line: String = line.split('#').next().unwrap_or_default().split_whitespace().collect();
        if line.starts_with('[') {
            current = line.trim_matches(['[', ']']).to_owned();
        } else if current == section {
            let inline = key
                .rsplit_once('.')
                .map(|(head, tail)| format!("{head}={{{tail}=true}}"))
                .unwrap_or_default();
            if line == format!("{key}=true") || line == inline {
                return true;
            }
        }
    }
    false
}

#[test]
fn readme_shows_the_two_commands_and_its_examples_exist() {
    let readme = read("README.md");
    let mut violations = Vec::new();
    for command in ["cargo run --release --example tour", "cargo xtask ci"] {
        if !readme.contains(command) {
            violations.push(format!("README.md: must show `{command}` verbatim"));
        }
    }
    let examples = crate::examples::discover(&workspace_root()).unwrap_or_default();
    for (index, line) in readme.lines().enumerate() {
        for (_, tail) in line.match_indices("--example ").map(|(at, _)| line.split_at(at + 10)) {
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            if !examples.contains(&name) {
                violations
                    .push(format!("README.md:{}: example `{name}` is not in examples/", index + 1));
            }
        }
    }
    report("the README's commands appear verbatim and work", &violations);
}

#[test]
fn every_example_is_listed_in_the_examples_readme() {
    let root = workspace_root();
    let listing = read("examples/README.md");
    let mut violations = Vec::new();
    for name in crate::examples::discover(&root).unwrap_or_default() {
        let file = format!("{name}.rs");
        let entry =
            if root.join("examples").join(&file).is_file() { file } else { format!("{name}/") };
        if !listing.contains(&entry) {
            violations.push(format!("examples/{entry}: not listed in examples/README.md"));
        }
    }
    for (index, line) in listing.lines().enumerate() {
        for (position, span) in line.split('`').enumerate() {
            let is_code = position % 2 == 1;
            let is_example_file = span.ends_with(".rs") && !span.contains(['/', ' ']);
            if is_code && is_example_file && !root.join("examples").join(span).is_file() {
                violations
                    .push(format!("examples/README.md:{}: `{span}` does not exist", index + 1));
            }
        }
    }
    report("examples/README.md lists every example on disk, and nothing else", &violations);
}

#[test]
fn the_manifest_rules_read_toml_as_written() {
    let manifest = "[package]\nversion.workspace = true # inherited\n\n[lints]\nworkspace=true\n";
    assert!(inherits(manifest, "package", "version.workspace"));
    assert!(inherits(manifest, "lints", "workspace"));
    assert!(inherits(
        "[package]\nversion = { workspace = true }\n",
        "package",
        "version.workspace"
    ));
    assert!(!inherits("[package]\nversion = \"0.1.0\"\n", "package", "version.workspace"));
    assert!(!inherits("[lints.rust]\nworkspace = true\n", "lints", "workspace"));
}

#[test]
fn the_facade_docs_walk_every_layer() {
    let facade = read("src/lib.rs");
    let docs: String = facade
        .lines()
        .filter(|line| line.starts_with("//!"))
        .map(|line| format!("{line}\n"))
        .collect();
    let root = workspace_root();
    let mut layers: Vec<String> = std::fs::read_dir(root.join("crates"))
        .unwrap_or_else(|err| panic!("cannot read crates/: {err}"))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    layers.sort();
    let violations: Vec<String> = layers
        .iter()
        .filter(|layer| {
            !docs.contains(&format!("[`{layer}`]"))
                && !docs.contains(&format!("`{layer}` (feature"))
        })
        .map(|layer| format!("src/lib.rs: the crate docs do not walk the `{layer}` layer"))
        .collect();
    report(
        "the facade's docs walk every layer of crates/ (a `[`name`]` link, or `name` (feature ...))",
        &violations,
    );
}
