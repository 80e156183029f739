//! The system calls behind a child's resource limits: `setrlimit`, a timer on the process's
//! CPU-time clock, and the two signal handlers that say which limit a worker died of.

use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use super::cvt;

/// A resource of `setrlimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `RLIMIT_AS`: bytes of address space.
    AddressSpace,
    /// `RLIMIT_NOFILE`: one more than the highest descriptor number that can be opened.
    OpenFiles,
    /// `RLIMIT_CORE`: bytes of a core dump (0: none).
    CoreSize,
}

impl Resource {
    fn raw(self) -> libc::__rlimit_resource_t {
        match self {
            Resource::AddressSpace => libc::RLIMIT_AS,
            Resource::OpenFiles => libc::RLIMIT_NOFILE,
            Resource::CoreSize => libc::RLIMIT_CORE,
        }
    }
}

/// The soft and hard limits of `resource` (`u64::MAX`: unlimited).
pub(crate) fn get_rlimit(resource: Resource) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    cvt(unsafe { libc::getrlimit(resource.raw(), &mut lim) } as libc::c_long)?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// Sets the soft and hard limits of `resource` (`u64::MAX`: unlimited).
pub(crate) fn set_rlimit(resource: Resource, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: `lim` is a valid rlimit, only read by the call.
    cvt(unsafe { libc::setrlimit(resource.raw(), &lim) } as libc::c_long).map(drop)
}

/// CPU time used by every thread of this process so far, in nanoseconds.
pub(crate) fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec. clock_gettime is async-signal-safe, so
    // this is also called from the SIGXCPU handler.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A timer on this process's CPU-time clock that sends SIGXCPU when it expires.
#[derive(Debug)]
pub(crate) struct CpuTimer(libc::timer_t);

// SAFETY: a timer id is a handle the kernel (and libc) look up; any thread may arm it.
unsafe impl Send for CpuTimer {}
// SAFETY: as above; `timer_settime` on one id from several threads is defined.
unsafe impl Sync for CpuTimer {}

impl CpuTimer {
    /// A disarmed timer.
    pub(crate) fn new() -> io::Result<CpuTimer> {
        // SAFETY: an all-zero sigevent is a valid value of this plain C struct.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_SIGNAL;
        event.sigev_signo = libc::SIGXCPU;
        let mut id: libc::timer_t = std::ptr::null_mut();
        // SAFETY: `event` is valid for reading and `id` for writing during the call.
        cvt(unsafe { libc::timer_create(libc::CLOCK_PROCESS_CPUTIME_ID, &mut event, &mut id) }
            as libc::c_long)?;
        Ok(CpuTimer(id))
    }

    /// Arms the timer to expire once `after` more CPU time has been used (zero disarms).
    pub(crate) fn arm(&self, after: Duration) {
        let value = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: the id came from timer_create and is never deleted; `value` is valid
        // for reading and the old value is not asked for.
        unsafe { libc::timer_settime(self.0, 0, &value, std::ptr::null_mut()) };
    }
}

/// Which signal a limit handler is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitSignal {
    /// SIGXCPU, from the [`CpuTimer`].
    CpuTime,
    /// SIGABRT, from `abort` (Rust aborts when an allocation fails).
    Abort,
}

/// Installs `on_signal` for `signal` unless the program handles it already; true if
/// installed. `on_signal(out_of_memory)` is told, for an abort, whether the thread's
/// `errno` was `ENOMEM` (an allocation had just failed); it must be async-signal-safe.
///
/// After `on_signal`, the process dies of the signal as it would have without the
/// handler: SIGABRT by `abort`'s own second raise; SIGXCPU raised again with its default
/// action, and no core dump (the limit was reached, nothing crashed).
pub(crate) fn handle_limit_signal(signal: LimitSignal, on_signal: fn(bool)) -> io::Result<bool> {
    let (signo, handler) = match signal {
        LimitSignal::CpuTime => (libc::SIGXCPU, on_sigxcpu as extern "C" fn(libc::c_int)),
        LimitSignal::Abort => (libc::SIGABRT, on_sigabrt as extern "C" fn(libc::c_int)),
    };
    // SAFETY: an all-zero sigaction is a valid value of this plain C struct.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    cvt(unsafe { libc::sigaction(signo, std::ptr::null(), &mut old) } as libc::c_long)?;
    if old.sa_sigaction != libc::SIG_DFL {
        return Ok(false);
    }
    let slot = match signal {
        LimitSignal::CpuTime => &ON_SIGXCPU,
        LimitSignal::Abort => &ON_SIGABRT,
    };
    // The same function in every process of this binary: one set for good is enough.
    let _ = slot.set(on_signal);
    // SAFETY: as above.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as libc::sighandler_t;
    // SAFETY: `action.sa_mask` is a valid sigset_t to empty; the handler is an
    // async-signal-safe `extern "C" fn(c_int)` that lives as long as the program.
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        cvt(libc::sigaction(signo, &action, std::ptr::null_mut()) as libc::c_long)?;
    }
    Ok(true)
}

/// What each handler calls (`OnceLock::get` is one atomic load: async-signal-safe).
static ON_SIGXCPU: OnceLock<fn(bool)> = OnceLock::new();
static ON_SIGABRT: OnceLock<fn(bool)> = OnceLock::new();

fn call(slot: &OnceLock<fn(bool)>, out_of_memory: bool) {
    if let Some(f) = slot.get() {
        f(out_of_memory);
    }
}

extern "C" fn on_sigxcpu(_: libc::c_int) {
    call(&ON_SIGXCPU, false);
    // Die of SIGXCPU, without a core: setrlimit, signal and raise are async-signal-safe
    // system calls. The raised signal stays blocked until this handler returns.
    let _ = set_rlimit(Resource::CoreSize, 0, 0);
    // SAFETY: restoring the default action and raising a signal touch no memory of ours.
    unsafe {
        libc::signal(libc::SIGXCPU, libc::SIG_DFL);
        libc::raise(libc::SIGXCPU);
    }
}

extern "C" fn on_sigabrt(_: libc::c_int) {
    // SAFETY: __errno_location returns this thread's errno, valid for the thread's life.
    let errno = unsafe { *libc::__errno_location() };
    call(&ON_SIGABRT, errno == libc::ENOMEM);
}

/// Sets this thread's `errno` to 0, so that an abort later in the task tells a fresh
/// allocation failure from an old one.
pub(crate) fn clear_errno() {
    // SAFETY: as in `on_sigabrt`; writing 0 to errno is always allowed.
    unsafe { *libc::__errno_location() = 0 };
}

/// The size of a memory page.
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf takes an integer and reads no memory of ours.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}
