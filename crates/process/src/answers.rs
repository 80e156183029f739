//! Where a worker's answers go: a results frame per batch (a `Process`, an MPI rank), or
//! the worker's answer ring (a local pool worker), where each answer is readable by the
//! parent as soon as its item ends — and still is after the worker died.
//!
//! In the ring, the answers of a batch are entries of one record written in place
//! ([`OpenRecord`]): each as cheap to add as to a buffer of this process, each readable
//! by the parent if the worker dies before the record is published. The record is
//! published when the batch ends (a batch of quick items takes about a millisecond), or
//! after every answer for a batch of slow items (their answers stream back one by one).
//! An answer too large for the record goes alone, staged in shared memory when large.

use multiproc_codec::{Control, FrameBuf, ItemBuf, RemoteFailure, What, encode, encode_into};
use multiproc_ipc::{OpenRecord, RingWriter};
use serde::Serialize;

use crate::protocol::answer;
use crate::serve::Served;
use crate::sys;

/// A worker's output, kept from batch to batch.
#[derive(Debug)]
pub(crate) enum Out {
    /// A results frame per batch.
    Frames(FrameBuf),
    /// The answer ring.
    Ring { writer: RingWriter, item: ItemBuf },
}

impl Out {
    /// The answers of the next batch; with `eager`, each is published as soon as it is
    /// written (a batch of slow items), else when the batch ends.
    pub(crate) fn answers(&mut self, eager: bool) -> Answers<'_> {
        match self {
            Out::Frames(fb) => Answers::Frame(fb),
            Out::Ring { writer, item } => {
                Answers::Ring(RingAnswers { state: State::Idle(writer), count: 0, item, eager })
            }
        }
    }

    /// Tells the parent, after the answers written so far, that the items of a batch
    /// were skipped from claim `from` on (see [`Control::Skipped`]). `Stop` if the parent
    /// is gone. Only a worker with a ring claims items.
    pub(crate) fn skipped(&mut self, from: u64) -> Served<'static> {
        match self {
            Out::Ring { writer, .. } => push_control(writer, &Control::Skipped { from }),
            Out::Frames(_) => Served::Done,
        }
    }
}

/// Writes a control frame into the answer ring, after the answers written so far:
/// `Stop` if the parent is gone.
pub(crate) fn push_control(writer: &mut RingWriter, control: &Control) -> Served<'static> {
    let mut fb = FrameBuf::new();
    let frame = fb.control(control);
    match writer.push(answer::CONTROL, std::iter::once(frame)) {
        Ok(_) => Served::Done,
        Err(_) => Served::Stop,
    }
}

/// The answers of one batch, as they are written.
#[derive(Debug)]
pub(crate) enum Answers<'a> {
    Frame(&'a mut FrameBuf),
    Ring(RingAnswers<'a>),
}

/// The answers of one batch going into the ring.
#[derive(Debug)]
pub(crate) struct RingAnswers<'a> {
    state: State<'a>,
    /// Entries in the open record (see [`answer::BLOCK`]); 0 while none is open.
    count: u32,
    /// Where an answer too large for a record is encoded first.
    item: &'a mut ItemBuf,
    eager: bool,
}

/// The ring, or the record of answers being written into it.
#[derive(Debug)]
enum State<'a> {
    Idle(&'a mut RingWriter),
    Open(OpenRecord<'a>),
    /// Between the two (never seen outside a method).
    Moving,
}

impl<'a> State<'a> {
    /// The open record (opened if there is none), as [`RingAnswers::open`].
    #[inline(always)]
    fn open(&mut self) -> &mut OpenRecord<'a> {
        if let State::Idle(_) = self {
            let State::Idle(writer) = std::mem::replace(self, State::Moving) else {
                unreachable!("checked above")
            };
            let mut record = writer.open(answer::BLOCK).unwrap_or_else(|_| gone());
            let counted = record.append_with(|room| {
                room.get_mut(..answer::BLOCK_COUNT)?.fill(0);
                Some(answer::BLOCK_COUNT)
            });
            counted.expect("a new record holds at least a kilobyte");
            *self = State::Open(record);
        }
        match self {
            State::Open(record) => record,
            _ => unreachable!("opened above"),
        }
    }
}

impl Answers<'_> {
    /// Answers the current item with `value` (or with the failure to encode it, or with
    /// `TooLarge`).
    #[inline(always)]
    pub(crate) fn value<R: Serialize>(&mut self, value: &R) -> Result<(), RemoteFailure> {
        match self {
            Answers::Frame(fb) => {
                fb.push_bounded(What::Result, |buf| encode(value, What::Result, buf))
            }
            Answers::Ring(ring) => ring.value(value),
        }
    }

    /// Answers item after item with a value written in place, for as long as `write`
    /// writes one into the room it is given (it returns the value's length, or `None` to
    /// stop); nothing is called once the room left cannot hold an entry's header. False
    /// (and `write` not called) when the answers do not go so: into a results frame, or
    /// published one by one.
    #[inline(always)]
    pub(crate) fn values_in_place(
        &mut self,
        mut write: impl FnMut(&mut [u8]) -> Option<usize>,
    ) -> bool {
        let Answers::Ring(RingAnswers { state, count, eager: false, .. }) = self else {
            return false;
        };
        state.open().append_each(|room| {
            let len = entry_in(room, false, &mut write)?;
            *count += 1;
            Some(len)
        });
        true
    }

    /// Answers the current item with `failure`.
    pub(crate) fn failure(&mut self, failure: &RemoteFailure) {
        match self {
            Answers::Frame(fb) => fb.push_failure(failure),
            Answers::Ring(ring) => ring.failure(failure),
        }
    }
}

