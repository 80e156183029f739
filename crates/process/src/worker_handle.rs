//! [`Worker`]: a started pool worker, for the layers above (the pool's scheduler).

use multiproc_ipc::{Channel, Ring, SharedWords};

use crate::child::Child;
use crate::context::Context;
use crate::error::StartError;
use crate::limits::Limits;
use crate::protocol::Job;
use crate::start::{self, Spec};
use crate::{descriptors, identity};

/// A child running the worker loop: it runs task batches sent over `channel` and
/// answers each with a result batch, updating `progress` around every item (see
/// [`progress`](crate::progress)). It exits on a `Shutdown` control message, when the
/// channel closes, or when its parent dies.
///
/// The parent holds three descriptors per worker, the sockets of `channel` that it uses:
/// the frames to the worker and their shared-memory regions, and the regions of the
/// worker's large answers. The ring and the progress words stay mapped without theirs
/// (they cannot be sent on), the channel's incoming frames are closed (the worker answers
/// through the ring), and the child's pidfd is opened only while something waits on it
/// with a deadline.
#[derive(Debug)]
pub struct Worker {
    /// The child process.
    pub child: Child,
    /// The parent's end of the worker's channel.
    pub channel: Channel,
    /// Progress words the worker updates around every item.
    pub progress: SharedWords,
    /// The ring the worker writes its answers into, one record per item (see
    /// [`answer`](crate::answer) for the kinds): each readable as soon as it is written,
    /// also after the worker died.
    pub ring: Ring,
}

/// Starts a pool worker named `name` (or `Process-N`) with `ctx`'s start method, under
/// `limits` (applied in the worker before anything runs). With `stamp_items`, the worker
/// also records when each item starts (for per-task timeouts).
///
/// ```
/// use multiproc::{start_worker, Context};
/// use multiproc::process::Limits;
///
/// let w = start_worker(&Context::default(), Some("PoolWorker-1".into()), false, Limits::new())?;
/// assert_eq!(w.child.name(), "PoolWorker-1");
/// # Ok::<(), multiproc::StartError>(())
/// ```
pub fn start_worker(
    ctx: &Context,
    name: Option<String>,
    stamp_items: bool,
    limits: Limits,
) -> Result<Worker, StartError> {
    let (identity, default_name) = identity::next_child();
    let spec = Spec {
        name: name.unwrap_or(default_name),
        identity,
        daemon: true,
        job: Job::Serve,
        stamp_items,
        limits,
        forged_binary: None,
    };
    let started = descriptors::in_turn(|| start::start(*ctx, spec))?;
    let mut ring = started.ring.ok_or_else(|| {
        StartError::Io(std::io::Error::other("the worker came without an answer ring"))
    })?;
    // This process keeps no descriptor it does not use (see `Worker`): the ring and the
    // progress words stay mapped, and the worker sends no frame after its hello.
    let mut progress = started.progress;
    ring.detach()?;
    progress.detach()?;
    let (tx, mut rx) = started.channel.split();
    rx.close_frames();
    Ok(Worker { child: started.child, channel: Channel::from_parts(tx, rx), progress, ring })
}
