//! Capturing a panic as [`PanicInfo`]: message, location and backtrace, in the process
//! where it happened.
//!
//! The hook only captures the backtrace (tens of microseconds); it is resolved into text
//! by [`take_panic`], after the unwinding, because resolving is slow the first time in a
//! process (it reads the binary's debug information: 100–300 ms for a debug build), and a
//! pool worker's caller must not count that time as its task's.

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use multiproc_codec::{Location, PanicInfo};

/// A panic as the hook saw it, its backtrace not yet resolved.
struct Caught {
    message: String,
    location: Option<Location>,
    backtrace: Backtrace,
}

thread_local! {
    static LAST: RefCell<Option<Caught>> = const { RefCell::new(None) };
}

/// Whether this process is a worker whose panics are captured (not printed).
static CAPTURE: AtomicBool = AtomicBool::new(false);

/// Installs, once, a hook that records panics for [`take_panic`] in a worker and defers
/// to the previous hook everywhere else.
///
/// The bootstrap hook installs it before `main`, while the process has one thread, so
/// that neither a parent about to fork nor a forked child ever calls `set_hook` later:
/// that takes the hook's lock, which another thread may hold mid-panic — a deadlock. (If
/// the program replaces the hook afterwards, workers still catch panics, with the message
/// but without location and backtrace.)
pub(crate) fn prepare() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CAPTURE.load(Ordering::Relaxed) {
                return previous(info);
            }
            let location = info.location().map(|l| Location {
                file: l.file().to_owned(),
                line: l.line(),
                column: l.column(),
            });
            let record = Caught {
                message: message_of(info.payload()),
                location,
                backtrace: Backtrace::force_capture(),
            };
            LAST.with(|l| *l.borrow_mut() = Some(record));
        }));
    });
}

/// Makes this (child) process capture its panics for the parent instead of printing
/// them. Takes no lock when the hook is already in place (a forked child).
pub(crate) fn capture() {
    prepare();
    CAPTURE.store(true, Ordering::Relaxed);
}

fn message_of(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// The panic just caught on this thread (by `catch_unwind`), from the panic hook's record
/// in a worker, or else from the payload alone.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
/// assert_eq!(multiproc::process::take_panic(payload.as_ref()).message, "boom");
/// ```
pub fn take_panic(payload: &(dyn Any + Send)) -> PanicInfo {
    match LAST.with(|l| l.borrow_mut().take()) {
        Some(caught) => PanicInfo {
            message: caught.message,
            location: caught.location,
            backtrace: caught.backtrace.to_string(),
        },
        None => {
            PanicInfo { message: message_of(payload), location: None, backtrace: String::new() }
        }
    }
}

/// How much of a backtrace Rust prints with a panic: `RUST_BACKTRACE` unset or `0`: none,
/// `full`: all of it, anything else: the short form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BacktraceStyle {
    Off,
    Short,
    Full,
}

/// The style `RUST_BACKTRACE` asked for before [`BacktraceStyle::take_env`] removed it.
static TAKEN: std::sync::OnceLock<BacktraceStyle> = std::sync::OnceLock::new();

impl BacktraceStyle {
    /// The style `RUST_BACKTRACE` asks for (or asked for, before it was taken).
    pub(crate) fn from_env() -> BacktraceStyle {
        if let Some(style) = TAKEN.get() {
            return *style;
        }
        match std::env::var_os("RUST_BACKTRACE") {
            None => BacktraceStyle::Off,
            Some(v) if v == "0" => BacktraceStyle::Off,
            Some(v) if v == "full" => BacktraceStyle::Full,
            Some(_) => BacktraceStyle::Short,
        }
    }
}

impl BacktraceStyle {
    /// Removes `RUST_BACKTRACE` from this process's environment, keeping its style for
    /// this module's reports: Rust's own report of a failed allocation then prints no
    /// backtrace, which would run system calls between the failed `malloc` and the abort.
    /// Only in a child that just booted, where this is the only thread.
    pub(crate) fn take_env() {
        let _ = TAKEN.set(BacktraceStyle::from_env());
        crate::sys::remove_env("RUST_BACKTRACE");
    }
}

