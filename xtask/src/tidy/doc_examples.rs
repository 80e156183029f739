//! The tidy rule that every public method of the types users call most — `Process`,
//! `Pool`, `AsyncResult`, `IMap`, `ProcessPoolExecutor`, `Future` — and the functions
//! `as_completed` and `wait` has a runnable example in its docs (a code block that is
//! neither `ignore`, `no_run`, `compile_fail` nor text).
//!
//! The source is read as text: inherent `impl` blocks of those types (not trait impls),
//! their `pub fn`s at the block's top level, and the `///` lines above each.

use super::rules::{SourceFile, report, rust_files};

/// The types whose public methods must each show an example.
const TYPES: &[&str] = &["Process", "Pool", "AsyncResult", "IMap", "ProcessPoolExecutor", "Future"];

/// The free functions that must show one.
const FUNCTIONS: &[&str] = &["as_completed", "wait"];

/// Where the types live: the library crates.
fn in_scope(path: &str) -> bool {
    path.starts_with("crates/") && path.contains("/src/") && !path.contains("/bin/")
}

/// The type an `impl` header is for, if it is an inherent impl (`impl<T> Name<T> where ..`).
fn inherent_impl_type(header: &str) -> Option<&str> {
    let rest = header.trim_start().strip_prefix("impl")?;
    if header.contains(" for ") {
        return None;
    }
    let mut rest = rest.trim_start();
    if rest.starts_with('<') {
        let mut depth = 0;
        let end = rest.char_indices().find_map(|(i, c)| {
            match c {
                '<' => depth += 1,
                '>' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(i + 1)
        })?;
        rest = rest[end..].trim_start();
    }
    let name_len = rest.find(|c: char| !c.is_alphanumeric() && c != '_').unwrap_or(rest.len());
    Some(&rest[..name_len])
}

/// The line with string and char literals blanked out, so that braces in them do not count.
fn code_only(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => in_string = false,
            (true, _) => {}
            (false, '"') => in_string = true,
            (false, '\'') if chars.peek().is_some_and(|&n| n == '{' || n == '}') => {
                chars.next();
            }
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, c) => out.push(c),
        }
    }
    out
}

/// Whether the doc lines (top to bottom) hold a runnable code block: one whose opening
/// fence names none of `ignore`, `no_run`, `compile_fail` or another language.
fn has_runnable_example(docs: &[&str]) -> bool {
    let skip = ["ignore", "no_run", "compile_fail", "text", "sh", "toml"];
    let mut open = false;
    for line in docs {
        let text = line.trim_start().trim_start_matches("///").trim();
        let Some(info) = text.strip_prefix("```") else { continue };
        open = !open;
        if open && info.split(',').all(|word| !skip.contains(&word.trim())) {
            return true;
        }
    }
    false
}

/// The doc lines right above line `index`, top to bottom (attributes in between are
/// skipped); `None` for an item hidden from the docs (`#[doc(hidden)]`).
fn docs_above<'a>(lines: &[&'a str], index: usize) -> Option<Vec<&'a str>> {
    let mut docs = Vec::new();
    for line in lines[..index].iter().rev() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("///") {
            docs.push(*line);
        } else if trimmed.starts_with("#[doc(hidden)]") {
            return None;
        } else if !trimmed.starts_with("#[") {
            break;
        }
    }
    docs.reverse();
    Some(docs)
}

/// `file:line: what` for every public method or function of the list without an example.
fn missing_examples(file: &SourceFile) -> Vec<String> {
    let lines: Vec<&str> = file.text.lines().collect();
    let mut out = Vec::new();
    let mut impl_type: Option<(String, i32)> = None; // the type, and the block's depth
    let mut depth = 0i32;
    let mut header = String::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") && impl_type.is_none() && depth == 0 {
            break; // the test module ends the library code
        }
        if impl_type.is_none() && (trimmed.starts_with("impl") || !header.is_empty()) {
            header.push_str(trimmed);
            header.push(' ');
            if trimmed.contains('{') || trimmed.ends_with(';') {
                if let Some(name) = inherent_impl_type(&header)
                    && TYPES.contains(&name)
                {
                    impl_type = Some((name.to_owned(), depth + 1));
                }
                header.clear();
            }
        }
        let at_top = match &impl_type {
            Some((_, block)) => depth == *block,
            None => depth == 0,
        };
        if at_top && let Some(rest) = trimmed.strip_prefix("pub fn ") {
            let name: String =
                rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let owner = match &impl_type {
                Some((ty, _)) => Some(format!("{ty}::{name}")),
                None if FUNCTIONS.contains(&name.as_str()) => Some(name.clone()),
                None => None,
            };
            if let Some(owner) = owner
                && docs_above(&lines, i).is_some_and(|docs| !has_runnable_example(&docs))
            {
                out.push(format!("{}:{}: `{owner}` has no runnable example", file.path, i + 1));
            }
        }
        let code = code_only(line);
        depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
        if impl_type.as_ref().is_some_and(|(_, block)| depth < *block) {
            impl_type = None;
        }
    }
    out
}

#[test]
fn every_public_method_of_the_main_types_has_a_runnable_example() {
    let violations: Vec<String> = rust_files()
        .iter()
        .filter(|file| in_scope(&file.path))
        .flat_map(missing_examples)
        .collect();
    report(
        &format!(
            "every public method of {} and the functions {} has a runnable doc example \
             ({} without one)",
            TYPES.join(", "),
            FUNCTIONS.join(", "),
            violations.len()
        ),
        &violations,
    );
}

#[test]
fn the_rule_reads_impl_blocks_and_examples_as_written() {
    assert_eq!(inherent_impl_type("impl<R: Send + 'static> Future<R> {"), Some("Future"));
    assert_eq!(inherent_impl_type("impl Pool {"), Some("Pool"));
    assert_eq!(inherent_impl_type("impl<R> Drop for Future<R> {"), None);
    assert_eq!(code_only(r#"let s = "{x}"; // {"#), "let s = ; ");
    let text = [
        "impl<T> Pool<T> where T: Send {",
        "    /// ```",
        "    /// let x = { 1 };",
        "    /// ```",
        "    pub fn shown(&self) {",
        "        let s = \"}\";",
        "    }",
        "    /// ```ignore",
        "    /// ```",
        "    pub fn hidden(&self) {}",
        "    #[doc(hidden)]",
        "    pub fn test_hook(&self) {}",
        "    fn private(&self) {}",
        "}",
        "pub fn wait() {}",
        "pub fn other() {}",
    ]
    .join("\n");
    let file = SourceFile { path: "crates/x/src/y.rs".into(), text };
    assert_eq!(
        missing_examples(&file),
        [
            "crates/x/src/y.rs:10: `Pool::hidden` has no runnable example",
            "crates/x/src/y.rs:15: `wait` has no runnable example"
        ]
    );
}
