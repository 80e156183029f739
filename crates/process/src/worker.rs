//! The child side: boot, then run one task (a `Process`) or serve task batches (a pool
//! worker) until told to stop or the parent goes away.

use std::io::Write;
use std::os::fd::RawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};

use multiproc_codec::{
    Control, Frame, FrameBuf, RemoteFailure, SharedFrame, What, decode, encode, parse,
};
use multiproc_ipc::{Channel, HandoffSender, Ring, RingWriter, SharedWords};
use serde::Serialize;

use crate::answers::Answers;
use crate::batch::BatchRun;
use crate::function::Resolved;
use crate::protocol::{Boot, Handshake, Job, Link, link_pair, progress};
use crate::serve::{FrameServer, Served};
use crate::{binary, function, identity, limits, liveness, panic, sys};

/// A spawned child (or a child of the fork server), given `liveness`, the reader of its
/// parent's liveness pipe made for it: watch it, hand the parent its ends, then run.
pub(crate) fn connect_and_run(handoff: HandoffSender<Handshake>, liveness: RawFd) -> ! {
    if let Err(e) = liveness::watch(liveness) {
        fail(&format!("cannot watch the parent: {e}"));
    }
    // The job is only known at boot: enough words for any.
    let (link, handshake) = match link_pair(progress::LEN, true) {
        Ok(pair) => pair,
        Err(e) => fail(&format!("cannot create channels: {e}")),
    };
    if let Err(e) = handoff.send(handshake) {
        fail(&format!("cannot reach the parent: {e}"));
    }
    drop(handoff);
    run(link, None)
}

/// Reports why this worker cannot go on and exits with 71.
pub(crate) fn fail(why: &str) -> ! {
    eprintln!("multiproc worker {}: {why}", std::process::id());
    finish(71)
}

/// Flushes the standard streams and ends the process without running the parent's
/// exit-time code (a forked child shares it).
pub(crate) fn finish(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    sys::exit_now(code)
}

/// Boots (from `preset`, or else from the parent's first message) and runs the job it
/// names.
pub(crate) fn run(link: Link, preset: Option<Boot>) -> ! {
    let booted = boot(link, preset);
    match booted.boot.job {
        Job::Once => run_once(booted),
        Job::Serve => serve(booted),
    }
}

/// Boots, then runs `body` once and reports its value (for `Process::fork`).
pub(crate) fn run_closure<R: Serialize>(link: Link, preset: Boot, body: impl FnOnce() -> R) -> ! {
    let Booted { channel, boot, mut out, .. } = boot(link, Some(preset));
    out.begin_results(0);
    if let Some(watch) = limits::watch() {
        watch.begin();
    }
    let outcome = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => {
            out.push_with(|buf| encode(&value, What::Result, buf)).map_err(RemoteFailure::Codec)
        }
        Err(payload) => Err(RemoteFailure::Panicked(panic::take_panic(payload.as_ref()))),
    };
    let code = match &outcome {
        Ok(()) => 0,
        Err(failure) => {
            out.push_failure(failure);
            report(&boot.name, failure);
            1
        }
    };
    let _ = channel.send(out.finish());
    finish(code)
}

/// Takes the boot record (`preset` in a forked child, which is a copy of its parent's
/// image; else the parent's first message, answered with a hello) and the identity it
/// names.
fn boot(link: Link, preset: Option<Boot>) -> Booted {
    let mut fb = FrameBuf::new();
    let boot = match preset {
        Some(boot) => boot,
        None => {
            let boot: Boot = match link.channel.recv() {
                Ok(m) => match decode(&m, What::Message) {
                    Ok(b) => b,
                    Err(e) => fail(&format!("bad boot message: {e}")),
                },
                Err(_) => finish(0), // the parent went away before booting us
            };
            let mine = binary::fingerprint();
            let hello = Control::Hello { binary: mine, pid: std::process::id() };
            if link.channel.send(fb.control(&hello)).is_err() {
                finish(0);
            }
            if boot.binary != mine {
                // The parent reports the mismatch; we call nothing.
                finish(72);
            }
            boot
        }
    };
    identity::become_child(&boot);
    function::trust_function_key(boot.function_key);
    panic::capture();
    let Link { channel, progress, ring } = link;
    if let Err(e) = limits::apply(&boot.limits, Some(&progress)) {
        fail(&format!("cannot apply the limits {:?}: {e}", boot.limits));
    }
    // The parent is trusted (it chose what this process runs): large frames from it are
    // read in place. The parent copies what this process sends it.
    channel.receiver().trust_sender();
    Booted { channel, progress, ring, boot, out: fb }
}

