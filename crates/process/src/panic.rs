//! Capturing a panic as [`PanicInfo`]: message, location and backtrace, in the process
//! where it happened.

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::sync::Once;

use multiproc_codec::{Location, PanicInfo};

thread_local! {
    static LAST: RefCell<Option<PanicInfo>> = const { RefCell::new(None) };
}

/// Installs the panic hook of a child process: it records each panic for
/// [`take_panic`] instead of printing it (the parent reports it).
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
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

fn message_of(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// The panic just caught on this thread, from the hook's record or else the payload.
pub(crate) fn take_panic(payload: &(dyn Any + Send)) -> PanicInfo {
    LAST.with(|l| l.borrow_mut().take()).unwrap_or_else(|| PanicInfo {
        message: message_of(payload),
        location: None,
        backtrace: String::new(),
    })
}
