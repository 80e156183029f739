//! The one error type of this crate: the peer is gone, the OS said no, or the bytes made no sense.

use std::error::Error;
use std::fmt;
use std::io;

/// What can go wrong on an ipc channel, a handoff or a shared-memory region.
///
/// The case that matters most is [`IpcError::Disconnected`]: the process at the other end
/// exited, was killed, or dropped its end. It is what `recv` and `send` return instead of
/// hanging or panicking when the peer dies.
///
/// ```
/// use multiproc_ipc::{IpcError, duplex};
///
/// let (parent, child) = duplex()?;
/// drop(child); // the "child process" is gone
/// let err = parent.recv().unwrap_err();
/// assert!(err.is_disconnected());
/// assert_eq!(err.to_string(), "the peer process disconnected");
/// # Ok::<(), IpcError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum IpcError {
    /// The peer closed its end of the channel: it exited, was killed, or dropped it.
    Disconnected,
    /// The operating system refused an operation (including `TimedOut` for a
    /// [`HandoffReceiver::accept`](crate::HandoffReceiver::accept) that waited too long).
    Io(io::Error),
    /// The peer sent bytes that do not follow this crate's wire protocol.
    Protocol(String),
    /// The peer sent something this end refuses to hold: a message whose header claims
    /// more than it can carry, a shared-memory descriptor that is not a memfd sealed
    /// against resizing, a region smaller than its header or above the bound of its kind,
    /// or more regions than a receiver keeps. The message is dropped, nothing is mapped.
    ///
    /// ```
    /// let err = multiproc_ipc::IpcError::Refused("a region of 0 bytes".into());
    /// assert_eq!(err.to_string(), "refused from the peer: a region of 0 bytes");
    /// ```
    Refused(String),
}

impl IpcError {
    /// Whether the peer process is gone (exited, killed, or dropped its end).
    #[must_use]
    pub fn is_disconnected(&self) -> bool {
        matches!(self, IpcError::Disconnected)
    }

    /// Maps an I/O error, recognising the ways a socket says that its peer is gone.
    pub(crate) fn from_io(err: io::Error) -> IpcError {
        let gone =
            matches!(
                err.raw_os_error(),
                Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::ECONNREFUSED)
            ) || matches!(err.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset);
        if gone { IpcError::Disconnected } else { IpcError::Io(err) }
    }

    /// Maps ipc-channel's error type (kept out of the public signatures).
    pub(crate) fn from_channel(err: ipc_channel::IpcError) -> IpcError {
        match err {
            ipc_channel::IpcError::Disconnected => IpcError::Disconnected,
            // Our copy of ipc-channel says EBADMSG when it refuses a message (a header
            // claiming more than it carries, a descriptor that is not a sealed memfd).
            ipc_channel::IpcError::Io(e) if e.raw_os_error() == Some(libc::EBADMSG) => {
                IpcError::Refused(format!("a message broke ipc-channel's framing: {e}"))
            }
            ipc_channel::IpcError::Io(e) => IpcError::from_io(e),
            ipc_channel::IpcError::SerializationError(e) => {
                IpcError::Protocol(format!("a message could not be decoded: {e}"))
            }
        }
    }

    /// Maps ipc-channel's non-blocking receive error; `None` means "nothing there".
    pub(crate) fn from_try_recv(err: ipc_channel::TryRecvError) -> Option<IpcError> {
        match err {
            ipc_channel::TryRecvError::Empty => None,
            ipc_channel::TryRecvError::IpcError(e) => Some(IpcError::from_channel(e)),
        }
    }
}

impl fmt::Display for IpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpcError::Disconnected => f.write_str("the peer process disconnected"),
            IpcError::Io(_) => f.write_str("an ipc operation failed"),
            IpcError::Protocol(what) => write!(f, "ipc protocol error: {what}"),
            IpcError::Refused(what) => write!(f, "refused from the peer: {what}"),
        }
    }
}

impl Error for IpcError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            IpcError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for IpcError {
    fn from(err: io::Error) -> IpcError {
        IpcError::from_io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_gone_errnos_are_disconnected() {
        for errno in [libc::EPIPE, libc::ECONNRESET] {
            assert!(IpcError::from_io(io::Error::from_raw_os_error(errno)).is_disconnected());
        }
        let other = IpcError::from_io(io::Error::from_raw_os_error(libc::EMFILE));
        assert!(!other.is_disconnected());
        assert!(other.source().is_some());
    }

    #[test]
    fn messages_are_lowercase_without_period() {
        for e in [
            IpcError::Disconnected,
            IpcError::Io(io::Error::other("x")),
            IpcError::Protocol("bad tag".into()),
            IpcError::Refused("a region of 0 bytes".into()),
        ] {
            let s = e.to_string();
            assert!(s.starts_with(|c: char| c.is_lowercase()), "{s}");
            assert!(!s.ends_with('.'), "{s}");
        }
    }
}
