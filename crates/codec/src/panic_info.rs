//! [`PanicInfo`]: a panic caught on the far side, as data.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a panic happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Source file.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A panic caught in another process: its message, location and backtrace text.
///
/// ```
/// use multiproc_codec::{Location, PanicInfo};
///
/// let p = PanicInfo {
///     message: "boom".into(),
///     location: Some(Location { file: "src/main.rs".into(), line: 3, column: 5 }),
///     backtrace: String::new(),
/// };
/// assert_eq!(p.to_string(), "panicked at src/main.rs:3:5: boom");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanicInfo {
    /// The panic message (the payload if it was a string).
    pub message: String,
    /// Where it panicked, if known.
    pub location: Option<Location>,
    /// The backtrace captured in the panicking process (empty if none was captured).
    pub backtrace: String,
}

impl fmt::Display for PanicInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "panicked at {loc}: {}", self.message),
            None => write!(f, "panicked: {}", self.message),
        }
    }
}
