//! The messages of the start-up protocol between a parent and a child it starts.
//!
//! ```text
//! spawn / fork server:  child --Handshake--> parent    (over a handoff the child inherited; descriptors travel)
//! fork server:          parent --ForkRequest--> server (over the server's own handoff, with the worker's)
//! every method:         parent --Boot--> child --Hello--> parent, then task frames
//! ```

use multiproc_codec::BinaryFingerprint;
use multiproc_ipc::{Channel, HandoffSender, IpcError, Ring, SharedWords, duplex};
use serde::{Deserialize, Serialize};

use crate::context::StartMethod;
use crate::function::FunctionKey;
use crate::limits::Limits;

/// Slots of the shared progress words a worker updates around every item.
pub mod progress {
    use multiproc_codec::Limit;

    /// Items started so far (cumulative over the worker's life).
    pub const STARTED: usize = 0;
    /// Items finished so far (cumulative).
    pub const FINISHED: usize = 1;
    /// `CLOCK_MONOTONIC` nanoseconds at which the latest item started (only when the
    /// worker was asked to stamp items, for per-task timeouts).
    pub const STARTED_AT_NS: usize = 2;
    /// The claim: an epoch and how many items the worker claimed (see [`pack_claim`]). A
    /// task frame's batch id is the claim its first item is taken from.
    pub const CLAIM: usize = 3;
    /// Nanoseconds the worker spent serving task batches (decoding arguments, running the
    /// tasks, encoding and writing their answers), cumulative: added once per batch.
    pub const BUSY_NS: usize = 4;
    /// Items that failed (returned `Err` or panicked) so far, cumulative; written before
    /// their answers.
    pub const FAILED: usize = 5;
    /// The limit the worker ran into as it died, if any (see [`pack_limit`]): written by
    /// its signal handler when an allocation failed under the memory cap or a task's CPU
    /// time ran out.
    pub const LIMIT: usize = 6;
    /// Nonzero once the worker asks to retire after its current task (see
    /// [`pack_limit`]): its resident memory went over the recycling threshold, or a task
    /// ran out of descriptors.
    pub const RETIRE: usize = 7;
    /// Number of slots.
    pub const LEN: usize = 8;

    /// Bits of a limit word's amount.
    const AMOUNT_BITS: u32 = 56;
    /// The amount of a limit word that says "not known".
    const UNKNOWN: u64 = (1 << AMOUNT_BITS) - 1;

    /// The word for a `limit` reached, with the amount seen (in the limit's unit) if known.
    ///
    /// ```
    /// use multiproc::codec::Limit;
    /// use multiproc::process::progress::{pack_limit, unpack_limit};
    ///
    /// assert_eq!(unpack_limit(pack_limit(Limit::CpuTime, Some(7))), Some((Limit::CpuTime, Some(7))));
    /// assert_eq!(unpack_limit(pack_limit(Limit::Memory, None)), Some((Limit::Memory, None)));
    /// assert_eq!(unpack_limit(0), None);
    /// ```
    pub fn pack_limit(limit: Limit, observed: Option<u64>) -> u64 {
        let code: u64 = match limit {
            Limit::Memory => 1,
            Limit::CpuTime => 2,
            Limit::OpenFiles => 3,
            _ => 0,
        };
        (code << AMOUNT_BITS) | observed.map_or(UNKNOWN, |n| n.min(UNKNOWN - 1))
    }

    /// The limit and amount of a limit word; `None` for 0 (no limit reached) or a word
    /// this version does not know.
    pub fn unpack_limit(word: u64) -> Option<(Limit, Option<u64>)> {
        let limit = match word >> AMOUNT_BITS {
            1 => Limit::Memory,
            2 => Limit::CpuTime,
            3 => Limit::OpenFiles,
            _ => return None,
        };
        let amount = word & UNKNOWN;
        Some((limit, (amount != UNKNOWN).then_some(amount)))
    }

    /// Bits of a claim's item count.
    const COUNT_BITS: u32 = 48;

    /// The claim word for `epoch` with `count` items claimed; also the batch id of a frame
    /// of that epoch whose first item has sequence number `count`.
    ///
    /// ```
    /// use multiproc::process::progress::{pack_claim, unpack_claim};
    ///
    /// assert_eq!(unpack_claim(pack_claim(3, 1000)), (3, 1000));
    /// ```
    pub fn pack_claim(epoch: u16, count: u64) -> u64 {
        (u64::from(epoch) << COUNT_BITS) | (count & ((1 << COUNT_BITS) - 1))
    }

    /// The epoch and the item count of a claim word (or of a frame's batch id).
    pub fn unpack_claim(word: u64) -> (u16, u64) {
        ((word >> COUNT_BITS) as u16, word & ((1 << COUNT_BITS) - 1))
    }
}

/// Bytes of a pool worker's answer ring (256 KiB: the parent reads all of it over a long job,
/// so it counts in the parent's peak memory, W10): answers of up to an eighth of it travel in it,
/// larger ones in shared-memory regions it points to.
pub(crate) const RING_BYTES: usize = 256 << 10;

/// What a pool worker writes into its answer ring: records of these kinds.
pub mod answer {
    /// The encoded value of the worker's next item, alone (too large for a block).
    pub const VALUE: u8 = 0;
    /// The next item's failure, an encoded `RemoteFailure`, alone.
    pub const FAILED: u8 = 1;
    /// A control frame (the reply to `Initialize`).
    pub const CONTROL: u8 = 2;
    /// The answers of the worker's next items: how many there are (a little-endian `u32`,
    /// [`BLOCK_COUNT`] bytes), then the answers back to back, each an entry: a header (see
    /// [`entry_header`]) and its bytes. The count is written when the block is closed; a
    /// block left open by a worker that died says 0, and its entries are counted as they
    /// are read. See [`block_parts`].
    pub const BLOCK: u8 = 3;

