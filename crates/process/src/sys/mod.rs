//! Everything `unsafe` in this crate: fork, clone, signals, reaping, the pre-`main` hook and
//! turning a code offset back into a function pointer.
//!
//! Each block states why it is sound. Nothing outside this module uses `unsafe`.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use crate::exit::ExitStatus;

pub(crate) mod limits;

/// Which side of a fork we are on.
pub(crate) enum Forked {
    /// In the parent: the child's pid.
    Parent(u32),
    /// In the child.
    Child,
}

fn cvt(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// `fork()`.
#[expect(clippy::disallowed_methods, reason = "sys/ is where fork lives")]
pub(crate) fn fork() -> io::Result<Forked> {
    // SAFETY: fork has no memory-safety preconditions. The child continues as a copy of
    // this thread only; callers run nothing in the child but the worker entry, which
    // never returns into the caller's frames (it ends with `exit_now`).
    match cvt(unsafe { libc::fork() } as libc::c_long)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as u32)),
    }
}

/// `clone(CLONE_PARENT | SIGCHLD)`: a fork whose child becomes a child of our parent.
///
/// The fork server uses it so that every worker it makes is a direct child of the user's
/// process, which can then reap it and read its exit status with `waitpid` like any child.
///
/// Unlike a bare `clone`, the child is left as glibc's own `fork` leaves one: the kernel
/// writes the child's thread id into the thread block (`CLONE_CHILD_SETTID`), where libc
/// reads it as the owner of the mutexes it locks, and the child registers its robust-futex
/// list again (a new process starts without one). Without that, two workers of one fork
/// server would lock a process-shared mutex under the same owner id, and a worker's death
/// holding a robust mutex would go unseen (multiproc-sync's locks rely on both).
pub(crate) fn fork_as_sibling() -> io::Result<Forked> {
    let block = thread_block();
    let mut flags = (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong;
    let child_tid = match block.tid {
        Some(tid) => {
            flags |= libc::CLONE_CHILD_SETTID as libc::c_ulong;
            tid
        }
        None => 0,
    };
    // The order of the last arguments differs between architectures.
    #[cfg(target_arch = "x86_64")]
    let args: [usize; 4] = [0, 0, child_tid, 0]; // stack, parent_tid, child_tid, tls
    #[cfg(not(target_arch = "x86_64"))]
    let args: [usize; 4] = [0, 0, 0, child_tid]; // stack, parent_tid, tls, child_tid
    // SAFETY: with a null stack pointer, clone behaves as fork: the child gets a copy of
    // the address space and resumes here. The fork server is single-threaded, so no lock
    // can be held by another thread at this point (the raw syscall skips glibc's atfork
    // handlers, which only matter for multi-threaded callers). `child_tid` is 0 or the
    // address of this thread's id in its thread block, where the kernel writes the
    // child's id in the child's copy of memory.
    let r = unsafe { libc::syscall(libc::SYS_clone, flags, args[0], args[1], args[2], args[3]) };
    match cvt(r)? {
        0 => {
            if let Some((head, len)) = block.robust {
                // SAFETY: `head` is this thread's robust-list head as libc registered it
                // in the parent; the child's copy of memory holds the same list at the
                // same address, which set_robust_list only records.
                unsafe { libc::syscall(libc::SYS_set_robust_list, head, len) };
            }
            Ok(Forked::Child)
        }
        pid => Ok(Forked::Parent(pid as u32)),
    }
}

/// Where this (single) thread's libc keeps its thread id and its robust-futex list.
#[derive(Debug, Clone, Copy)]
struct ThreadBlock {
    /// Address of the thread id in libc's thread block, if found.
    tid: Option<usize>,
    /// The registered robust-list head and its length, if any.
    robust: Option<(usize, usize)>,
}

/// Finds them once: the robust list from the kernel (`get_robust_list`), the thread id by
/// looking for this thread's id in the first kilobyte of libc's thread block (`pthread_self`
/// is its address on glibc), accepted only if it is found at exactly one place.
fn thread_block() -> ThreadBlock {
    static BLOCK: std::sync::OnceLock<ThreadBlock> = std::sync::OnceLock::new();
    *BLOCK.get_or_init(|| {
        let mut head: usize = 0;
        let mut len: usize = 0;
        // SAFETY: get_robust_list(0, ...) writes this thread's head and length into the
        // two valid locations given.
        let r = unsafe { libc::syscall(libc::SYS_get_robust_list, 0, &raw mut head, &raw mut len) };
        let robust = (r == 0 && head != 0).then_some((head, len));
        // SAFETY: gettid and pthread_self have no preconditions.
        let (me, block) = unsafe { (libc::gettid(), libc::pthread_self() as usize) };
        let found: Vec<usize> = (0..1024 / 4)
            .map(|i| block + 4 * i)
            // SAFETY: glibc's thread block (`struct pthread`) is far larger than 1 KiB
            // and readable; the words are read, never written, and only compared.
            .filter(|&addr| unsafe { std::ptr::read_volatile(addr as *const i32) } == me)
            .collect();
        let tid = match found.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        ThreadBlock { tid, robust }
    })
}

/// Ends this process at once, without running atexit handlers or destructors (a forked
/// child must not run its parent's exit-time code).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; it never returns.
    unsafe { libc::_exit(code) }
}

