//! How a child that is starting up hands its first value (its channel ends) to its parent:
//! over a channel the parent made and the child inherited, never over anything named.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::IpcError;
use crate::sys::inherit;

/// How often [`HandoffReceiver::accept`] asks `keep_waiting`.
const POLL: Duration = Duration::from_millis(10);

/// A one-way channel of `T`s, made before the child that will send on it exists: the
/// parent keeps the [`HandoffReceiver`], the child gets the [`HandoffSender`] by
/// inheritance (by `fork`, or across `exec` with [`HandoffSender::pass_to`] and
/// [`HandoffSender::from_inherited`]) or inside another handoff's value. Nothing is
/// named, so no other process can connect, race the child or read what it sends.
///
/// Values may carry channel ends ([`Channel`](crate::Channel), [`Sender`](crate::Sender),
/// [`Receiver`](crate::Receiver)), rings and handoff senders: their descriptors go with
/// them.
///
/// ```
/// use std::time::Duration;
/// use multiproc_ipc::handoff;
///
/// let (tx, rx) = handoff::<u64>()?;
/// // In real use a child process does this, with the sender it inherited.
/// std::thread::spawn(move || tx.send(42));
/// assert_eq!(rx.accept(Duration::from_secs(10), || true)?, 42);
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
///
/// # Errors
///
/// [`IpcError::Io`] when the socket pair cannot be created.
pub fn handoff<T: Serialize + DeserializeOwned>()
-> Result<(HandoffSender<T>, HandoffReceiver<T>), IpcError> {
    let (sender, receiver) = ipc::channel().map_err(IpcError::Io)?;
    Ok((HandoffSender { sender }, HandoffReceiver { receiver }))
}

/// The sending end of a [`handoff`]: it can travel inside values sent over ipc channels.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct HandoffSender<T> {
    sender: IpcSender<T>,
}

impl<T: Serialize + DeserializeOwned> HandoffSender<T> {
    /// Sends `value` to the receiver.
    ///
    /// # Errors
    ///
    /// [`IpcError::Disconnected`] when the receiver is gone; [`IpcError::Io`] otherwise.
    pub fn send(&self, value: T) -> Result<(), IpcError> {
        self.sender.send(value).map_err(IpcError::from_channel)
    }

    /// Makes the child that `cmd` will start inherit this sender across `exec`, and
    /// returns the descriptor number to tell it (for [`from_inherited`](Self::from_inherited)).
    /// Keep `self` until the child has started; no other child inherits it.
    ///
    /// # Errors
    ///
    /// [`IpcError::Io`] when the descriptor cannot be found.
    pub fn pass_to(&self, cmd: &mut Command) -> Result<RawFd, IpcError> {
        let fd = descriptor(&self.sender)?;
        inherit::inherit_on_exec(cmd, fd);
        Ok(fd)
    }

    /// In a child started by `exec`: takes over the sender it inherited as descriptor `fd`,
    /// provided that `fd` is the sending end of a handoff made by the process `parent`,
    /// running as this process's user. Call it once, before the process has threads that
    /// may start processes.
    ///
    /// # Errors
    ///
    /// [`IpcError::Protocol`] when `fd` is not such a descriptor (nothing is sent to it);
    /// [`IpcError::Io`] when the checks or the takeover fail.
    pub fn from_inherited(fd: RawFd, parent: u32) -> Result<HandoffSender<T>, IpcError> {
        let peer = inherit::seqpacket_peer(fd).map_err(|e| {
            IpcError::Protocol(format!("descriptor {fd} is not an inherited handoff: {e}"))
        })?;
        if peer.pid != parent || peer.uid != inherit::effective_uid() {
            return Err(IpcError::Protocol(format!(
                "descriptor {fd} was made by pid {} (uid {}), not by the parent {parent}",
                peer.pid, peer.uid
            )));
        }
        // ipc-channel cannot wrap a descriptor: make a sender, then put ours in its place.
        let (sender, _receiver) = ipc::channel::<T>().map_err(IpcError::Io)?;
        inherit::move_descriptor(fd, descriptor(&sender)?).map_err(IpcError::Io)?;
        Ok(HandoffSender { sender })
    }
}

