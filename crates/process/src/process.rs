//! [`Process`]: run a function in a child process. Python: `multiprocessing.Process`.

use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use multiproc_codec::{
    BinaryFingerprint, CodecError, FnId, Frame, FrameBuf, ItemOutcome, Pins, RemoteFailure, What,
    decode, encode_pinned, parse,
};
use multiproc_ipc::{Channel, IpcError, Message};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::child::Child;
use crate::context::{Context, StartMethod};
use crate::error::ProcessError;
use crate::exit::ExitStatus;
use crate::function::Function;
use crate::identity;
use crate::protocol::Job;
use crate::sentinel::Sentinel;
use crate::start::{self, Spec};
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

/// What the child delivered before it exited.
#[derive(Debug)]
enum Delivery {
    Value(Vec<u8>),
    Failed(RemoteFailure),
    Nothing,
}

/// The result slot a reader thread fills (see [`Inbox::Reader`]).
#[derive(Debug, Default)]
struct Outcome {
    slot: Mutex<Option<Delivery>>,
    ready: Condvar,
}

impl Outcome {
    /// Waits until the delivery is in (true) or `deadline` passes (false).
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        while slot.is_none() {
            match deadline {
                None => slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    slot = self.ready.wait_timeout(slot, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
        true
    }

    fn take(&self) -> Delivery {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or(Delivery::Nothing)
    }
}

/// Where the child's one result frame is until `join` takes it.
///
/// It stays on the channel, read by the thread that calls `join` (no extra thread, no
/// hand-over between threads on the way to the caller), unless a `join_timeout` — which
/// must be able to give up — hands the channel to a reader thread.
enum Inbox {
    /// Still on the channel.
    Channel(Channel),
    /// A reader thread owns the channel and fills `outcome`.
    Reader { outcome: Arc<Outcome>, thread: JoinHandle<()> },
    /// Read.
    Delivered(Delivery),
}

impl Inbox {
    /// Waits until the delivery is in (true) or `deadline` passes (false).
    fn wait(&mut self, deadline: Option<Instant>) -> Result<bool, ProcessError> {
        loop {
            match std::mem::replace(self, Inbox::Delivered(Delivery::Nothing)) {
                Inbox::Channel(channel) if deadline.is_none() => {
                    *self = Inbox::Delivered(delivery(channel.recv()));
                }
                Inbox::Channel(channel) => *self = spawn_reader(channel)?,
                Inbox::Reader { outcome, thread } => {
                    if !outcome.wait(deadline) {
                        *self = Inbox::Reader { outcome, thread };
                        return Ok(false);
                    }
                    // Joining the reader closes our end of the channel now.
                    let _ = thread.join();
                    *self = Inbox::Delivered(outcome.take());
                }
                delivered @ Inbox::Delivered(_) => {
                    *self = delivered;
                    return Ok(true);
                }
            }
        }
    }

    /// Reads the delivery if it is already waiting on the channel, so that a child whose
    /// result is too large for the channel's buffer can finish sending it and exit while
    /// the caller polls `is_alive` or `exit_code`.
    fn poll(&mut self) {
        if let Inbox::Channel(channel) = self
            && let Ok(Some(msg)) = channel.receiver().try_recv()
        {
            *self = Inbox::Delivered(delivery(Ok(msg)));
        }
    }

    fn take(&mut self) -> Delivery {
        match std::mem::replace(self, Inbox::Delivered(Delivery::Nothing)) {
            Inbox::Delivered(delivery) => delivery,
            other => {
                *self = other;
                Delivery::Nothing
            }
        }
    }
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
    /// A process that will run `target(arg)`, with the default [`Context`].
    /// Python: `Process(target=f, args=(arg,))`.
    pub fn new<A>(target: fn(A) -> R, arg: A) -> Process<R>
    where
        A: Serialize + DeserializeOwned + 'static,
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

    /// Sets the name (before `start`). Python: `Process(name=...)`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the daemon flag (before `start`): a daemonic process may not start children.
    /// Python: `Process(daemon=True)`.
    pub fn with_daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// The name: `Process-N` (or `Process-N:M` in a child) unless set.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The daemon flag.
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// The start method this process uses.
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
            forged_binary: self.forged_binary,
        };
        let started = match &mut self.target {
            Target::Call { func, arg, pins } => {
                let arg = arg.as_ref().map_err(|e| ProcessError::Encode(e.clone()))?;
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
    pub fn join(&mut self) -> Result<R, ProcessError> {
        self.join_until(None).map(|r| r.expect("no deadline"))
    }

    /// Like [`join`](Self::join), but gives up after `timeout` with `Ok(None)`, leaving the
    /// child running. Python: `join(timeout)`.
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
                decode(&bytes, What::Result).map(Some).map_err(ProcessError::Decode)
            }
            Delivery::Failed(RemoteFailure::Panicked(p)) => Err(ProcessError::Panicked(p)),
            Delivery::Failed(f) => Err(ProcessError::Failed(f)),
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
    pub fn pid(&self) -> Option<u32> {
        self.child().ok().map(Child::pid)
    }

    /// Whether the child is running (false before `start` and after it ends). Python:
    /// `is_alive()`.
    pub fn is_alive(&self) -> bool {
        self.polled_child().is_ok_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// How the child ended, or `None` before `start` and while it runs. Python: `exitcode`.
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
    pub fn sentinel(&self) -> Result<Sentinel, ProcessError> {
        let fd = self.child()?.sentinel().map_err(|e| ProcessError::Start(e.into()))?;
        Ok(Sentinel::new(fd))
    }

    /// Sends SIGTERM. Python: `terminate()`.
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.child()?.terminate().map_err(|e| ProcessError::Start(e.into()))
    }

    /// Sends SIGKILL. Python: `kill()`.
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.child()?.kill().map_err(|e| ProcessError::Start(e.into()))
    }

    /// Releases the process object; later calls give [`ProcessError::Closed`]. Refused
    /// while the child runs. Python: `close()`.
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

/// What the child's one result frame (or the end of the channel) delivers.
fn delivery(msg: Result<Message, IpcError>) -> Delivery {
    match msg {
        Ok(msg) => match parse(&msg) {
            Ok(Frame::Results(r)) if r.len() == 1 => match r.item(0) {
                ItemOutcome::Value(bytes) => Delivery::Value(bytes.to_vec()),
                ItemOutcome::Failed(f) => Delivery::Failed(f),
            },
            _ => Delivery::Nothing,
        },
        Err(_) => Delivery::Nothing,
    }
}

/// Hands the channel to a thread that reads the result frame, so that a wait for it can
/// give up (on a condition variable) and leave the reading to go on.
fn spawn_reader(channel: Channel) -> Result<Inbox, ProcessError> {
    let outcome = Arc::new(Outcome::default());
    let slot = Arc::clone(&outcome);
    let thread = std::thread::Builder::new()
        .name("multiproc-process-reader".into())
        .spawn(move || {
            *slot.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(delivery(channel.recv()));
            slot.ready.notify_all();
        })
        .map_err(|e| ProcessError::Start(e.into()))?;
    Ok(Inbox::Reader { outcome, thread })
}

impl Context {
    /// A process that will run `target(arg)` with this context's start method.
    pub fn process<A, R>(&self, target: fn(A) -> R, arg: A) -> Process<R>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let f = Function::new(target);
        let mut buf = Vec::new();
        let (arg, pins) = match encode_pinned(&arg, What::Argument, &mut buf) {
            Ok(pins) => (Ok(buf), pins),
            Err(e) => (Err(e), Pins::default()),
        };
        Process::with_target(Target::Call { func: f.id(), arg, pins }, *self)
    }
}