/// Whether the calling thread is the process's main thread (its thread id is the pid).
pub(crate) fn is_main_thread() -> bool {
    // SAFETY: gettid and getpid have no preconditions and cannot fail.
    unsafe { libc::gettid() == libc::getpid() }
}

/// Two words from the kernel's random number generator (`getrandom`).
pub(crate) fn random_words() -> [u64; 2] {
    let mut words = [0u64; 2];
    let mut filled = 0;
    while filled < 16 {
        // SAFETY: the pointer and length describe the unfilled rest of `words`, which is
        // valid and writable for that many bytes.
        let r = unsafe {
            libc::getrandom(words.as_mut_ptr().cast::<u8>().add(filled).cast(), 16 - filled, 0)
        };
        if r > 0 {
            filled += r as usize;
        } else if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            panic!("getrandom failed: {}", io::Error::last_os_error());
        }
    }
    words
}

/// Whether this program was started with raised privileges: set-user-ID, set-group-ID or
/// file capabilities (the kernel's `AT_SECURE`).
pub(crate) fn secure_execution() -> bool {
    // SAFETY: getauxval takes an integer and reads the auxiliary vector, which exists
    // from the start of the process.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Whether `pid` is a child of this process that nobody has reaped yet (waiting on it
/// with `WNOWAIT` leaves it as it is).
pub(crate) fn is_unreaped_child(pid: u32) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid and writable; waitid with WNOHANG | WNOWAIT neither blocks
    // nor reaps. It fails with ECHILD when `pid` is no child of ours.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    r == 0
}

/// The parent's pid.
pub(crate) fn parent_pid() -> u32 {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() as u32 }
}

/// Asks the kernel to SIGKILL this process when its parent dies; exits at once if the
/// parent is already gone (it was not `expected_parent`).
pub(crate) fn die_with_parent(expected_parent: u32) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes an integer signal and has no memory effects.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    if parent_pid() != expected_parent {
        exit_now(70);
    }
}

/// Makes a spawned child die with its parent (see [`die_with_parent`]) and keeps `inherit`
/// open across its `exec` (every other descriptor of ours is close-on-exec).
pub(crate) fn die_with_parent_on_exec(cmd: &mut Command, parent: u32, inherit: RawFd) {
    // SAFETY: the closure runs between fork and exec in the child and calls only prctl,
    // getppid, fcntl and _exit, which are async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            die_with_parent(parent);
            cvt(libc::fcntl(inherit, libc::F_SETFD, 0) as libc::c_long)?;
            Ok(())
        });
    }
}

