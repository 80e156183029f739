//! `cargo xtask tidy`: the house rules, which are ordinary `#[test]`s in `tidy/rules.rs`.

use std::path::Path;

use crate::cmd::{Cmd, Result};

/// Runs the xtask crate's tests, the tidy rules among them.
pub(crate) fn run(root: &Path) -> Result {
    Cmd::cargo(&["test", "-p", "xtask", "--quiet"]).run(root)
}

#[cfg(test)]
mod doc_examples;
#[cfg(test)]
mod rules;
