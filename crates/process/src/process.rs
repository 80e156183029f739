//! [`Process`]: run a function in a child process. Python: `multiprocessing.Process`.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use multiproc_codec::{
    BinaryFingerprint, CodecError, FnId, FrameBuf, Pins, What, decode, encode_pinned,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::child::Child;
use crate::context::{Context, StartMethod};
use crate::error::ProcessError;
use crate::exit::ExitStatus;
use crate::function::Function;
use crate::identity;
use crate::inbox::{Delivery, Inbox};
use crate::limits::Limits;
use crate::protocol::Job;
use crate::sentinel::Sentinel;
use crate::start::{self, Spec};
use crate::task_return::TaskReturn;
use crate::worker;

type Body<R> = Box<dyn FnOnce() -> R + Send>;

enum Target<R> {
    /// `pins`: what the encoded argument refers to (shared objects' descriptors, which the
    /// child fetches), kept until the child has ended.
    Call {
        func: FnId,
        arg: Result<Vec<u8>, CodecError>,
        pins: Pins,
    },
    Closure(Option<Body<R>>),
}

enum State {
    New,
    Started { child: Child, inbox: RefCell<Inbox>, joined: bool },
    Closed,
}

/// A function running in a child process. Python: `multiprocessing.Process`.
///
/// Built with a target and its argument, then `start`ed and `join`ed; `join` returns the
/// target's value (beyond Python, where `join` returns nothing). Misuse — `join` before
/// `start`, `start` twice, use after `close` — is a typed [`ProcessError`], never a panic.
///
/// ```
/// use multiproc::Process;
///
/// fn shout(s: String) -> String { s.to_uppercase() }
///
/// let mut p = Process::new(shout, "hello".to_string());
/// assert_eq!(p.name(), "Process-1");
/// p.start()?;
/// assert!(p.pid().is_some());
/// assert_eq!(p.join()?, "HELLO");
/// assert_eq!(p.exit_code().map(|s| s.code()), Some(0));
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
///
/// Dropping a started `Process` that was not joined leaves the child running, as in
/// Python; it is reaped in the background when it exits. Every child still dies with
/// its parent process (a parent-death signal plus a liveness pipe), so join children
/// you want to finish before `main` returns — Python joins non-daemonic children at exit
/// for you; Rust has no such hook.
pub struct Process<R> {
    target: Target<R>,
    name: String,
    identity: Vec<u32>,
    daemon: bool,
    ctx: Context,
    state: State,
    limits: Limits,
    forged_binary: Option<BinaryFingerprint>,
}

impl<R> std::fmt::Debug for Process<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::New => "initial".to_owned(),
            State::Started { child, .. } => match child.status() {
                Some(s) => format!("stopped exitcode={s}"),
                None => format!("started pid={}", child.pid()),
            },
            State::Closed => "closed".to_owned(),
        };
        write!(f, "<Process name='{}' {state}>", self.name)
    }
}