/// A booted child: its channel, progress words, answer ring (a pool worker's), boot
/// message and frame buffer.
struct Booted {
    channel: Channel,
    progress: SharedWords,
    ring: Option<Ring>,
    boot: Boot,
    out: FrameBuf,
}

fn run_once(Booted { channel, boot, mut out, .. }: Booted) -> ! {
    let msg = match channel.recv() {
        Ok(m) => m,
        Err(_) => finish(0),
    };
    let Ok(Frame::Tasks(task)) = parse(&msg) else { fail("expected a task frame") };
    out.begin_results(task.batch());
    let mut run =
        BatchRun::new(task, Answers::Frame(&mut out), None, false, 0).expect("nothing to claim");
    match Resolved::new(task.func()) {
        Ok(_) if task.len() != 1 => {
            run.fail_all(RemoteFailure::BadFunction("a process runs exactly one task".into()))
        }
        Ok(f) => {
            if let Err(failure) = f.run(&mut run) {
                run.fail_all(failure);
            }
        }
        Err(failure) => run.fail_all(failure),
    }
    let code = match &run.last_failure {
        None => 0,
        Some(failure) => {
            report(&boot.name, failure);
            1
        }
    };
    drop(run);
    let _ = channel.send(out.finish());
    finish(code)
}

/// Python prints "Process Process-1:" and the traceback when a target raises; this prints
/// what Rust prints for the failure: a panic's message and location (its backtrace as
/// `RUST_BACKTRACE` asks: the parent always gets all of it), or `Error: ` and a returned
/// error with its causes.
pub(crate) fn report(name: &str, failure: &RemoteFailure) {
    let text = match failure {
        RemoteFailure::Panicked(p) => panic::describe(p, panic::BacktraceStyle::from_env()),
        RemoteFailure::Failed(e) => {
            let mut text = format!("Error: {e}\n");
            for (i, cause) in e.sources().enumerate() {
                if i == 0 {
                    text.push_str("\nCaused by:\n");
                }
                text.push_str(&format!("    {cause}\n"));
            }
            text
        }
        other => format!("{other}\n"),
    };
    let _ = write!(std::io::stderr().lock(), "Process {name}:\n{text}");
}

fn serve(Booted { channel, progress, ring, boot, .. }: Booted) -> ! {
    let Some(ring) = ring else { fail("a pool worker needs an answer ring") };
    let writer = RingWriter::new(ring, channel.sender().clone());
    let mut server = FrameServer::with_ring(boot.stamp_items, writer);
    loop {
        let msg = match channel.receiver().recv_spin(server.spin()) {
            Ok(m) => m,
            Err(_) => finish(0),
        };
        // Lent: a large `Bytes` argument reads the frame in place instead of copying it.
        let frame = SharedFrame::new(msg);
        match frame.lend(|bytes| server.serve(bytes, Some(&progress))) {
            Ok(Served::Done) => {}
            // Answers go into the ring: there is no frame to reply with.
            Ok(Served::Reply(_)) => fail("a ring worker replied with a frame"),
            // The initializer failed: the parent reports it and decides what is next.
            Ok(Served::InitFailed(_)) => finish(3),
            Ok(Served::Stop) => finish(0),
            Err(e) => fail(&e.to_string()),
        }
        drop(frame);
    }
}
