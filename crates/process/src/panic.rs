//! Capturing a panic as [`PanicInfo`]: message, location and backtrace, in the process
//! where it happened.

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use multiproc_codec::{Location, PanicInfo};

thread_local! {
    static LAST: RefCell<Option<PanicInfo>> = const { RefCell::new(None) };
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
            let record = PanicInfo {
                message: message_of(info.payload()),
                location,
                backtrace: Backtrace::force_capture().to_string(),
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
    LAST.with(|l| l.borrow_mut().take()).unwrap_or_else(|| PanicInfo {
        message: message_of(payload),
        location: None,
        backtrace: String::new(),
    })
}