impl<R> Process<R>
where
    R: Serialize + DeserializeOwned + 'static,
{
    /// A process that will run `target(arg)`, with the default [`Context`]. `join` returns
    /// the target's value; a target may also return a `Result`, whose `Err` is
    /// [`ProcessError::Failed`] (see [`TaskReturn`]). Python:
    /// `Process(target=f, args=(arg,))`.
    ///
    /// ```
    /// use multiproc::{Process, ProcessError};
    ///
    /// fn parse(s: String) -> Result<u32, std::num::ParseIntError> { s.parse() }
    ///
    /// let mut p = Process::new(parse, "12x".to_string());
    /// p.start()?;
    /// let Err(ProcessError::Failed(e)) = p.join() else { panic!("a parse error") };
    /// assert_eq!(e.message(), "invalid digit found in string");
    /// # Ok::<(), ProcessError>(())
    /// ```
    pub fn new<A, T, Via>(target: fn(A) -> T, arg: A) -> Process<R>
    where
        A: Serialize + DeserializeOwned + 'static,
        T: TaskReturn<Via, Value = R>,
    {
        Context::default().process(target, arg)
    }

    fn with_target(target: Target<R>, ctx: Context) -> Process<R> {
        let (identity, name) = identity::next_child();
        Process {
            target,
            name,
            identity,
            daemon: false,
            ctx,
            state: State::New,
            limits: Limits::new(),
            forged_binary: None,
        }
    }

    /// A process that runs the capturing closure `body`, started with `fork()`.
    ///
    /// Only the fork start method can run a closure: the child is a copy of this process.
    /// That is hazardous once this process has other threads (a lock one of them holds at
    /// the moment of the fork stays locked in the child).
    ///
    /// ```
    /// let base = 40;
    /// let mut p = multiproc::Process::fork(move || base + 2);
    /// p.start()?;
    /// assert_eq!(p.join()?, 42);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn fork(body: impl FnOnce() -> R + Send + 'static) -> Process<R> {
        Process::with_target(Target::Closure(Some(Box::new(body))), Context::new(StartMethod::Fork))
    }

    /// Sets the name. Python: `Process(name=...)`. Only before `start`: the child runs
    /// under the name it was started with, so a later call is refused with
    /// [`ProcessError::AlreadyRunning`] (and the process dropped, its child left running
    /// as a dropped `Process` leaves it).
    ///
    /// ```
    /// use multiproc::{Process, ProcessError};
    ///
    /// let mut p = Process::new(|x: u8| x, 1).with_name("loader")?;
    /// assert_eq!(p.name(), "loader");
    /// p.start()?;
    /// assert!(matches!(p.with_name("late"), Err(ProcessError::AlreadyRunning { setting: "name" })));
    /// # Ok::<(), ProcessError>(())
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Result<Self, ProcessError> {
        self.refuse_if_started("name")?;
        self.name = name.into();
        Ok(self)
    }

    /// Sets the daemon flag: a daemonic process may not start children. Python:
    /// `Process(daemon=True)`. Only before `start`, like [`with_name`](Self::with_name).
    ///
    /// ```
    /// use multiproc::{Process, ProcessError};
    ///
    /// let mut p = Process::new(|x: u8| x, 1).with_daemon(true)?;
    /// assert!(p.daemon());
    /// p.start()?;
    /// assert!(matches!(p.with_daemon(false), Err(ProcessError::AlreadyRunning { setting: "daemon" })));
    /// # Ok::<(), ProcessError>(())
    /// ```
    pub fn with_daemon(mut self, daemon: bool) -> Result<Self, ProcessError> {
        self.refuse_if_started("daemon")?;
        self.daemon = daemon;
        Ok(self)
    }

    /// Runs the child under `limits` (memory, CPU time, open files, core dumps), applied in
    /// the child before its target runs; this process keeps its own. Only before `start`.
    /// A child past its CPU time dies of SIGXCPU; one whose allocation fails under the
    /// memory cap aborts (SIGABRT). Python: `resource.setrlimit` at the top of the target.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiproc::{ExitStatus, Process, ProcessError};
    /// use multiproc::process::Limits;
    ///
    /// fn spin(_: ()) { loop { std::hint::black_box(()); } }
    ///
    /// let mut p = Process::new(spin, ()).with_limits(Limits::new().cpu_time(Duration::from_millis(50)))?;
    /// p.start()?;
    /// assert!(matches!(p.join(), Err(ProcessError::Exited(ExitStatus::Signal(24))))); // SIGXCPU
    /// # Ok::<(), ProcessError>(())
    /// ```
    pub fn with_limits(mut self, limits: Limits) -> Result<Self, ProcessError> {
        self.refuse_if_started("limits")?;
        self.limits = limits;
        Ok(self)
    }

    fn refuse_if_started(&self, setting: &'static str) -> Result<(), ProcessError> {
        match self.state {
            State::New => Ok(()),
            _ => Err(ProcessError::AlreadyRunning { setting }),
        }
    }

    /// The name: `Process-N` (or `Process-N:M` in a child) unless set.
    ///
    /// ```
    /// let p = multiproc::Process::new(|x: u8| x, 1);
    /// assert!(p.name().starts_with("Process-"));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The daemon flag.
    ///
    /// ```
    /// assert!(!multiproc::Process::new(|x: u8| x, 1).daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// The start method this process uses.
    ///
    /// ```
    /// use multiproc::{Context, StartMethod};
    ///
    /// let p = Context::new(StartMethod::Spawn).process(|x: u8| x, 1);
    /// assert_eq!(p.start_method(), StartMethod::Spawn);
    /// assert_eq!(multiproc::Process::fork(|| 1u8).start_method(), StartMethod::Fork);
    /// ```
    pub fn start_method(&self) -> StartMethod {
        match self.target {
            Target::Closure(_) => StartMethod::Fork,
            Target::Call { .. } => self.ctx.start_method(),
        }
    }

    #[doc(hidden)]
    /// Test hook: boot the child as if this process ran another binary.
    pub fn forge_binary_fingerprint(mut self, fp: BinaryFingerprint) -> Self {
        self.forged_binary = Some(fp);
        self
    }

    #[doc(hidden)]
    /// Test hook: call with a type fingerprint that does not match the function's (in an
    /// identity tagged by this process, so that the trampoline's check is what refuses it).
    pub fn forge_type_fingerprint(mut self, types: u64) -> Self {
        if let Target::Call { func, .. } = &mut self.target {
            func.types = multiproc_codec::TypeFingerprint(types);
            *func = crate::function::retag(*func);
        }
        self
    }

    #[doc(hidden)]
    /// Test hook: change the function identity after it was tagged, as a forger would.
    pub fn forge_function_id(mut self, forge: impl FnOnce(&mut multiproc_codec::FnId)) -> Self {
        if let Target::Call { func, .. } = &mut self.target {
            forge(func);
        }
        self
    }

    /// Starts the child. Python: `start()`.
    ///
    /// ```
    /// use multiproc::{Process, ProcessError};
    ///
    /// let mut p = Process::new(|x: u8| x + 1, 1);
    /// p.start()?;
    /// assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
    /// assert_eq!(p.join()?, 2);
    /// # Ok::<(), ProcessError>(())
    /// ```
    pub fn start(&mut self) -> Result<(), ProcessError> {
        match self.state {
            State::New => {}
            State::Started { .. } => return Err(ProcessError::AlreadyStarted),
            State::Closed => return Err(ProcessError::Closed),
        }
        let spec = Spec {
            name: self.name.clone(),
            identity: self.identity.clone(),
            daemon: self.daemon,
            job: Job::Once,
            stamp_items: false,
            limits: self.limits,
            forged_binary: self.forged_binary,
        };
        let started = match &mut self.target {
            Target::Call { func, arg, pins } => {
                let arg = arg.as_ref().map_err(|e| ProcessError::Codec(e.clone()))?;
                let started = start::start(self.ctx, spec)?;
                started.child.keep_until_reaped(std::mem::take(pins));
                let mut fb = FrameBuf::new();
                fb.begin_tasks(0, *func);
                fb.push_raw(arg);
                // If the child is already gone, `join` reports how it ended.
                let _ = started.channel.send(fb.finish());
                started
            }
            Target::Closure(body) => {
                let body = body.take().ok_or(ProcessError::AlreadyStarted)?;
                start::start_forked(spec, move |link, boot| worker::run_closure(link, boot, body))?
            }
        };
        self.state = State::Started {
            child: started.child,
            inbox: RefCell::new(Inbox::Channel(started.channel)),
            joined: false,
        };
        Ok(())
    }

    /// Waits for the child to end and returns the target's value. Python: `join()`.
    ///
    /// A target that panicked gives [`ProcessError::Panicked`]; a child that exited or was
    /// killed without delivering a value gives [`ProcessError::Exited`] with its code or
    /// signal.
    ///
    /// ```
    /// use multiproc::{ExitStatus, Process, ProcessError};
    ///
    /// let mut p = Process::new(|s: String| s.repeat(2), "ab".to_string());
    /// p.start()?;
    /// assert_eq!(p.join()?, "abab");
    /// let mut q = Process::new(|code: i32| -> u8 { std::process::exit(code) }, 4);
    /// q.start()?;
    /// assert_eq!(q.join().unwrap_err().exit_status(), Some(ExitStatus::Code(4)));
    /// # Ok::<(), ProcessError>(())
    /// ```
    pub fn join(&mut self) -> Result<R, ProcessError> {
        self.join_until(None).map(|r| r.expect("no deadline"))
    }

    /// Like [`join`](Self::join), but gives up after `timeout` with `Ok(None)`, leaving the
    /// child running. Python: `join(timeout)`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut p = multiproc::Process::new(|s: u64| std::thread::sleep(Duration::from_secs(s)), 3600);
    /// p.start()?;
    /// assert_eq!(p.join_timeout(Duration::from_millis(10))?, None);
    /// p.kill()?;
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<R>, ProcessError> {
        self.join_until(Some(Instant::now() + timeout))
    }

    fn join_until(&mut self, deadline: Option<Instant>) -> Result<Option<R>, ProcessError> {
        let State::Started { child, inbox, joined } = &mut self.state else {
            return Err(match self.state {
                State::Closed => ProcessError::Closed,
                _ => ProcessError::NotStarted,
            });
        };
        if *joined {
            return Err(ProcessError::AlreadyJoined);
        }
        let inbox = inbox.get_mut();
        if !inbox.wait(deadline)? {
            return Ok(None);
        }
        let status = match deadline {
            None => child.wait().map_err(|e| ProcessError::Start(e.into()))?,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                match child.wait_timeout(left).map_err(|e| ProcessError::Start(e.into()))? {
                    Some(s) => s,
                    None => return Ok(None),
                }
            }
        };
        *joined = true;
        match inbox.take() {
            Delivery::Value(bytes) => {
                decode(&bytes, What::Result).map(Some).map_err(ProcessError::Codec)
            }
            Delivery::Failed(failure) => Err(ProcessError::from(failure)),
            Delivery::Nothing => Err(ProcessError::Exited(status)),
        }
    }
}

