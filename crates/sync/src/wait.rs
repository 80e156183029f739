//! [`wait`]: sleep until one of several connections, queues and process sentinels is
//! ready. Python: `multiprocessing.connection.wait`.
//!
//! Every lane's consumers sleep on a socket (its bell), and a process's sentinel is a
//! pidfd, so one `poll` covers them all: the caller is counted first as a sleeper on each
//! lane, so that a producer that commits rings, then each is looked at once more.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use multiproc_process::Sentinel;

use crate::endpoint::Receiving;
use crate::sys::socket;

/// What [`wait`] watches on an object (opaque outside this crate).
#[doc(hidden)]
#[derive(Debug)]
pub struct Readiness<'a>(pub(crate) Watch<'a>);

#[derive(Debug)]
pub(crate) enum Watch<'a> {
    /// A lane's consumers' end: ready with an item waiting, or every producer gone.
    Lane(&'a Receiving),
    /// A descriptor: ready when readable (a pidfd when its process ended).
    Fd(BorrowedFd<'a>),
    /// Never ready (the writing end of a one-way pipe).
    Never,
}

/// Something [`wait`] can wait on: a [`Connection`](crate::Connection), a
/// [`Queue`](crate::Queue) or its receiver, a [`SimpleQueue`](crate::SimpleQueue), a
/// [`JoinableQueue`](crate::JoinableQueue), or a process [`Sentinel`]. Only this crate
/// implements it.
pub trait Waitable {
    /// What to watch.
    #[doc(hidden)]
    fn readiness(&self) -> Readiness<'_>;
}

impl Waitable for Sentinel {
    fn readiness(&self) -> Readiness<'_> {
        Readiness(Watch::Fd(self.as_fd()))
    }
}

/// Waits until at least one of `objects` is ready, or `timeout` passes (`None`: no
/// limit), and returns the indices of those that are (empty after a timeout). Takes
/// nothing from any of them. Python: `multiprocessing.connection.wait(objects, timeout)`.
///
/// A connection or queue is ready when a receive would return at once: a message is
/// waiting, or every sender is gone (the receive then says `Disconnected`). A sentinel
/// is ready once its process has ended.
///
/// ```
/// use std::time::Duration;
/// use multiproc::Process;
/// use multiproc::connection::wait;
/// use multiproc::sync::{Pipe, Queue};
///
/// let (a, b) = Pipe::<u8>::new()?;
/// let q = Queue::<u8>::new()?;
/// let mut p = Process::new(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 1);
/// p.start()?;
/// let sentinel = p.sentinel()?;
/// a.send(7)?;
/// assert_eq!(wait(&[&q, &b], Some(Duration::from_secs(5)))?, [1]); // the pipe
/// p.join()?;
/// assert_eq!(wait(&[&q, &sentinel], None)?, [1]); // the process ended
/// assert!(wait(&[&q], Some(Duration::ZERO))?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Only when the system refuses (`poll` fails).
pub fn wait(objects: &[&dyn Waitable], timeout: Option<Duration>) -> io::Result<Vec<usize>> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let watched: Vec<Watch<'_>> = objects.iter().map(|o| o.readiness().0).collect();
    wait_until(&watched, deadline)
}

/// [`wait`] with a deadline (`None`: none).
pub(crate) fn wait_until(
    watched: &[Watch<'_>],
    deadline: Option<Instant>,
) -> io::Result<Vec<usize>> {
    loop {
        // Count in as a sleeper on every lane and look: what is ready now. Counted until
        // the end of this round (`armed` drops).
        let mut armed = Vec::new();
        let mut lanes_ready = Vec::new();
        for (i, w) in watched.iter().enumerate() {
            if let Watch::Lane(rx) = w {
                let (ready, counted) = rx.ready();
                armed.extend(counted);
                if ready {
                    lanes_ready.push(i);
                }
            }
        }
        let fds: Vec<(usize, BorrowedFd<'_>)> = watched
            .iter()
            .enumerate()
            .filter_map(|(i, w)| match w {
                Watch::Lane(rx) => Some((i, rx.bell())),
                Watch::Fd(fd) => Some((i, *fd)),
                Watch::Never => None,
            })
            .collect();
        // With a lane ready, only look at the rest (sentinels) without waiting.
        let now = Some(Instant::now());
        let until = if lanes_ready.is_empty() { deadline } else { now };
        let polled = if fds.is_empty() {
            if let Some(d) = until {
                std::thread::sleep(d.saturating_duration_since(Instant::now()));
            }
            Vec::new()
        } else {
            socket::poll(&fds.iter().map(|(_, fd)| *fd).collect::<Vec<_>>(), until)?
        };
        let mut ready = lanes_ready;
        for ((i, _), r) in fds.iter().zip(&polled) {
            if ready.contains(i) {
                continue;
            }
            match &watched[*i] {
                Watch::Fd(_) if r.readable || r.hangup => ready.push(*i),
                // The producers are all gone: a receive returns at once.
                Watch::Lane(_) if r.hangup => ready.push(*i),
                // Items, or a stale bell (drained, as a woken consumer would).
                Watch::Lane(rx) if r.readable && rx.settle()? => ready.push(*i),
                _ => {}
            }
        }
        ready.sort_unstable();
        if !ready.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(ready);
        }
    }
}

impl Receiving {
    /// The bell its consumers sleep on.
    pub(crate) fn bell(&self) -> BorrowedFd<'_> {
        self.half.bell.as_fd()
    }

    /// After the bell was seen readable: whether items are there (a stale bell is
    /// drained).
    pub(crate) fn settle(&self) -> io::Result<bool> {
        self.lane.settle(&self.half)
    }
}
