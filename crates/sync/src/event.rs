//! [`Event`]: a flag processes wait for. Python: `multiprocessing.Event`.
//!
//! One futex word (the flag) and a count of sleepers: `set` stores 1 and wakes the
//! sleepers if any, `wait` sleeps while the word is 0. Nothing is ever held, so nobody's
//! death can leave it stuck.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::SyncError;
use crate::handle;
use crate::object::{Kind, Object};
use crate::sys::futex;

const FLAG: usize = 64;
const SLEEPERS: usize = 68;

/// A flag between processes: set, clear, and wait until set. Python:
/// `multiprocessing.Event`.
///
/// ```
/// use std::time::Duration;
/// use multiproc::Process;
/// use multiproc::sync::Event;
///
/// fn stop_soon(stop: Event) { stop.set(); }
///
/// let stop = Event::new()?;
/// assert!(!stop.wait_timeout(Duration::ZERO));
/// let mut p = Process::new(stop_soon, stop.clone());
/// p.start()?;
/// stop.wait(); // set in the child
/// assert!(stop.is_set());
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Event {
    obj: Arc<Object>,
}

impl Event {
    /// A new event, not set. Python: `Event()`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Io`] when the system refuses the memory.
    pub fn new() -> Result<Event, SyncError> {
        Ok(Event { obj: Object::create(Kind::Event, 0, 0, 0, 128)? })
    }

    fn flag(&self) -> &AtomicU32 {
        self.obj.map().u32_at(FLAG)
    }

    fn sleepers(&self) -> &AtomicU32 {
        self.obj.map().u32_at(SLEEPERS)
    }

    /// Whether it is set. Python: `is_set()`.
    pub fn is_set(&self) -> bool {
        self.flag().load(Ordering::Acquire) != 0
    }

    /// Sets it and wakes every waiter. Python: `set()`.
    pub fn set(&self) {
        self.flag().store(1, Ordering::SeqCst);
        if self.sleepers().load(Ordering::SeqCst) != 0 {
            futex::wake_all(self.flag());
        }
    }

    /// Clears it. Python: `clear()`.
    pub fn clear(&self) {
        self.flag().store(0, Ordering::SeqCst);
    }

    /// Waits until it is set. Python: `wait()`.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout` for it to be set; whether it is. Python: `wait(timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.is_set() {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            self.sleepers().fetch_add(1, Ordering::SeqCst);
            futex::wait_until(self.flag(), 0, deadline);
            self.sleepers().fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl fmt::Debug for Event {
    /// `Event { set: true }`, as Python's repr says `<Event at 0x… set>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event").field("set", &self.is_set()).finish()
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        handle::serialize(&self.obj, s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        handle::deserialize(d, Kind::Event, 0).map(|obj| Event { obj })
    }
}