/// What Rust prints for a panic, as the panic in `p` (caught in this process) would have
/// printed it: message and location, then the backtrace as `style` asks.
pub(crate) fn describe(p: &PanicInfo, style: BacktraceStyle) -> String {
    let mut out = match &p.location {
        Some(loc) => format!("panicked at {loc}:\n{}\n", p.message),
        None => format!("panicked:\n{}\n", p.message),
    };
    match style {
        BacktraceStyle::Off => out.push_str(
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
        ),
        BacktraceStyle::Short if !p.backtrace.is_empty() => {
            out.push_str("stack backtrace:\n");
            out.push_str(&short_backtrace(&p.backtrace));
            out.push_str(
                "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n",
            );
        }
        BacktraceStyle::Full if !p.backtrace.is_empty() => {
            out.push_str("stack backtrace:\n");
            out.push_str(&p.backtrace);
            if !p.backtrace.ends_with('\n') {
                out.push('\n');
            }
        }
        BacktraceStyle::Short | BacktraceStyle::Full => {}
    }
    out
}

/// The frames of a captured backtrace that Rust's short form shows: from where the panic
/// began (after the panic machinery and this crate's hook) to the task's own frames
/// (before the `catch_unwind` that caught it), numbered from 0.
fn short_backtrace(full: &str) -> String {
    // A frame is a "  N: symbol" line and the "at file:line" lines under it.
    let mut frames: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in full.lines() {
        let header = line.trim_start().split_once(": ").filter(|(n, _)| n.parse::<u32>().is_ok());
        match (header, frames.last_mut()) {
            (Some((_, symbol)), _) => frames.push((symbol, Vec::new())),
            (None, Some((_, at))) => at.push(line),
            (None, None) => {}
        }
    }
    let start = frames
        .iter()
        .position(|(symbol, _)| symbol.contains("__rust_end_short_backtrace"))
        .map_or(0, |i| i + 1);
    let end = frames[start..]
        .iter()
        .position(|(symbol, _)| symbol.contains("catch_unwind") || symbol.contains("do_call"))
        .map_or(frames.len(), |i| start + i);
    let mut out = String::new();
    for (n, (symbol, at)) in frames[start..end].iter().enumerate() {
        out.push_str(&format!("{n:>4}: {symbol}\n"));
        for line in at {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = "   0: {closure#0}
             at ./crates/process/src/panic.rs:55:28
   1: std::panicking::panic_with_hook
   2: std::sys::backtrace::__rust_end_short_backtrace::<F, !>
             at /rustc/library/std/src/sys/backtrace.rs:182:18
   3: __rustc::rust_begin_unwind
   4: core::panicking::panic_fmt
   5: tour::panics
             at ./examples/tour.rs:24:5
   6: {closure#0}<u32, u32>
             at ./crates/process/src/function.rs:123:63
   7: do_call<F, u32>
   8: catch_unwind<F, u32>
   9: call<u32, u32>
  10: before_main
";

    #[test]
    fn the_short_form_keeps_the_frames_between_the_panic_and_its_catch() {
        let short = short_backtrace(CAPTURED);
        let symbols: Vec<&str> = short
            .lines()
            .filter(|l| !l.trim_start().starts_with("at "))
            .map(|l| l.split_once(": ").unwrap().1)
            .collect();
        assert_eq!(
            symbols,
            [
                "__rustc::rust_begin_unwind",
                "core::panicking::panic_fmt",
                "tour::panics",
                "{closure#0}<u32, u32>"
            ]
        );
        assert!(short.starts_with("   0: __rustc::rust_begin_unwind\n"), "{short}");
        assert!(short.contains("at ./examples/tour.rs:24:5"), "{short}");
    }

    #[test]
    fn the_message_reads_as_rust_prints_it() {
        let p = PanicInfo {
            message: "boom".into(),
            location: Some(Location { file: "src/main.rs".into(), line: 2, column: 5 }),
            backtrace: CAPTURED.into(),
        };
        let off = describe(&p, BacktraceStyle::Off);
        assert_eq!(
            off,
            "panicked at src/main.rs:2:5:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
        );
        assert!(!describe(&p, BacktraceStyle::Short).contains("panic_with_hook"));
        assert!(describe(&p, BacktraceStyle::Full).contains("panic_with_hook"));
    }
}