/// The descriptor behind an ipc-channel sender. ipc-channel 0.23 exposes it nowhere but in
/// its `Debug` form, `... OsIpcSender { fd: SharedFileDescriptor(N) } ...` (a unit test
/// pins that form); the number is checked to be such a socket before it is used.
fn descriptor<T: Serialize>(sender: &IpcSender<T>) -> Result<RawFd, IpcError> {
    // The opaque form shares the descriptor and shows it whatever `T` is.
    let shown = format!("{:?}", sender.clone().to_opaque());
    let fd = shown
        .split_once("SharedFileDescriptor(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(number, _)| number.parse::<RawFd>().ok())
        .ok_or_else(|| {
            IpcError::Io(io::Error::other(format!("no descriptor in ipc-channel's {shown:?}")))
        })?;
    inherit::seqpacket_peer(fd).map_err(IpcError::Io)?;
    Ok(fd)
}

impl<T: Serialize> Clone for HandoffSender<T> {
    fn clone(&self) -> Self {
        HandoffSender { sender: self.sender.clone() }
    }
}

impl<T> fmt::Debug for HandoffSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandoffSender").finish_non_exhaustive()
    }
}

/// The receiving end of a [`handoff`], kept by the process that made it.
pub struct HandoffReceiver<T> {
    receiver: IpcReceiver<T>,
}

impl<T: Serialize + DeserializeOwned> HandoffReceiver<T> {
    /// Waits for the next value, for as long as it takes.
    ///
    /// # Errors
    ///
    /// [`IpcError::Disconnected`] when every sender is gone; [`IpcError::Protocol`] when
    /// the value could not be decoded.
    pub fn recv(&self) -> Result<T, IpcError> {
        self.receiver.recv().map_err(IpcError::from_channel)
    }

    /// Waits for the child's value, without ever hanging: `keep_waiting` is asked every
    /// 10 ms (return `false` from it, e.g. when the child has exited, to stop).
    ///
    /// # Errors
    ///
    /// - [`IpcError::Disconnected`] when `keep_waiting` said stop, or every sender is gone;
    /// - [`IpcError::Io`] with [`io::ErrorKind::TimedOut`] when `timeout` passed;
    /// - [`IpcError::Protocol`] when the value could not be decoded (wrong type).
    pub fn accept(
        &self,
        timeout: Duration,
        mut keep_waiting: impl FnMut() -> bool,
    ) -> Result<T, IpcError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.receiver.try_recv_timeout(POLL.min(left)) {
                Ok(value) => return Ok(value),
                Err(e) => {
                    if let Some(e) = IpcError::from_try_recv(e) {
                        return Err(e);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(IpcError::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no value came within {timeout:?}"),
                )));
            }
            if !keep_waiting() {
                return Err(IpcError::Disconnected);
            }
        }
    }
}

impl<T> fmt::Debug for HandoffReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandoffReceiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_waiting_false_ends_the_wait() {
        let (_tx, rx) = handoff::<u32>().unwrap();
        let start = Instant::now();
        let err = rx.accept(Duration::from_secs(30), || false).unwrap_err();
        assert!(err.is_disconnected(), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_dropped_sender_is_disconnected() {
        let (tx, rx) = handoff::<u32>().unwrap();
        drop(tx);
        assert!(rx.accept(Duration::from_secs(30), || true).unwrap_err().is_disconnected());
    }

    /// Pins the `Debug` form of ipc-channel's sender that `descriptor` reads.
    #[test]
    fn the_descriptor_of_a_sender_is_found() {
        let (tx, rx) = handoff::<u32>().unwrap();
        let fd = descriptor(&tx.sender).unwrap();
        let me = std::process::id();
        assert_eq!(inherit::seqpacket_peer(fd).unwrap().pid, me);
        // Taken over as if inherited: the value still reaches the receiver.
        let copy = crate::sys::inherit::duplicate(fd);
        let adopted = HandoffSender::<u32>::from_inherited(copy, me).unwrap();
        adopted.send(7).unwrap();
        assert_eq!(rx.recv().unwrap(), 7);
    }

    #[test]
    fn a_descriptor_that_is_no_socket_is_refused() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let err = HandoffSender::<u32>::from_inherited(fd, std::process::id()).unwrap_err();
        assert!(matches!(err, IpcError::Protocol(_)), "{err:?}");
    }

    #[test]
    fn a_socket_from_another_process_is_refused() {
        let (tx, _rx) = handoff::<u32>().unwrap();
        let fd = descriptor(&tx.sender).unwrap();
        let err = HandoffSender::<u32>::from_inherited(fd, 1).unwrap_err();
        assert!(matches!(err, IpcError::Protocol(_)), "{err:?}");
    }
}