/// `pipe2(O_CLOEXEC)`: the read end and the write end.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid, writable array of two c_ints.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } as libc::c_long)?;
    // SAFETY: both descriptors were just created by the kernel and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Closes a descriptor this process inherited as a raw number (one no Rust value owns here,
/// e.g. a forked child's copy of a descriptor its parent owns).
pub(crate) fn close_inherited(fd: RawFd) {
    // SAFETY: nothing in this process owns `fd` (see above), so closing it invalidates no
    // value; an already closed or invalid number only makes close fail with EBADF.
    unsafe { libc::close(fd) };
}

/// Sets close-on-exec on a descriptor this process inherited as a raw number.
pub(crate) fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_SETFD takes an integer and touches no memory of ours.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } as libc::c_long).map(drop)
}

/// `fcntl` command: which signal an `O_ASYNC` descriptor sends (Linux's `F_SETSIG`, 10 on
/// every architecture; the libc crate does not define it).
const F_SETSIG: libc::c_int = 10;

/// A new open file description of what `fd` refers to (`/proc/self/fd/N`), read-only and
/// close-on-exec: one that shares its owner and flags with no other descriptor.
pub(crate) fn reopen_for_reading(fd: RawFd) -> io::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{fd}\0");
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let new = cvt(unsafe {
        libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK)
    } as libc::c_long)?;
    // SAFETY: the descriptor was just created by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new as RawFd) })
}

/// Has the kernel SIGKILL this process as soon as the pipe whose read end is `fd` has no
/// writer left; exits at once if it has none already.
///
/// The owner and the `O_ASYNC` flag that arm the signal belong to the open file
/// description, so `fd` must be one that no other process uses (see
/// [`reopen_for_reading`]); it must stay open for the life of the process.
pub(crate) fn die_when_pipe_closes(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with F_SETOWN, F_SETSIG, F_GETFL and F_SETFL takes and returns integers
    // and touches no memory of ours. SIGKILL with F_SETSIG makes the kernel's "readable"
    // notice (sent when the last writer closes) a kill that no handler or mask can stop.
    unsafe {
        cvt(libc::fcntl(fd, libc::F_SETOWN, libc::getpid()) as libc::c_long)?;
        cvt(libc::fcntl(fd, F_SETSIG, libc::SIGKILL) as libc::c_long)?;
        let flags = cvt(libc::fcntl(fd, libc::F_GETFL) as libc::c_long)? as libc::c_int;
        cvt(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_ASYNC) as libc::c_long)?;
    }
    // The last writer may have gone before the signal was armed: then nothing will come.
    if wait_readable(fd, Some(Duration::ZERO))? {
        exit_now(70);
    }
    Ok(())
}

/// Sends `signal` to `pid`.
pub(crate) fn send_signal(pid: u32, signal: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers.
    cvt(unsafe { libc::kill(pid as libc::pid_t, signal) } as libc::c_long).map(drop)
}

/// `waitpid(pid)`, blocking or not; `None` if the child has not exited yet.
pub(crate) fn wait_pid(pid: u32, block: bool) -> io::Result<Option<ExitStatus>> {
    let mut status: libc::c_int = 0;
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: `status` is a valid, writable c_int for the duration of the call.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, flags) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(None);
        }
        return Ok(Some(if libc::WIFSIGNALED(status) {
            ExitStatus::Signal(libc::WTERMSIG(status))
        } else {
            ExitStatus::Code(libc::WEXITSTATUS(status))
        }));
    }
}

/// Blocks until the child `pid` has exited, without reaping it (`waitid` with `WNOWAIT`):
/// true then; false when `pid` is no unreaped child of ours (`ECHILD`).
pub(crate) fn wait_exited(pid: u32) -> io::Result<bool> {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid and writable; WNOWAIT leaves the child unreaped.
        let r = unsafe {
            libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// A descriptor that becomes readable when `pid` exits (`pidfd_open`).
pub(crate) fn pidfd(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) })?;
    // SAFETY: the descriptor was just created by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Waits until `fd` is readable or `timeout` passes; true if readable.