impl<'a> RingAnswers<'a> {
    #[inline(always)]
    fn value<R: Serialize>(&mut self, value: &R) -> Result<(), RemoteFailure> {
        // The common case, kept short: the value fits the open record.
        let mut failed = None;
        let added = self.open().append_with(|room| {
            entry_in(room, false, &mut |body| {
                encode_into(value, What::Result, body).unwrap_or_else(|e| {
                    failed = Some(e);
                    None
                })
            })
        });
        if let Some(e) = failed {
            return Err(RemoteFailure::Codec(e));
        }
        if added.is_none() {
            return self.value_elsewhere(value);
        }
        self.count += 1;
        if self.eager {
            self.close();
        }
        Ok(())
    }

    /// Answers with a value that does not fit the open record: in a fresh one, or alone.
    #[cold]
    #[inline(never)]
    fn value_elsewhere<R: Serialize>(&mut self, value: &R) -> Result<(), RemoteFailure> {
        let mut failed = None;
        let fitted = self.entry(
            |room| {
                encode_into(value, What::Result, room).unwrap_or_else(|e| {
                    failed = Some(e);
                    None
                })
            },
            false,
        );
        if let Some(e) = failed {
            return Err(RemoteFailure::Codec(e));
        }
        if !fitted {
            self.alone(value)?;
        }
        Ok(())
    }

    fn failure(&mut self, failure: &RemoteFailure) {
        // A RemoteFailure holds only strings and integers: encoding it cannot fail.
        let fitted =
            self.entry(|room| encode_into(failure, What::Message, room).ok().flatten(), true);
        if !fitted {
            self.close();
            let State::Idle(writer) = &mut self.state else { unreachable!("closed above") };
            let bytes = self.item.failure(failure);
            writer.push(answer::FAILED, std::iter::once(bytes)).unwrap_or_else(|_| gone());
        }
    }

    /// Adds an entry written by `write` to the open record (opening one, or a fresh one
    /// when this one is full); false if it fits no record.
    #[inline(always)]
    fn entry(&mut self, mut write: impl FnMut(&mut [u8]) -> Option<usize>, failed: bool) -> bool {
        let mut add = |record: &mut OpenRecord<'_>| {
            record.append_with(|room| entry_in(room, failed, &mut write))
        };
        let was_empty = self.count == 0;
        let mut added = add(self.open()).is_some();
        if !added && !was_empty {
            // Full: publish it, and try a fresh one.
            self.close();
            added = add(self.open()).is_some();
        }
        if added {
            self.count += 1;
        }
        if !added || self.eager {
            self.close();
        }
        added
    }

    /// The open record (opened if there is none, its count of entries to be written when
    /// it closes: see [`answer::BLOCK`]).
    #[inline(always)]
    fn open(&mut self) -> &mut OpenRecord<'a> {
        self.state.open()
    }

    /// Publishes the open record, if any, with its count of entries (one store: a
    /// worker that dies meanwhile leaves 0 or the count, each true of its entries).
    fn close(&mut self) {
        if let State::Open(_) = self.state {
            let State::Open(mut record) = std::mem::replace(&mut self.state, State::Moving) else {
                unreachable!("checked above")
            };
            record.added_mut()[..answer::BLOCK_COUNT].copy_from_slice(&self.count.to_le_bytes());
            self.count = 0;
            self.state = State::Idle(record.close());
        }
    }

    /// Answers with a value too large for a record of answers: encoded aside, with large
    /// payloads kept by reference, and copied once (staged in shared memory when large).
    #[cold]
    #[inline(never)]
    fn alone<R: Serialize>(&mut self, value: &R) -> Result<(), RemoteFailure> {
        let parts = self.item.value(|buf| encode(value, What::Result, buf));
        let parts = parts.map_err(RemoteFailure::Codec)?;
        let writer = match &mut self.state {
            State::Idle(writer) => writer,
            _ => unreachable!("no record is open after a value that fits none"),
        };
        let pushed = writer.push(answer::VALUE, parts.iter());
        self.item.clear();
        pushed.unwrap_or_else(|_| gone());
        Ok(())
    }
}

/// Writes an entry at the start of `room`: its header, then the bytes `write` puts after
/// it (it returns how many, or `None` when they do not fit). Returns the entry's length;
/// `None` when it does not fit (`write` is not called when not even the header does).
#[inline(always)]
fn entry_in(
    room: &mut [u8],
    failed: bool,
    write: &mut impl FnMut(&mut [u8]) -> Option<usize>,
) -> Option<usize> {
    let (head, body) = room.split_first_chunk_mut::<{ answer::ENTRY_HEADER }>()?;
    let len = write(body)?;
    *head = answer::entry_header(len, failed);
    Some(answer::ENTRY_HEADER + len)
}

impl Drop for RingAnswers<'_> {
    /// The batch ended (or a panic unwinds the worker out of it: a value's `Serialize`
    /// that panicked): its last record goes with its count, which the parent takes at its
    /// word. The count is kept with every entry written, so it is true whenever this runs.
    fn drop(&mut self) {
        self.close();
    }
}

/// The parent no longer reads the ring: it is gone, and so is the reason to run.
#[cold]
fn gone() -> ! {
    sys::exit_now(0)
}
