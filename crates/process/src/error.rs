//! Typed errors: starting a child, and the life of a [`Process`](crate::Process).

use std::fmt;
use std::io;

use multiproc_codec::{BinaryFingerprint, CodecError, ErrorInfo, PanicInfo, RemoteFailure};

use crate::exit::ExitStatus;

/// A child process could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// Creating channels, forking or executing failed.
    Io(io::Error),
    /// The child exited before it finished starting (it printed why on its stderr).
    DiedDuringStartup(ExitStatus),
    /// The child runs a different binary than the parent: it called nothing.
    BinaryMismatch {
        /// This process's binary.
        parent: BinaryFingerprint,
        /// The child's binary.
        child: BinaryFingerprint,
    },
    /// A daemonic process may not start children (as in Python).
    Daemonic,
    /// The fork server failed to fork.
    ForkServer(String),
    /// This process has too few descriptors (or may start too few processes) for the
    /// children asked for: the resource, how many are needed, the limit, and (in the
    /// message) the fix.
    Exhausted {
        /// `"open file descriptors"` or `"processes"`.
        resource: &'static str,
        /// How many the children need in all, when known.
        needed: Option<u64>,
        /// The hard limit that stands in the way, when known.
        limit: Option<u64>,
    },
}

impl StartError {
    /// The typed form of an OS error that means descriptors ran out (`EMFILE`,
    /// `ENFILE`); any other stays [`Io`](Self::Io).
    pub(crate) fn from_os(e: io::Error) -> StartError {
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE) => StartError::exhausted("open file descriptors"),
            _ => StartError::Io(e),
        }
    }

    /// The typed form of a failed fork or spawn: there, `EAGAIN` means the processes ran
    /// out (elsewhere it means something else entirely, such as a socket with nothing to
    /// read); otherwise as [`from_os`](Self::from_os).
    pub(crate) fn from_fork(e: io::Error) -> StartError {
        match e.raw_os_error() {
            Some(libc::EAGAIN) => StartError::exhausted("processes"),
            _ => StartError::from_os(e),
        }
    }

    fn exhausted(resource: &'static str) -> StartError {
        StartError::Exhausted { resource, needed: None, limit: None }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Io(e) => write!(f, "cannot start a child process: {e}"),
            StartError::DiedDuringStartup(s) => {
                write!(f, "the child process exited during start-up with status {s}")
            }
            StartError::BinaryMismatch { parent, child } => write!(
                f,
                "the child runs a different binary (fingerprint {child}) than its parent ({parent}); nothing was called"
            ),
            StartError::Daemonic => {
                f.write_str("daemonic processes are not allowed to have children")
            }
            StartError::ForkServer(e) => write!(f, "the fork server could not fork: {e}"),
            StartError::Exhausted { resource, needed, limit } => {
                write!(f, "not enough {resource}")?;
                if let Some(needed) = needed {
                    write!(f, ": {needed} needed")?;
                }
                if let Some(limit) = limit {
                    write!(f, ", the hard limit is {limit}")?;
                }
                f.write_str(match *resource {
                    "processes" => "; raise `ulimit -u` (systemd: TasksMax=) or start fewer workers",
                    _ => "; raise the hard limit (`ulimit -Hn`, systemd: LimitNOFILE=) or start fewer workers",
                })
            }
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> StartError {
        StartError::from_os(e)
    }
}

impl From<multiproc_ipc::IpcError> for StartError {
    fn from(e: multiproc_ipc::IpcError) -> StartError {
        match e {
            multiproc_ipc::IpcError::Io(e) => StartError::from_os(e),
            e => StartError::Io(io::Error::other(e)),
        }
    }
}

/// What can go wrong with a [`Process`](crate::Process): misuse in Python's terms, a
/// failed start, or how the target ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// `join`, `terminate`, ... before `start`.
    NotStarted,
    /// `start` called twice. Python: "cannot start a process twice".
    AlreadyStarted,
    /// The process object was closed. Python: "process object is closed".
    Closed,
    /// `close` while the child runs. Python: "Cannot close a process while it is still running".
    StillRunning,
    /// `join` after the result was already taken by an earlier `join`.
    AlreadyJoined,
    /// `with_name` or `with_daemon` after `start`: the child already runs with the old
    /// setting. Python: "process has already started".
    AlreadyRunning {
        /// The setting that was refused (`"name"`, `"daemon"`).
        setting: &'static str,
    },
    /// The child could not be started.
    Start(StartError),
    /// The argument or the result could not be encoded or decoded, on either side (the
    /// error names the type and the direction); nothing was started if it was the argument.
    Codec(CodecError),
    /// The target returned an error (`Err(e)`): its type, message and `source()` chain.
    /// The child exited with code 1.
    Failed(ErrorInfo),
    /// The target panicked: message, location and backtrace from the child. The child
    /// exited with code 1.
    Panicked(PanicInfo),
    /// The child would not call the target: its identity or types did not match the
    /// child's binary, or its result was too large to send.
    Rejected(String),
    /// The child ended without delivering a result: it exited with a code or a signal
    /// killed it.
    Exited(ExitStatus),
}

impl ProcessError {
    /// The exit status, when the error is that the child ended without a result.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self {
            ProcessError::Exited(s) => Some(*s),
            _ => None,
        }
    }

    /// The panic, when the target panicked.
    pub fn panic(&self) -> Option<&PanicInfo> {
        match self {
            ProcessError::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::NotStarted => f.write_str("can only use a started process"),
            ProcessError::AlreadyStarted => f.write_str("cannot start a process twice"),
            ProcessError::Closed => f.write_str("process object is closed"),
            ProcessError::StillRunning => {
                f.write_str("cannot close a process while it is still running")
            }
            ProcessError::AlreadyJoined => f.write_str("the result was taken by an earlier join"),
            ProcessError::AlreadyRunning { setting } => {
                write!(f, "cannot set the {setting} of a process that has already started")
            }
            ProcessError::Start(e) => e.fmt(f),
            ProcessError::Codec(e) => e.fmt(f),
            ProcessError::Failed(e) => write!(f, "the target failed: {e}"),
            ProcessError::Panicked(p) => write!(f, "the target {p}"),
            ProcessError::Rejected(why) => f.write_str(why),
            ProcessError::Exited(s) => {
                write!(f, "the process ended without a result ({})", s.describe())
            }
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcessError::Start(e) => Some(e),
            ProcessError::Codec(e) => Some(e),
            ProcessError::Failed(e) => std::error::Error::source(e),
            _ => None,
        }
    }
}

impl From<RemoteFailure> for ProcessError {
    /// What the child reported instead of a value.
    fn from(failure: RemoteFailure) -> ProcessError {
        match failure {
            RemoteFailure::Failed(e) => ProcessError::Failed(e),
            RemoteFailure::Panicked(p) => ProcessError::Panicked(p),
            RemoteFailure::Codec(e) => ProcessError::Codec(e),
            other => ProcessError::Rejected(other.to_string()),
        }
    }
}

impl From<StartError> for ProcessError {
    fn from(e: StartError) -> ProcessError {
        ProcessError::Start(e)
    }
}
