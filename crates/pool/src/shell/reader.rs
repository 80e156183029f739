//! A worker slot's reader thread: starts (and initializes, and replaces) the slot's
//! worker, reads its answers and hands each run of them to the sink of its job, and
//! reports the worker's loss to the plan.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use multiproc_codec::{Control, Frame, FrameBuf, parse};
use multiproc_process::monotonic_ns;

use super::{Core, Handles, trace};
use crate::answers::Answers;
use crate::backend::{Answer, Expect, Lost, WorkerLink};
use crate::error::TaskError;
use crate::plan::{Span, Startup};
use crate::sink::Sink;

impl Core {
    /// The reader thread of slot `slot`.
    pub(super) fn reader(&self, slot: usize) {
        let mut spans = Vec::new();
        let mut sinks = Vec::new();
        while let Some((mut link, incarnation)) = self.start_worker(slot) {
            // When the worker's next answers are due (see `Plan::expect`).
            let mut expect = Expect::Idle;
            let mut trusted = true;
            // Whether the worker may ask to retire, and has not yet.
            let mut retires = self.settings.limits.may_retire();
            let control = Arc::clone(&link.control);
            while trusted {
                let now = expect;
                let mut on_answers = |answers: Answers<'_>| {
                    if !trusted {
                        // Read with answers it sent before it broke the protocol: dropped.
                        return;
                    }
                    // Before the answers are delivered: the next task of their caller
                    // goes to another worker.
                    if retires && control.wants_retire() {
                        self.on_retire_asked(slot, incarnation);
                        retires = false;
                    }
                    match self.on_answers(slot, incarnation, answers, &mut spans, &mut sinks) {
                        Some(next) => expect = next,
                        None => trusted = false,
                    }
                };
                if let Err(broke) = receive(&mut link, now, &mut on_answers) {
                    trusted = !broke;
                    break;
                }
            }
            if !trusted {
                self.lock().plan.on_broken(slot, incarnation);
            }
            if !self.on_lost(slot, incarnation, &link) {
                return;
            }
        }
    }

    /// Hands a run of answers to the sinks: `None` if the worker sent something it
    /// should not have (more answers than it holds, a control frame other than a skip
    /// the plan expects), else when its next answers are due.
    fn on_answers(
        &self,
        slot: usize,
        incarnation: u64,
        mut answers: Answers<'_>,
        spans: &mut Vec<Span>,
        sinks: &mut Vec<Option<Arc<dyn Sink>>>,
    ) -> Option<Expect> {
        if answers.has_control() {
            let (Some(Answer::Control(bytes)), None) = (answers.next(), answers.next()) else {
                return None;
            };
            let Ok(Frame::Control(Control::Skipped { from })) = parse(bytes) else {
                return None;
            };
            let mut st = self.lock();
            st.plan.on_skipped(slot, incarnation, from, monotonic_ns()).ok()?;
            let expect = st.plan.expect(slot);
            self.finish(st);
            return Some(expect);
        }
        spans.clear();
        sinks.clear();
        let mut st = self.lock();
        st.plan.on_answers(slot, incarnation, answers.len(), monotonic_ns(), spans).ok()?;
        sinks.extend(spans.iter().map(|s| st.sinks.get(&s.job).cloned()));
        let expect = st.plan.expect(slot);
        let (work, _) = self.take_work(&mut st);
        drop(st);
        let intact = deliver(answers, spans, sinks);
        self.execute(work);
        // A block that did not hold what it said: each of its items has its outcome (a
        // failure where the answer was missing), and the worker broke the protocol.
        intact.then_some(expect)
    }

    /// The worker asked to retire after its current task: it is stopped and replaced.
    fn on_retire_asked(&self, slot: usize, incarnation: u64) {
        let mut st = self.lock();
        st.plan.on_retire_asked(slot, incarnation);
        self.finish(st);
    }

    /// The worker is gone: reports it and says whether to start a replacement.
    fn on_lost(&self, slot: usize, incarnation: u64, link: &WorkerLink) -> bool {
        link.control.kill();
        let status = link.control.wait();
        let progress = link.control.progress();
        let name = link.control.describe();
        let mut st = self.lock();
        st.workers[slot] = None;
        let ended = st.plan.on_lost(slot, incarnation, progress, status, &name, monotonic_ns());
        self.finish(st);
        trace::exited(self.id, slot, &*link.control, status, ended);
        ended.restart
    }

    /// Starts (and initializes) a worker for `slot`, retrying a bounded number of times.
    /// `None` once the pool no longer wants one.
    fn start_worker(&self, slot: usize) -> Option<(WorkerLink, u64)> {
        let asked = monotonic_ns();
        loop {
            if !self.lock().plan.wants_worker() {
                return None;
            }
            let span = trace::starting(self.id, slot);
            let error = match self.backend.start(slot, self.settings.timeout.is_some()) {
                Ok(mut link) => {
                    span.identify(&*link.control);
                    self.lock().starting[slot] = Some(Arc::clone(&link.control));
                    let started = monotonic_ns();
                    match self.initialize(slot, &mut link) {
                        Ok(()) => {
                            let now = monotonic_ns();
                            let startup = Startup {
                                startup_ns: started.saturating_sub(asked),
                                init_ns: now.saturating_sub(started),
                            };
                            trace::started(self.id, slot, &*link.control, startup);
                            let mut st = self.lock();
                            st.starting[slot] = None;
                            let incarnation = st.plan.worker_ready(slot, now, startup);
                            st.workers[slot] = Some(Handles {
                                incarnation,
                                tx: Arc::clone(&link.tx),
                                control: Arc::clone(&link.control),
                            });
                            self.finish(st);
                            return Some((link, incarnation));
                        }
                        Err(e) => {
                            self.lock().starting[slot] = None;
                            link.control.kill();
                            link.control.wait();
                            e
                        }
                    }
                }
                Err(e) => TaskError::StartFailed(e),
            };
            trace::start_failed(self.id, slot, &error);
            drop(span);
            let mut st = self.lock();
            let retry = st.plan.start_failed(error);
            self.finish(st);
            if !retry {
                return None;
            }
        }
    }

    /// Runs the initializer on a fresh worker.
    fn initialize(&self, slot: usize, link: &mut WorkerLink) -> Result<(), TaskError> {
        let Some((func, args)) = &self.settings.initializer else {
            return Ok(());
        };
        let _span = trace::initializer(self.id, slot, &*link.control);
        let mut fb = FrameBuf::new();
        let msg = Control::Initialize { func: *func, args: args.clone().into() };
        let died = |link: &WorkerLink| {
            let status = link.control.wait();
            TaskError::InitializerFailed(match status {
                Some(s) => format!("the worker exited during initialization with code {s}"),
                None => "the worker exited during initialization".into(),
            })
        };
        if link.tx.send(&[fb.control(&msg)]).is_err() {
            return Err(died(link));
        }
        let mut reply = None;
        let received = receive(link, Expect::Idle, &mut |mut answers: Answers<'_>| {
            reply = Some(match (answers.next(), answers.next()) {
                (Some(Answer::Control(bytes)), None) => match parse(bytes) {
                    Ok(Frame::Control(Control::Initialized)) => Ok(()),
                    Ok(Frame::Control(Control::InitFailed(f))) => {
                        Err(TaskError::InitializerFailed(f.to_string()))
                    }
                    _ => Err(TaskError::InitializerFailed("unexpected reply".into())),
                },
                _ => Err(TaskError::InitializerFailed("unexpected reply".into())),
            });
        });
        match (received, reply) {
            (Ok(()), Some(reply)) => reply,
            (Ok(()), None) => Err(TaskError::InitializerFailed("no reply".into())),
            (Err(_), _) => Err(died(link)),
        }
    }
}