pub(crate) fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> io::Result<bool> {
    let ms = match timeout {
        None => -1,
        Some(d) => d.as_millis().min(i32::MAX as u128) as libc::c_int,
    };
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: `pfd` is a valid pollfd array of length 1 for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(r > 0);
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the same clock in every process of the machine.
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Makes `malloc` keep freed memory for reuse instead of handing it back to the kernel at
/// once: buffers up to 32 MiB come from the heap, and up to 64 MiB of free heap is kept.
///
/// A worker decodes and encodes buffers of about the same size task after task. With
/// glibc's defaults each large buffer is mapped fresh and every page of it faults on first
/// touch: about 6 ms per 16 MiB on this kind of machine, more than copying it twice.
pub(crate) fn keep_freed_memory() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallopt only changes two allocator settings of this process; it takes
        // plain integers and is safe to call at any time (it takes the arena lock).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        }
    }
}

/// Asks the kernel to back the whole 2 MiB pages inside `spare` (memory about to be
/// written, such as a vector's spare capacity) with huge pages: a large result vector
/// then takes a fault per 2 MiB as it fills, not one per 4 KiB page (W1: a 1 M-item `map`
/// wrote 8 MiB of results through about 2,000 faults, some 4% of the parent's time). A
/// no-op where the kernel has no transparent huge pages, or for less than 2 MiB.
///
/// ```
/// let mut v: Vec<u64> = Vec::with_capacity(1 << 20);
/// multiproc_process::advise_huge_pages(v.spare_capacity_mut());
/// v.extend(0..1 << 20);
/// assert_eq!(v[12345], 12345);
/// ```
pub fn advise_huge_pages<T>(spare: &mut [std::mem::MaybeUninit<T>]) {
    const HUGE: usize = 2 << 20;
    let start = spare.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(spare);
    let (from, to) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
    if to > from {
        // SAFETY: the range lies within `spare`, memory this caller may write; the advice
        // changes how the kernel backs it, never what it holds (its contents are
        // uninitialized to Rust either way).
        unsafe {
            libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
        }
    }
}

/// Removes a variable from this process's environment.
///
/// Only called before `main` (from the bootstrap hook) or in a freshly forked child,
/// where this is the only thread.
pub(crate) fn remove_env(key: &str) {
    // SAFETY: callers guarantee no other thread exists that could read the environment
    // concurrently (see above).
    unsafe { std::env::remove_var(key) };
}

/// The address the anchor function has in this process.
pub(crate) fn anchor_addr() -> usize {
    anchor as *const () as usize
}

/// The anchor that function offsets are measured from. Never called.
#[inline(never)]
fn anchor() {
    std::hint::black_box(());
}

/// Turns an absolute code address back into a function pointer of type `F`.
///
/// # Safety
///
/// `addr` must be the address of a function whose signature is exactly `F` in this very
/// executable image, and `F` must be a function-pointer type.
pub(crate) unsafe fn fn_at<F: Copy>(addr: usize) -> F {
    assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<usize>());
    // SAFETY: F is pointer-sized (checked above) and, by the caller's contract, a fn
    // pointer type whose signature matches the function at `addr`.
    unsafe { std::mem::transmute_copy::<usize, F>(&addr) }
}

/// The hook that runs before `main` in every binary able to start a process: a child
/// started as a worker enters the worker bootstrap here and never reaches `main`.
#[used]
#[unsafe(link_section = ".init_array")]
pub(crate) static BOOTSTRAP_HOOK: extern "C" fn() = before_main;

extern "C" fn before_main() {
    crate::bootstrap::before_main();
}

/// A value of a zero-sized function type (a fn item or a non-capturing closure).
///
/// Callers check `size_of::<F>() == 0` at compile time.
#[expect(clippy::uninit_assumed_init, reason = "F is zero-sized: there is nothing to initialise")]
pub(crate) fn conjure_zst<F: Copy>() -> F {
    assert_eq!(std::mem::size_of::<F>(), 0);
    // SAFETY: F is zero-sized, so it has no bytes to initialise; the types used here are
    // fn items and non-capturing closures, which carry no state and no invariant.
    unsafe { std::mem::MaybeUninit::<F>::uninit().assume_init() }
}

