//! The worker bootstrap: how a freshly started child finds out it is a worker and never
//! runs the user's `main`.
//!
//! A spawned child carries a marker in its environment (`MULTIPROC_WORKER`: role, the
//! parent's pid, the reader of the parent's liveness pipe it inherits, and the sending end
//! of the handoff it inherits). A hook placed in `.init_array`
//! runs before `main` in every binary that can start a process (the code that starts
//! one references it, so the linker cannot leave it out), sees the marker, removes it,
//! and enters the worker; it never returns. [`bootstrap`] does the same for the rare
//! binary where the hook cannot run. A process that carries the marker but reaches a
//! process-starting call anyway refuses at once, with a message saying what to add: one
//! failed child, never a fork bomb.
//!
//! The marker alone never makes a worker. Before it sends anything, the child checks that
//! it was not started with raised privileges (`AT_SECURE`: set-user-ID, set-group-ID or
//! file capabilities), that the descriptor it names is a socket made by its parent under
//! its own user, and that the parent runs this very executable. Whoever merely launches
//! the binary with the variable set gets a refusal (exit code 70), not a worker.

use std::os::fd::RawFd;

use multiproc_ipc::HandoffSender;

use crate::protocol::Handshake;
use crate::{binary, forkserver, sys, worker};

/// The environment variable that marks a spawned worker.
pub(crate) const MARKER: &str = "MULTIPROC_WORKER";
/// Set (by tests) to make the hook do nothing, as if it had not been linked.
const HOOK_OFF: &str = "MULTIPROC_TEST_DISABLE_BOOTSTRAP_HOOK";
const VERSION: &str = "3";

/// What a spawned child is to become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A process or pool worker: hands its ends back and waits for its boot message.
    Worker,
    /// The fork server.
    ForkServer,
}

/// The marker value for a child of this process that inherits `liveness`, a reader of
/// this process's liveness pipe made for it, and `handoff`, the sending end of the handoff
/// it answers on.
pub(crate) fn marker(role: Role, liveness: RawFd, handoff: RawFd) -> String {
    let role = match role {
        Role::Worker => "worker",
        Role::ForkServer => "forkserver",
    };
    format!("{VERSION}:{role}:{}:{liveness}:{handoff}", std::process::id())
}

pub(crate) fn before_main() {
    if std::env::var_os(HOOK_OFF).is_none() {
        // While this is the only thread: later, another thread may hold the panic
        // hook's lock mid-panic, and a forked child must never need it.
        crate::panic::prepare();
        enter_if_worker();
    }
}

/// Enters the worker if this process was started as one; otherwise returns at once.
///
/// Every binary that starts processes through multiproc runs this automatically before
/// `main`; calling it as the first line of `main` is only needed where life-before-main
/// hooks do not run. It is cheap and harmless to call in a normal process.
///
/// ```
/// fn main() {
///     multiproc::bootstrap(); // optional: a no-op unless this process is a worker
///     // ...
/// }
/// # main();
/// ```
pub fn bootstrap() {
    enter_if_worker();
}

fn enter_if_worker() {
    let Some(value) = std::env::var_os(MARKER) else {
        return;
    };
    // Before `main` (or as its first line) this is the only thread.
    sys::remove_env(MARKER);
    let value = value.to_string_lossy().into_owned();
    if sys::secure_execution() {
        refuse(&format!(
            "{MARKER} is set, but this program runs with raised privileges (set-user-ID, \
             set-group-ID or file capabilities); never setuid or setcap a multiproc binary"
        ));
    }
    let mut parts = value.splitn(5, ':');
    let (version, role, parent, liveness, handoff) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next());
    let parent: Option<u32> = parent.and_then(|p| p.parse().ok());
    let liveness: Option<RawFd> = liveness.and_then(|fd| fd.parse().ok());
    let handoff: Option<RawFd> = handoff.and_then(|fd| fd.parse().ok());
    let (Some(VERSION), Some(parent), Some(liveness), Some(handoff)) =
        (version, parent, liveness, handoff)
    else {
        refuse(&format!("malformed {MARKER} value {value:?}"));
    };
    if parent != sys::parent_pid() {
        refuse(&format!(
            "{MARKER} names parent {parent}, but this process's parent is {}",
            sys::parent_pid()
        ));
    }
    // Nothing is sent before both checks pass.
    let handoff = match HandoffSender::<Handshake>::from_inherited(handoff, parent) {
        Ok(handoff) => handoff,
        Err(e) => refuse(&format!("{MARKER} names no channel from the parent: {e}")),
    };
    if !binary::same_executable(parent) {
        refuse(&format!("the parent {parent} does not run this executable"));
    }
    match role {
        Some("worker") => worker::connect_and_run(handoff, liveness),
        Some("forkserver") => forkserver::connect_and_serve(handoff, liveness),
        _ => refuse(&format!("unknown worker role in {MARKER}={value:?}")),
    }
}

/// Says why this process will not become a worker, and exits with 70.
fn refuse(why: &str) -> ! {
    eprintln!("multiproc: {why}; refusing to start a worker");
    sys::exit_now(70)
}

/// The fork-bomb guard: a process that was started as a worker but is about to start a
/// process of its own from user code never reached the bootstrap. Stop here, loudly.
pub(crate) fn guard() {
    if std::env::var_os(MARKER).is_some() {
        eprintln!(
            "multiproc: this process was started as a worker ({MARKER} is set) but never reached \
             the worker bootstrap, so it ran the program's `main` instead.\n\
             multiproc: add `multiproc::bootstrap();` as the first line of `main` \
             (or make sure the binary links multiproc's start-up hook). Refusing to start more processes."
        );
        sys::exit_now(70);
    }
}