impl<R> Process<R> {
    fn child(&self) -> Result<&Child, ProcessError> {
        match &self.state {
            State::Started { child, .. } => Ok(child),
            State::New => Err(ProcessError::NotStarted),
            State::Closed => Err(ProcessError::Closed),
        }
    }

    /// The child, after taking its result off the channel if it is waiting there (see
    /// [`Inbox::poll`]).
    fn polled_child(&self) -> Result<&Child, ProcessError> {
        if let State::Started { inbox, .. } = &self.state {
            inbox.borrow_mut().poll();
        }
        self.child()
    }

    /// The child's pid once started. Python: `pid`.
    ///
    /// ```
    /// let mut p = multiproc::Process::new(|_: ()| std::process::id(), ());
    /// assert_eq!(p.pid(), None);
    /// p.start()?;
    /// let pid = p.pid();
    /// assert_eq!(Some(p.join()?), pid);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn pid(&self) -> Option<u32> {
        self.child().ok().map(Child::pid)
    }

    /// Whether the child is running (false before `start` and after it ends). Python:
    /// `is_alive()`.
    ///
    /// ```
    /// let mut p = multiproc::Process::new(|s: u64| std::thread::sleep(std::time::Duration::from_secs(s)), 3600);
    /// assert!(!p.is_alive());
    /// p.start()?;
    /// assert!(p.is_alive());
    /// p.kill()?;
    /// let _ = p.join();
    /// assert!(!p.is_alive());
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        self.polled_child().is_ok_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// How the child ended, or `None` before `start` and while it runs. Python: `exitcode`.
    ///
    /// ```
    /// use multiproc::{ExitStatus, Process};
    ///
    /// let mut p = Process::new(|x: u8| x, 1);
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(p.exit_code(), Some(ExitStatus::Code(0)));
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn exit_code(&self) -> Option<ExitStatus> {
        self.polled_child().ok().and_then(|c| c.try_wait().ok().flatten())
    }

    /// A descriptor that becomes readable when the child ends, for
    /// `multiproc::connection::wait` or `poll`. Python: `sentinel`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`] before `start`; [`ProcessError::Start`] when the
    /// system has no pidfds (Linux before 5.3).
    ///
    /// ```
    /// use multiproc::connection::wait;
    ///
    /// let mut p = multiproc::Process::new(|x: u8| x, 1);
    /// p.start()?;
    /// let sentinel = p.sentinel()?;
    /// assert_eq!(wait(&[&sentinel], None)?, [0]); // ready once the child has ended
    /// assert_eq!(p.join()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sentinel(&self) -> Result<Sentinel, ProcessError> {
        let fd = self.child()?.sentinel().map_err(|e| ProcessError::Start(e.into()))?;
        Ok(Sentinel::new(fd))
    }

    /// Sends SIGTERM. Python: `terminate()`.
    ///
    /// ```
    /// use multiproc::{ExitStatus, Process};
    ///
    /// let mut p = Process::new(|s: u64| std::thread::sleep(std::time::Duration::from_secs(s)), 3600);
    /// p.start()?;
    /// p.terminate()?;
    /// assert_eq!(p.join().unwrap_err().exit_status(), Some(ExitStatus::Signal(15)));
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.child()?.terminate().map_err(|e| ProcessError::Start(e.into()))
    }

    /// Sends SIGKILL. Python: `kill()`.
    ///
    /// ```
    /// use multiproc::{ExitStatus, Process};
    ///
    /// let mut p = Process::new(|s: u64| std::thread::sleep(std::time::Duration::from_secs(s)), 3600);
    /// p.start()?;
    /// p.kill()?;
    /// assert_eq!(p.join().unwrap_err().exit_status(), Some(ExitStatus::Signal(9)));
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.child()?.kill().map_err(|e| ProcessError::Start(e.into()))
    }

    /// Releases the process object; later calls give [`ProcessError::Closed`]. Refused
    /// while the child runs. Python: `close()`.
    ///
    /// ```
    /// use multiproc::{Process, ProcessError};
    ///
    /// let mut p = Process::new(|x: u8| x, 1);
    /// p.start()?;
    /// p.join()?;
    /// p.close()?;
    /// assert!(matches!(p.join(), Err(ProcessError::Closed)));
    /// # Ok::<(), ProcessError>(())
    /// ```
    pub fn close(&mut self) -> Result<(), ProcessError> {
        if let State::Started { child, .. } = &self.state
            && matches!(child.try_wait(), Ok(None))
        {
            return Err(ProcessError::StillRunning);
        }
        self.state = State::Closed;
        Ok(())
    }
}

impl Context {
    /// A process that will run `target(arg)` with this context's start method (see
    /// [`Process::new`]).
    ///
    /// ```
    /// use multiproc::{Context, StartMethod};
    ///
    /// let mut p = Context::new(StartMethod::Spawn).process(|x: u64| x + 1, 41);
    /// p.start()?;
    /// assert_eq!(p.join()?, 42);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn process<A, T, Via>(&self, target: fn(A) -> T, arg: A) -> Process<T::Value>
    where
        A: Serialize + DeserializeOwned + 'static,
        T: TaskReturn<Via>,
    {
        let f = Function::new(target);
        let mut buf = Vec::new();
        let (arg, pins) = match encode_pinned(&arg, What::Argument, &mut buf) {
            Ok(pins) => (Ok(buf), pins),
            Err(e) => (Err(e), Pins::default()),
        };
        Process::with_target(Target::Call { func: f.id::<Via>(), arg, pins }, *self)
    }
}
