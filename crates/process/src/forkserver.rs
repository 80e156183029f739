//! The fork server: one clean helper process, started by spawn, that forks workers on
//! request.
//!
//! It is single-threaded and holds nothing but its channel to the parent, so a fork of it
//! inherits no threads, locks or state of the user's program. It forks with
//! `CLONE_PARENT`, which makes each worker a direct child of the user's process: the
//! parent reaps it and reads its exit status like any other child. It exits when its
//! channel to the parent closes.

use std::os::fd::{IntoRawFd, RawFd};
use std::sync::Mutex;

use multiproc_codec::{What, decode, encode};
use multiproc_ipc::{BootstrapServer, Channel, bootstrap_connect};

use crate::bootstrap::Role;
use crate::child::Child;
use crate::error::StartError;
use crate::protocol::{ForkRequest, Handshake, Link, link_pair};
use crate::start;
use crate::sys::{self, Forked, PerProcess};
use crate::{liveness, worker};

struct Server {
    _child: Child,
    channel: Channel,
}

/// Per process: a forked child starts its own fork server, without waiting for a lock
/// its parent's threads may have held at the fork.
static SERVER: PerProcess<Mutex<Option<Server>>> = PerProcess::new();

/// Has the fork server fork a worker, and waits for it to connect back.
pub(crate) fn start_child(name: &str) -> Result<(Child, Handshake), StartError> {
    let (bootstrap, server_name) = BootstrapServer::<Handshake>::new()?;
    let pid = request(&server_name)?;
    let child = Child::new(pid, name.to_owned());
    let hs = start::accept(bootstrap, &child)?;
    Ok((child, hs))
}

fn request(server_name: &str) -> Result<u32, StartError> {
    let me = std::process::id();
    let mut msg = Vec::new();
    encode(&ForkRequest { server: server_name.to_owned(), parent: me }, What::Message, &mut msg)
        .map_err(|e| StartError::ForkServer(e.to_string()))?;
    let mut guard = SERVER.get(|| Mutex::new(None)).lock().unwrap_or_else(|e| e.into_inner());
    let mut last_error = None;
    // A second attempt with a fresh server if the old one died.
    for _ in 0..2 {
        if guard.is_none() {
            let (child, hs) = start::spawn(Role::ForkServer, "ForkServer")?;
            *guard = Some(Server { _child: child, channel: hs.channel });
        }
        let server = guard.as_ref().expect("a server was just set");
        match server.channel.send(&msg).and_then(|()| server.channel.recv()) {
            Ok(reply) => {
                return match decode::<Result<u32, String>>(&reply, What::Message) {
                    Ok(Ok(pid)) => Ok(pid),
                    Ok(Err(e)) => Err(StartError::ForkServer(e)),
                    Err(e) => Err(StartError::ForkServer(e.to_string())),
                };
            }
            Err(e) => {
                last_error = Some(e);
                *guard = None;
            }
        }
    }
    Err(StartError::ForkServer(format!(
        "the fork server went away: {}",
        last_error.map_or_else(String::new, |e| e.to_string())
    )))
}

/// The fork server's life: connect back, then fork on every request. `liveness` is a
/// reader of the parent's liveness pipe: the server opens one from it for each worker (it
/// watches its request channel itself).
pub(crate) fn connect_and_serve(server: &str, liveness: RawFd) -> ! {
    if sys::set_cloexec(liveness).is_err() {
        sys::exit_now(71);
    }
    let (link, hs) = match link_pair(0, false) {
        Ok(pair) => pair,
        Err(_) => sys::exit_now(71),
    };
    if bootstrap_connect(server, hs).is_err() {
        sys::exit_now(71);
    }
    let Link { channel, progress, .. } = link;
    // Every worker forked from here inherits these, instead of computing them itself.
    crate::function::code_ranges();
    crate::binary::fingerprint();
    loop {
        let Ok(msg) = channel.recv() else { sys::exit_now(0) };
        let Ok(req) = decode::<ForkRequest>(&msg, What::Message) else { sys::exit_now(3) };
        drop(msg);
        let reply: Result<u32, String> = match liveness::reader(liveness) {
            Err(e) => Err(e.to_string()),
            Ok(reader) => match sys::fork_as_sibling() {
                Ok(Forked::Child) => {
                    drop(channel);
                    drop(progress);
                    sys::close_inherited(liveness);
                    sys::die_with_parent(req.parent);
                    worker::connect_and_run(&req.server, reader.into_raw_fd())
                }
                Ok(Forked::Parent(pid)) => {
                    drop(reader); // the worker has its copy
                    Ok(pid)
                }
                Err(e) => Err(e.to_string()),
            },
        };
        let mut out = Vec::new();
        if encode(&reply, What::Message, &mut out).is_err() || channel.send(&out).is_err() {
            sys::exit_now(0);
        }
    }
}
