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
