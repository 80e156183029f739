//! Who this process is: Python's `current_process()`, `parent_process()` and
//! `cpu_count()`, and how children are named (`Process-N`, `Process-N:M`).

use std::sync::RwLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::protocol::Boot;
use crate::sys::PerProcess;

/// Name and pid of a process. Python: the `name` and `pid` of a `Process` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// `"MainProcess"`, `"Process-3"`, `"Process-3:1"`, or a name given by the user.
    pub name: String,
    /// The process id.
    pub pid: u32,
}

#[derive(Debug, Clone)]
struct Me {
    name: String,
    identity: Vec<u32>,
    daemon: bool,
    parent: Option<ProcessInfo>,
}

/// Per process: a forked child must not wait for a lock its parent's threads held.
static ME: PerProcess<RwLock<Option<Me>>> = PerProcess::new();

fn me_cell() -> &'static RwLock<Option<Me>> {
    ME.get(|| RwLock::new(None))
}
static NEXT_CHILD: AtomicU32 = AtomicU32::new(1);

fn me() -> Me {
    me_cell().read().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| Me {
        name: "MainProcess".into(),
        identity: Vec::new(),
        daemon: false,
        parent: None,
    })
}

/// This process. Python: `multiprocessing.current_process()`.
///
/// ```
/// let me = multiproc::current_process();
/// assert_eq!(me.name, "MainProcess");
/// assert_eq!(me.pid, std::process::id());
/// ```
pub fn current_process() -> ProcessInfo {
    ProcessInfo { name: me().name, pid: std::process::id() }
}

/// The process that started this one, or `None` in the main process. Python:
/// `multiprocessing.parent_process()`.
///
/// ```
/// assert_eq!(multiproc::parent_process(), None);
/// ```
pub fn parent_process() -> Option<ProcessInfo> {
    me().parent
}

/// Whether this process is a daemonic child (which may not start children).
pub(crate) fn is_daemon() -> bool {
    me().daemon
}

/// The number of CPUs this process may run on (its affinity mask and CPU quota
/// respected). Python: `os.process_cpu_count()`, which `multiprocessing.cpu_count()`
/// approximates.
///
/// ```
/// assert!(multiproc::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The identity and default name of the next child: `Process-N` in the main process,
/// `Process-<mine>:N` below it.
pub(crate) fn next_child() -> (Vec<u32>, String) {
    let mut identity = me().identity;
    identity.push(NEXT_CHILD.fetch_add(1, Ordering::Relaxed));
    let digits: Vec<String> = identity.iter().map(u32::to_string).collect();
    let name = format!("Process-{}", digits.join(":"));
    (identity, name)
}

/// What a child learns about itself from its boot message.
pub(crate) fn become_child(boot: &Boot) {
    let me = Me {
        name: boot.name.clone(),
        identity: boot.identity.clone(),
        daemon: boot.daemon,
        parent: Some(ProcessInfo { name: boot.parent_name.clone(), pid: boot.parent_pid }),
    };
    *me_cell().write().unwrap_or_else(|e| e.into_inner()) = Some(me);
    NEXT_CHILD.store(1, Ordering::Relaxed);
}
