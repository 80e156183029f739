//! The rendezvous of a freshly exec'd child with its parent: a one-shot server and its client.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcOneShotServer, IpcSender};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::IpcError;

/// How often [`BootstrapServer::accept`] asks `keep_waiting`.
const POLL: Duration = Duration::from_millis(10);
/// How long a cancelled accept waits for its helper thread to notice.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// A one-shot rendezvous for a child process that was started by `exec`: the parent creates
/// it and passes its name to the child (in the environment, say); the child calls
/// [`bootstrap_connect`] once with a value — typically its end of a [`duplex`](crate::duplex)
/// channel, or a [`Sender`](crate::Sender) — and the parent [`accept`](Self::accept)s it.
///
/// Unlike a bare ipc-channel one-shot server, `accept` cannot hang: it gives up when the
/// child is gone or a timeout passes.
///
/// ```
/// use std::time::Duration;
/// use multiproc_ipc::{BootstrapServer, bootstrap_connect};
///
/// let (server, name) = BootstrapServer::<u64>::new()?;
/// // In real use the child process does this, with `name` from its environment.
/// std::thread::spawn(move || bootstrap_connect(&name, 42u64));
/// assert_eq!(server.accept(Duration::from_secs(10), || true)?, 42);
/// # Ok::<(), multiproc_ipc::IpcError>(())
/// ```
pub struct BootstrapServer<T> {
    server: IpcOneShotServer<Option<T>>,
    name: String,
    value: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> BootstrapServer<T> {
    /// Creates the server (a socket in a fresh temporary directory, removed on drop) and
    /// returns the name the child must connect to.
    ///
    /// # Errors
    ///
    /// [`IpcError::Io`] when the socket or directory cannot be created.
    pub fn new() -> Result<(BootstrapServer<T>, String), IpcError> {
        let (server, name) = IpcOneShotServer::new().map_err(IpcError::Io)?;
        Ok((BootstrapServer { server, name: name.clone(), value: PhantomData }, name))
    }

    /// Waits for the child's one value.
    ///
    /// `keep_waiting` is asked every 10 ms; return `false` from it (e.g. when the child has
    /// already exited) to end the wait. The blocking accept runs on a helper thread that
    /// this call wakes and joins when it gives up, so no thread is left behind (except
    /// while a client that connected never sends: that thread ends when the client does).
    ///
    /// # Errors
    ///
    /// - [`IpcError::Disconnected`] when `keep_waiting` said stop, or the client went away
    ///   without sending;
    /// - [`IpcError::Io`] with [`io::ErrorKind::TimedOut`] when `timeout` passed;
    /// - [`IpcError::Protocol`] when the value could not be decoded (wrong type).
    pub fn accept(
        self,
        timeout: Duration,
        mut keep_waiting: impl FnMut() -> bool,
    ) -> Result<T, IpcError>
    where
        T: Send + 'static,
    {
        let deadline = Instant::now() + timeout;
        let (done_tx, done_rx) = mpsc::channel();
        let server = self.server;
        let helper = thread::Builder::new()
            .name("multiproc-bootstrap".into())
            .spawn(move || {
                let got = server.accept().map(|(_rx, value)| value);
                let _ = done_tx.send(got);
            })
            .map_err(IpcError::Io)?;

        let give_up = loop {
            let now = Instant::now();
            match done_rx.recv_timeout(POLL.min(deadline.saturating_duration_since(now))) {
                Ok(got) => {
                    let _ = helper.join();
                    return finish(got);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = helper.join();
                    return Err(IpcError::Io(io::Error::other("the bootstrap thread panicked")));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if Instant::now() >= deadline {
                        break IpcError::Io(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no child connected within {timeout:?}"),
                        ));
                    }
                    if !keep_waiting() {
                        break IpcError::Disconnected;
                    }
                }
            }
        };

        // Wake the helper by being the client ourselves, with the "cancelled" marker.
        if let Ok(waker) = IpcSender::<Option<T>>::connect(self.name) {
            let _ = waker.send(None);
        }
        match done_rx.recv_timeout(CANCEL_GRACE) {
            Ok(got) => {
                let _ = helper.join();
                // The child may have won the race against the cancel: take its value.
                match got {
                    Ok(Some(value)) => Ok(value),
                    _ => Err(give_up),
                }
            }
            Err(_) => Err(give_up),
        }
    }
}

fn finish<T>(got: Result<Option<T>, ipc_channel::IpcError>) -> Result<T, IpcError> {
    match got {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(IpcError::Protocol("the bootstrap client sent no value".into())),
        Err(e) => Err(IpcError::from_channel(e)),
    }
}

impl<T> fmt::Debug for BootstrapServer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapServer").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The child's side of a [`BootstrapServer`]: connects to `name` and sends `value` once.
///
/// `value` may carry channel ends ([`Channel`](crate::Channel), [`Sender`](crate::Sender),
/// [`Receiver`](crate::Receiver)) and [`SharedWords`](crate::SharedWords): their
/// descriptors go with it. `T` must be the server's type.
///
/// # Errors
///
/// [`IpcError::Disconnected`] when the server is gone (the parent gave up or died);
/// [`IpcError::Io`] for other failures.
pub fn bootstrap_connect<T: Serialize>(name: &str, value: T) -> Result<(), IpcError> {
    let sender = IpcSender::<Option<T>>::connect(name.to_owned()).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            IpcError::Disconnected
        } else {
            IpcError::from_io(e)
        }
    })?;
    sender.send(Some(value)).map_err(IpcError::from_channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_waiting_false_ends_the_wait() {
        let (server, _name) = BootstrapServer::<u32>::new().unwrap();
        let start = Instant::now();
        let err = server.accept(Duration::from_secs(30), || false).unwrap_err();
        assert!(err.is_disconnected(), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn connect_to_a_missing_server_is_disconnected() {
        let err = bootstrap_connect("/nonexistent/multiproc/socket", 1u8).unwrap_err();
        assert!(err.is_disconnected(), "{err:?}");
    }
}