/// A value per process: a forked child gets a fresh one on first use instead of the copy
/// of its parent's, whose locks another thread of the parent may have held at the moment
/// of the fork (and so stay locked for ever in the child).
///
/// Values are leaked: one per process that uses it. Every thread of the process shares
/// it, so it must be `Sync`.
///
/// Internal to multiproc (hidden from the docs): the process-wide state of its crates
/// (this one's launcher and fork server, `multiproc::sync`'s descriptor sharer).
///
/// ```
/// use multiproc_process::PerProcess;
/// use std::sync::Mutex;
///
/// static STARTED: PerProcess<Mutex<Vec<u32>>> = PerProcess::new();
///
/// STARTED.get(|| Mutex::new(Vec::new())).lock().unwrap().push(1);
/// // Made once in this process: the second `init` is not called.
/// assert_eq!(*STARTED.get(|| Mutex::new(Vec::new())).lock().unwrap(), [1]);
/// assert_eq!(*STARTED.existing().expect("made").lock().unwrap(), [1]);
/// ```
pub struct PerProcess<T: 'static> {
    ptr: std::sync::atomic::AtomicPtr<(u32, T)>,
}

impl<T: Sync + 'static> PerProcess<T> {
    /// No value yet, in any process: for a `static`.
    #[must_use]
    #[expect(clippy::new_without_default, reason = "made for statics, which need a const fn")]
    pub const fn new() -> PerProcess<T> {
        PerProcess { ptr: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// This process's value, if it was made in this process: never allocates, so a
    /// signal handler may call it.
    pub fn existing(&self) -> Option<&'static T> {
        Self::ours(self.ptr.load(std::sync::atomic::Ordering::Acquire))
    }

    /// The value `entry` points to, if this process made it.
    fn ours(entry: *mut (u32, T)) -> Option<&'static T> {
        // SAFETY: every non-null pointer stored here comes from `Box::leak` in `get` and
        // is never freed, so it is valid for 'static.
        let entry = unsafe { entry.as_ref() }?;
        (entry.0 == std::process::id()).then_some(&entry.1)
    }

    /// This process's value, made by `init` on first use.
    ///
    /// Decided from one load: the pointer replaced is the one seen to be another
    /// process's (or none), so a value another thread of this process has just made is
    /// never replaced (two threads would otherwise see two values).
    pub fn get(&self, init: impl FnOnce() -> T) -> &'static T {
        use std::sync::atomic::Ordering;
        let current = self.ptr.load(Ordering::Acquire);
        if let Some(value) = Self::ours(current) {
            return value;
        }
        let fresh: *mut (u32, T) = Box::leak(Box::new((std::process::id(), init())));
        match self.ptr.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `fresh` was just leaked and is never freed.
            Ok(_) => unsafe { &(*fresh).1 },
            Err(winner) => {
                // SAFETY: `fresh` was leaked above and published nowhere; reclaim it.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: as for `current`: leaked, never freed. Only threads of this
                // process write here once it exists, so another of them made it.
                unsafe { &(*winner).1 }
            }
        }
    }
}

impl<T: 'static> std::fmt::Debug for PerProcess<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerProcess").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::PerProcess;

    #[test]
    fn threads_racing_to_make_the_value_all_get_the_same_one() {
        for _ in 0..1000 {
            let cell: &'static PerProcess<u64> = Box::leak(Box::new(PerProcess::new()));
            let start = std::sync::Barrier::new(8);
            let seen: Vec<usize> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            let first = cell.get(|| 1) as *const u64 as usize;
                            assert_eq!(cell.get(|| 2) as *const u64 as usize, first);
                            first
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(seen.iter().all(|&p| p == seen[0]), "{seen:?}");
        }
    }
}