/// Receives the worker's next answers, as `WorkerLink::rx.recv`; a panic on the way (in
/// reading or decoding what the worker sent, or in handing it on) is the worker's loss,
/// never the reader thread's end: the slot's worker is then killed and replaced, and its
/// tasks fail, instead of waiting for a reader that is gone. `Err(true)` when the worker
/// broke the protocol (a panic counts as that), `Err(false)` when it is gone.
fn receive(
    link: &mut WorkerLink,
    expect: Expect,
    on_answers: &mut dyn FnMut(Answers<'_>),
) -> Result<(), bool> {
    match catch_unwind(AssertUnwindSafe(|| link.rx.recv(expect, on_answers))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Lost)) => Err(link.rx.broke_protocol()),
        Err(_) => Err(true),
    }
}

/// Hands each span its run of answers, in order; whether they were
/// [`intact`](Answers::intact).
fn deliver(mut answers: Answers<'_>, spans: &[Span], sinks: &[Option<Arc<dyn Sink>>]) -> bool {
    for (span, sink) in spans.iter().zip(sinks) {
        answers.window(span.len, |run| {
            let Some(sink) = sink else { return };
            match span.contiguous() {
                Some(first) => sink.deliver(first, run),
                None => {
                    for (index, answer) in span.indices().zip(run) {
                        sink.deliver(index, &mut Answers::list(&[answer]));
                    }
                }
            }
        });
    }
    answers.intact()
}
