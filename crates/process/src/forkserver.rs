//! The fork server: one clean helper process, started by spawn, that forks workers on
//! request.
//!
//! It is single-threaded and holds nothing but its channel to the parent, so a fork of it
//! inherits no threads, locks or state of the user's program. It forks with
//! `CLONE_PARENT`, which makes each worker a direct child of the user's process: the
//! parent reaps it and reads its exit status like any other child. It exits when its
//! channel to the parent closes.
//!
//! Nothing is named: the parent sends each request over the server's own handoff, with the
//! sending end of a handoff made for that one worker; the worker inherits it by the fork
//! and hands its ends back over it. The parent takes the pid the server reports only if
//! it is an unreaped child of its own, so a server that lies cannot make it signal an
//! unrelated process.

use std::os::fd::{IntoRawFd, RawFd};
use std::sync::Mutex;

use multiproc_codec::{What, decode, encode};
use multiproc_ipc::{Channel, HandoffSender, handoff};

use crate::bootstrap::Role;
use crate::child::Child;
use crate::error::StartError;
use crate::protocol::{ForkRequest, Handshake, Link, link_pair};
use crate::start;
use crate::sys::{self, Forked, PerProcess};
use crate::{liveness, worker};

struct Server {
    _child: Child,
    /// Where requests go.
    requests: HandoffSender<ForkRequest>,
    /// Where the server answers each with the worker's pid, or why it could not fork.
    replies: Channel,
}

/// Per process: a forked child starts its own fork server, without waiting for a lock
/// its parent's threads may have held at the fork.
static SERVER: PerProcess<Mutex<Option<Server>>> = PerProcess::new();

/// Has the fork server fork a worker, and waits for it to hand its ends back.
pub(crate) fn start_child(name: &str) -> Result<(Child, Handshake), StartError> {
    let (tx, rx) = handoff::<Handshake>()?;
    let pid = request(tx)?;
    if !sys::is_unreaped_child(pid) {
        return Err(StartError::ForkServer(format!(
            "the fork server reported pid {pid}, which is not a child of this process"
        )));
    }
    let child = Child::new(pid, name.to_owned());
    let hs = start::accept(&rx, &child)?;
    Ok((child, hs))
}

fn request(handoff: HandoffSender<Handshake>) -> Result<u32, StartError> {
    let mut guard = SERVER.get(|| Mutex::new(None)).lock().unwrap_or_else(|e| e.into_inner());
    let me = std::process::id();
    let mut last_error = None;
    // A second attempt with a fresh server if the old one died.
    for _ in 0..2 {
        if guard.is_none() {
            let (child, hs) = start::spawn(Role::ForkServer, "ForkServer")?;
            let Some(requests) = hs.requests else {
                return Err(StartError::ForkServer("the fork server took no requests".into()));
            };
            *guard = Some(Server { _child: child, requests, replies: hs.channel });
        }
        let server = guard.as_ref().expect("a server was just set");
        let req = ForkRequest { handoff: handoff.clone(), parent: me };
        match server.requests.send(req).and_then(|()| server.replies.recv()) {
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

/// The fork server's life: hand the parent its ends, then fork on every request.
/// `liveness` is a reader of the parent's liveness pipe: the server opens one from it for
/// each worker (it watches its request channel itself).
pub(crate) fn connect_and_serve(parent: HandoffSender<Handshake>, liveness: RawFd) -> ! {
    if sys::set_cloexec(liveness).is_err() {
        sys::exit_now(71);
    }
    let (link, mut hs) = match link_pair(0, false) {
        Ok(pair) => pair,
        Err(_) => sys::exit_now(71),
    };
    let Ok((requests, inbox)) = handoff::<ForkRequest>() else { sys::exit_now(71) };
    hs.requests = Some(requests);
    if parent.send(hs).is_err() {
        sys::exit_now(71);
    }
    drop(parent);
    let Link { channel, progress, .. } = link;
    // Every worker forked from here inherits these, instead of computing them itself.
    crate::function::code_ranges();
    crate::binary::fingerprint();
    loop {
        let Ok(req) = inbox.recv() else { sys::exit_now(0) };
        let reply: Result<u32, String> = match liveness::reader(liveness) {
            Err(e) => Err(e.to_string()),
            Ok(reader) => match sys::fork_as_sibling() {
                Ok(Forked::Child) => {
                    drop(inbox);
                    drop(channel);
                    drop(progress);
                    sys::close_inherited(liveness);
                    sys::die_with_parent(req.parent);
                    worker::connect_and_run(req.handoff, reader.into_raw_fd())
                }
                Ok(Forked::Parent(pid)) => {
                    drop(reader); // the worker has its copy
                    drop(req); // and its sender: only it and the parent hold the handoff now
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
