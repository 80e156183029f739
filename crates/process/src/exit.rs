//! [`ExitStatus`]: how a child process ended.

use std::fmt;

/// How a process ended: it exited with a code, or a signal killed it.
///
/// Python folds both into `exitcode`, negative for a signal; [`ExitStatus::code`] does the
/// same and `Display` prints it that way:
///
/// ```
/// use multiproc::ExitStatus;
///
/// assert_eq!(ExitStatus::Code(7).to_string(), "7");
/// assert_eq!(ExitStatus::Signal(9).to_string(), "-9 (SIGKILL)");
/// assert_eq!(ExitStatus::Signal(15).code(), -15);
/// assert!(ExitStatus::Code(0).success());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl ExitStatus {
    /// Python's `exitcode`: the exit code, or minus the signal number.
    pub fn code(&self) -> i32 {
        match *self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => -s,
        }
    }

    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Code(0)
    }

    /// How the process ended, in words: `exit code 3`, `killed by signal 9 (SIGKILL)`.
    ///
    /// ```
    /// use multiproc::ExitStatus;
    ///
    /// assert_eq!(ExitStatus::Code(3).describe(), "exit code 3");
    /// assert_eq!(ExitStatus::Signal(9).describe(), "killed by signal 9 (SIGKILL)");
    /// ```
    pub fn describe(&self) -> String {
        match *self {
            ExitStatus::Code(c) => format!("exit code {c}"),
            ExitStatus::Signal(s) => format!("killed by signal {s} ({})", signal_name(s)),
        }
    }
}

/// The conventional name of a signal (`SIGKILL`), or `signal N`.
pub(crate) fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => return format!("signal {sig}"),
    };
    name.to_owned()
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitStatus::Code(c) => write!(f, "{c}"),
            ExitStatus::Signal(s) => write!(f, "-{s} ({})", signal_name(s)),
        }
    }
}
