//! Starting a child by each start method, up to the point where parent and child hold
//! the two ends of one long-lived channel and the child has said hello.

use std::convert::Infallible;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use multiproc_codec::{BinaryFingerprint, Control, Frame, What, encode, parse};
use multiproc_ipc::{Channel, HandoffReceiver, Ring, SharedWords, handoff};

use crate::bootstrap::{self, Role};
use crate::child::Child;
use crate::context::{Context, StartMethod};
use crate::error::StartError;
use crate::limits::Limits;
use crate::protocol::{Boot, Handshake, Job, Link, link_pair};
use crate::sys::{self, Forked};
use crate::{binary, forkserver, function, identity, inherit, launcher, liveness, worker};

/// How long a freshly started child may take to hand its ends back.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the caller wants the child to be.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub name: String,
    pub identity: Vec<u32>,
    pub daemon: bool,
    pub job: Job,
    pub stamp_items: bool,
    pub limits: Limits,
    /// Test hook: boot the child as if this process ran another binary.
    pub forged_binary: Option<BinaryFingerprint>,
}

/// A booted child and the parent's ends.
#[derive(Debug)]
pub(crate) struct Started {
    pub child: Child,
    pub channel: Channel,
    pub progress: SharedWords,
    pub ring: Option<Ring>,
}

/// Starts a child that runs `spec.job`.
pub(crate) fn start(ctx: Context, spec: Spec) -> Result<Started, StartError> {
    preflight()?;
    let method = ctx.start_method();
    let (child, hs) = match method {
        StartMethod::Spawn => spawn(Role::Worker, &spec.name)?,
        StartMethod::ForkServer => forkserver::start_child(&spec.name)?,
        // A forked child is a copy of this very image: it takes its boot record from
        // memory, with no message and no handshake round trip (unless a test forges a
        // binary fingerprint, which only the handshake can catch).
        StartMethod::Fork if spec.forged_binary.is_none() => {
            let record = boot_record(method, &spec);
            let (child, hs) = fork(&spec, move |link| {
                inherit::run_fork_child_hooks();
                worker::run(link, Some(record))
            })?;
            return Ok(started_without_handshake(child, hs));
        }
        StartMethod::Fork => fork(&spec, |link| {
            inherit::run_fork_child_hooks();
            worker::run(link, None)
        })?,
    };
    boot(child, hs, &boot_record(method, &spec))
}

/// Forks a child that runs `body` once booted (for [`Process::fork`](crate::Process::fork)).
pub(crate) fn start_forked(
    spec: Spec,
    body: impl FnOnce(Link, Boot) -> Infallible + Send + 'static,
) -> Result<Started, StartError> {
    preflight()?;
    let record = boot_record(StartMethod::Fork, &spec);
    let (child, hs) = fork(&spec, move |link| body(link, record))?;
    Ok(started_without_handshake(child, hs))
}

fn started_without_handshake(child: Child, hs: Handshake) -> Started {
    Started { child, channel: hs.channel, progress: hs.progress, ring: hs.ring }
}

/// What the child learns about itself at boot.
fn boot_record(method: StartMethod, spec: &Spec) -> Boot {
    if method == StartMethod::Fork {
        function::code_ranges(); // inherited by the child, ready for its first call
    }
    let me = identity::current_process();
    Boot {
        binary: spec.forged_binary.unwrap_or_else(binary::fingerprint),
        job: spec.job,
        name: spec.name.clone(),
        identity: spec.identity.clone(),
        daemon: spec.daemon,
        parent_name: me.name,
        parent_pid: me.pid,
        method,
        stamp_items: spec.stamp_items,
        limits: spec.limits,
        function_key: function::function_key(),
    }
}

fn preflight() -> Result<(), StartError> {
    bootstrap::guard();
    if identity::is_daemon() {
        return Err(StartError::Daemonic);
    }
    Ok(())
}

