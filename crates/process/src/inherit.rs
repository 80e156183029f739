//! What a forked child that runs a function by name gives up of its parent.
//!
//! A child started with [`StartMethod::Fork`](crate::StartMethod::Fork) to run a
//! `Process::new` target or a pool's tasks is a copy of its parent, descriptors included,
//! but uses only what its bootstrap and its argument hand it. Other crates register here
//! what such a child closes at once (multiproc-sync: the sockets and memory of its queues,
//! pipes and locks — a copy of a queue's sending socket left open in a child would keep
//! the queue's receivers from ever seeing `Disconnected`). A closure's child
//! (`Process::fork`) keeps everything: the closure may use it.

use std::sync::OnceLock;

/// At most this many hooks.
const MAX_HOOKS: usize = 8;

/// The hooks, each set once; read without a lock (a child may be forked while another
/// thread registers one).
static HOOKS: [OnceLock<fn()>; MAX_HOOKS] = [const { OnceLock::new() }; MAX_HOOKS];

/// Registers `hook` to run in every child forked to run a function by name, before its
/// worker starts. For crates that own descriptors such a child must not keep; register
/// once per hook.
///
/// # Panics
///
/// When more than 8 hooks are registered.
#[doc(hidden)]
pub fn on_fork_child(hook: fn()) {
    for slot in &HOOKS {
        if slot.set(hook).is_ok() {
            return;
        }
    }
    panic!("more than {MAX_HOOKS} fork-child hooks registered");
}

/// Runs the registered hooks (in a freshly forked child).
pub(crate) fn run_fork_child_hooks() {
    for hook in HOOKS.iter().filter_map(OnceLock::get) {
        hook();
    }
}