    /// Bytes of a block's count of entries.
    pub const BLOCK_COUNT: usize = 4;

    /// A block's count of entries (0: not counted) and its entries; `None` when it is too
    /// short to hold a count.
    ///
    /// ```
    /// use multiproc::process::answer::{block_parts, entry_header};
    ///
    /// let mut block = 1u32.to_le_bytes().to_vec();
    /// block.extend_from_slice(&entry_header(1, false));
    /// block.push(7);
    /// assert_eq!(block_parts(&block), Some((1, &block[4..])));
    /// assert_eq!(block_parts(&[0, 0]), None);
    /// ```
    #[inline(always)]
    pub fn block_parts(block: &[u8]) -> Option<(u32, &[u8])> {
        let (count, entries) = block.split_first_chunk::<BLOCK_COUNT>()?;
        Some((u32::from_le_bytes(*count), entries))
    }

    /// Bytes of an entry's header.
    pub const ENTRY_HEADER: usize = 4;

    /// The header of an entry of `len` bytes: `len << 1`, plus 1 for a failure, as a
    /// little-endian `u32`.
    ///
    /// # Panics
    ///
    /// When `len` does not fit in 31 bits (a block is far smaller).
    #[inline(always)]
    pub fn entry_header(len: usize, failed: bool) -> [u8; ENTRY_HEADER] {
        let len = u32::try_from(len).ok().filter(|&l| l < 1 << 31).expect("an entry's length");
        ((len << 1) | u32::from(failed)).to_le_bytes()
    }

    /// The first entry of `block`: whether it is a failure, its bytes, and the rest of the
    /// block; `None` when `block` is empty or does not hold a whole entry.
    ///
    /// ```
    /// use multiproc::process::answer::{entry_header, next_entry};
    ///
    /// let mut block = entry_header(2, false).to_vec();
    /// block.extend_from_slice(b"hi");
    /// block.extend_from_slice(&entry_header(0, true));
    /// let (failed, bytes, rest) = next_entry(&block).unwrap();
    /// assert_eq!((failed, bytes), (false, &b"hi"[..]));
    /// assert_eq!(next_entry(rest), Some((true, &[][..], &[][..])));
    /// assert_eq!(next_entry(&block[..5]), None); // cut short
    /// ```
    #[inline(always)]
    pub fn next_entry(block: &[u8]) -> Option<(bool, &[u8], &[u8])> {
        let (head, rest) = block.split_first_chunk::<ENTRY_HEADER>()?;
        let word = u32::from_le_bytes(*head);
        let (bytes, rest) = rest.split_at_checked((word >> 1) as usize)?;
        Some((word & 1 == 1, bytes, rest))
    }
}

/// The child's half of the connection to its parent.
#[derive(Debug)]
pub(crate) struct Link {
    pub channel: Channel,
    pub progress: SharedWords,
    /// Where a pool worker writes its answers.
    pub ring: Option<Ring>,
}

/// What a spawned child sends back over its handoff: the parent's ends.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Handshake {
    pub pid: u32,
    pub channel: Channel,
    pub progress: SharedWords,
    pub ring: Option<Ring>,
    /// The fork server's: where the parent sends its [`ForkRequest`]s.
    pub requests: Option<HandoffSender<ForkRequest>>,
}

/// Creates both halves: the child's [`Link`] and the parent's [`Handshake`], with
/// `progress_words` shared words (none costs no shared memory at all) and, with `ring`, an
/// answer ring.
pub(crate) fn link_pair(progress_words: usize, ring: bool) -> Result<(Link, Handshake), IpcError> {
    let (parent_channel, child_channel) = duplex()?;
    let progress = SharedWords::new(progress_words)?;
    let ring = if ring { Some(Ring::new(RING_BYTES)?) } else { None };
    let link = Link { channel: child_channel, progress: progress.clone(), ring: ring.clone() };
    let handshake = Handshake {
        pid: std::process::id(),
        channel: parent_channel,
        progress,
        ring,
        requests: None,
    };
    Ok((link, handshake))
}

/// What the child runs once booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Job {
    /// One task, then exit with 0 (value) or 1 (failure): a `Process`.
    Once,
    /// Task batches until told to stop: a pool worker.
    Serve,
}

impl Job {
    /// Whether a child running this job answers through a ring (a pool worker).
    pub(crate) fn rings(self) -> bool {
        self == Job::Serve
    }

    /// How many progress words a child running this job updates: none for a `Process`.
    pub(crate) fn progress_words(self) -> usize {
        match self {
            Job::Once => 0,
            Job::Serve => progress::LEN,
        }
    }
}

/// The parent's first message on the channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Boot {
    pub binary: BinaryFingerprint,
    pub job: Job,
    pub name: String,
    pub identity: Vec<u32>,
    pub daemon: bool,
    pub parent_name: String,
    pub parent_pid: u32,
    pub method: StartMethod,
    pub stamp_items: bool,
    /// Applied by the child before anything else runs.
    pub limits: Limits,
    /// The parent's key: the child runs only identities tagged with it.
    pub function_key: FunctionKey,
}

/// A request to the fork server: fork a worker that sends its [`Handshake`] over
/// `handoff` (which only the parent, the server and that worker ever hold).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ForkRequest {
    pub handoff: HandoffSender<Handshake>,
    pub parent: u32,
}