/// Sends the boot message and waits for the child's hello.
fn boot(child: Child, hs: Handshake, boot: &Boot) -> Result<Started, StartError> {
    let expected = boot.binary;
    let mut buf = Vec::new();
    encode(boot, What::Message, &mut buf).map_err(|e| StartError::Io(io::Error::other(e)))?;
    let hello = hs.channel.send(&buf).and_then(|()| hs.channel.recv());
    let died = |child: &Child| match child.wait_timeout(Duration::from_secs(5)) {
        Ok(Some(status)) => StartError::DiedDuringStartup(status),
        _ => StartError::Io(io::Error::other("the child stopped answering during start-up")),
    };
    let msg = match hello {
        Ok(msg) => msg,
        Err(_) => return Err(died(&child)),
    };
    match parse(&msg) {
        Ok(Frame::Control(Control::Hello { binary, .. })) if binary == expected => {}
        Ok(Frame::Control(Control::Hello { binary, .. })) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StartError::BinaryMismatch { parent: expected, child: binary });
        }
        _ => {
            let _ = child.kill();
            return Err(died(&child));
        }
    }
    Ok(Started { child, channel: hs.channel, progress: hs.progress, ring: hs.ring })
}

/// Re-executes this binary as a child with the worker marker in its environment. The
/// child inherits the sending end of a handoff made for it alone, and answers on it.
pub(crate) fn spawn(role: Role, name: &str) -> Result<(Child, Handshake), StartError> {
    let parent = std::process::id();
    let (pid, handoff) = launcher::run(move || -> Result<_, StartError> {
        // Made here, where children are created one at a time, so no other child inherits
        // the sender (it is close-on-exec but for this one child).
        let (tx, rx) = handoff::<Handshake>()?;
        let reader = liveness::reader(liveness::pipe()?.read)?;
        // /proc/self/exe, not current_exe(): the very file this process runs, even if the
        // path now names a newer build.
        let mut cmd = Command::new("/proc/self/exe");
        if let Some(arg0) = std::env::args_os().next() {
            cmd.arg0(arg0);
        }
        let fd = tx.pass_to(&mut cmd)?;
        cmd.env(bootstrap::MARKER, bootstrap::marker(role, reader.as_raw_fd(), fd));
        sys::die_with_parent_on_exec(&mut cmd, parent, reader.as_raw_fd());
        let pid = cmd.spawn().map_err(StartError::from_fork)?.id();
        // The child has its copies: once it exits, the handoff reports it.
        drop((reader, tx));
        Ok((pid, rx))
    })?;
    let child = match role {
        Role::Worker => Child::new(pid, name.to_owned()),
        Role::ForkServer => Child::new_unlisted(pid, name.to_owned()),
    };
    let hs = accept(&handoff, &child)?;
    Ok((child, hs))
}

/// Waits for a started child to hand its ends back; never hangs on a child that died
/// first. A handshake from any other process than `child` is refused.
pub(crate) fn accept(
    handoff: &HandoffReceiver<Handshake>,
    child: &Child,
) -> Result<Handshake, StartError> {
    let got = handoff.accept(CONNECT_TIMEOUT, || matches!(child.try_wait(), Ok(None)));
    match got {
        Ok(hs) if hs.pid == child.pid() => Ok(hs),
        Ok(hs) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(StartError::Io(io::Error::other(format!(
                "the handshake came from pid {}, not from the child {}",
                hs.pid,
                child.pid()
            ))))
        }
        Err(e) => match child.try_wait() {
            Ok(Some(status)) => Err(StartError::DiedDuringStartup(status)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e.into())
            }
        },
    }
}

/// Forks this process (through the launcher); the child runs `body`.
fn fork(
    spec: &Spec,
    body: impl FnOnce(Link) -> Infallible + Send + 'static,
) -> Result<(Child, Handshake), StartError> {
    let parent = std::process::id();
    let words = spec.job.progress_words();
    let ring = spec.job.rings();
    let (pid, hs) = launcher::run(move || -> Result<(u32, Handshake), StartError> {
        // Made here, where forks are serialised, so no other child inherits them.
        let (link, hs) = link_pair(words, ring)?;
        let pipe = liveness::pipe()?;
        let reader = liveness::reader(pipe.read)?;
        match sys::fork().map_err(StartError::from_fork)? {
            Forked::Child => {
                sys::die_with_parent(parent);
                drop(hs);
                // Only the parent may hold the write end, or its death would go unseen.
                sys::close_inherited(pipe.write);
                if let Err(e) = liveness::watch(reader.into_raw_fd()) {
                    worker::fail(&format!("cannot watch the parent: {e}"));
                }
                match body(link) {}
            }
            Forked::Parent(pid) => {
                drop(link);
                drop(reader);
                Ok((pid, hs))
            }
        }
    })?;
    Ok((Child::new(pid, spec.name.clone()), hs))
}
