//! [`LocalBackend`]: workers that are child processes of this one.
//!
//! A worker writes each answer into its answer ring as soon as the item ends; this side
//! reads the ring. A thread per worker waits on the worker's exit (its pidfd) and closes
//! the ring when it comes: the reader then takes what the worker wrote before it died —
//! the answers of the items it finished are never lost — and reports the loss, within
//! moments of the exit, whoever else holds the worker's sockets (a grandchild forked by a
//! task).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use multiproc_codec::{FailedItem, SharedFrame};
use multiproc_ipc::{Record, RingReader, SPIN, Sender, Wait};
use multiproc_process::progress::{self, pack_claim, unpack_claim};
use multiproc_process::{Child, Context, ExitStatus, Limits, StartMethod, answer, start_worker};

use crate::answers::Answers;
use crate::backend::{
    Answer, AnswerReceiver, Backend, Expect, FrameSender, Lost, Progress, WorkerControl, WorkerLink,
};

/// Workers that are local child processes, started with a [`Context`].
#[derive(Debug)]
pub struct LocalBackend {
    ctx: Context,
    limits: Limits,
    /// The threads that wait for each worker's exit: joined by `release`, so that a pool
    /// that was dropped or joined holds nothing of its workers any more (descriptors,
    /// shared memory) when that returns.
    watchers: Mutex<Vec<JoinHandle<()>>>,
}

impl LocalBackend {
    /// Local workers started with `ctx`'s start method.
    pub fn new(ctx: Context) -> LocalBackend {
        LocalBackend { ctx, limits: Limits::new(), watchers: Mutex::new(Vec::new()) }
    }

    /// Starts every worker under `limits` (applied in the worker before anything runs).
    pub(crate) fn with_limits(self, limits: Limits) -> LocalBackend {
        LocalBackend { limits, ..self }
    }

    /// Keeps `watcher` to join later, joining those whose worker has gone meanwhile (a
    /// pool that recycles its workers does not pile them up).
    fn watch(&self, watcher: JoinHandle<()>) {
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        let (done, running) = watchers.drain(..).partition::<Vec<_>, _>(|w| w.is_finished());
        *watchers = running;
        watchers.push(watcher);
        drop(watchers);
        done.into_iter().for_each(|w| drop(w.join()));
    }
}

struct LocalTx(Sender);

struct LocalControl {
    child: Child,
    progress: multiproc_ipc::SharedWords,
}

impl FrameSender for LocalTx {
    /// Each part is copied once: into the socket, or straight into the shared memory the
    /// worker reads.
    fn send(&self, parts: &[&[u8]]) -> Result<(), Lost> {
        self.0.send_parts(parts.iter().copied()).map_err(|_| Lost)
    }
}

/// Reads a worker's answer ring.
struct LocalRx {
    ring: RingReader,
    /// The last read took many answers: the worker streams quick ones.
    streaming: bool,
    /// The buffer answers are gathered in, kept empty from one read to the next.
    spare: Vec<Answer<'static>>,
    /// The worker wrote something that is not an answer.
    broke: bool,
}

/// A read that takes at least this many answers means the worker streams them...
const STREAMING: usize = 64;
/// ... and while it does, answers are read this often, not one by one as they come.
/// Reading right behind a worker that writes an answer every few tens of nanoseconds moves
/// the ring's cache lines between the two cores at every answer and wakes the reader for
/// each: that costs more than the answers (W1: half the throughput). A read every so
/// often takes them by the thousand.
const STREAM_PAUSE: Duration = Duration::from_micros(50);

impl AnswerReceiver for LocalRx {
    fn broke_protocol(&self) -> bool {
        self.broke
    }

    fn recv(&mut self, expect: Expect, f: &mut dyn FnMut(Answers<'_>)) -> Result<(), Lost> {
        if expect == Expect::Stream && std::mem::take(&mut self.streaming) {
            std::thread::sleep(STREAM_PAUSE);
        }
        loop {
            // After the close, what the worker wrote before it went is still read.
            let closed = self.ring.is_closed();
            let read = self.hand_over(f)?;
            if read > 0 {
                self.streaming = read >= STREAMING;
                return Ok(());
            }
            if closed {
                return Err(Lost);
            }
            match expect {
                // An answer is due within microseconds (an `apply` in a loop): poll for it
                // briefly, without asking the worker to wake us (a wake-up per answer is
                // what this avoids), then look every so often.
                Expect::Stream => {
                    let mut read = Ok(0);
                    multiproc_ipc::spin(SPIN, None, || {
                        read = self.hand_over(f);
                        (read != Ok(0)).then_some(())
                    });
                    match read? {
                        0 => std::thread::sleep(STREAM_PAUSE),
                        read => {
                            self.streaming = read >= STREAMING;
                            return Ok(());
                        }
                    }
                }
                // Ready, closed or a spurious wake-up: look again.
                Expect::Idle => {
                    let _: Wait = self.ring.wait(SPIN, None);
                }
                Expect::Later => {
                    let _: Wait = self.ring.wait(Duration::ZERO, None);
                }
            }
        }
    }
}

impl LocalRx {
    /// [`hand_over`], noting a worker that broke the protocol.
    fn hand_over(&mut self, f: &mut dyn FnMut(Answers<'_>)) -> Result<usize, Lost> {
        let read = hand_over(&mut self.ring, &mut self.spare, f);
        self.broke |= read.is_err();
        read
    }
}

/// Hands every record published so far to `f`: a block of many answers as it lies in the
/// ring, runs of the others gathered in one call, each answer staged in a region alone
/// while its region is lent, each control frame alone. How many answers there were; `Err`
/// if the worker wrote something that is not an answer.
fn hand_over(
    reader: &mut RingReader,
    spare: &mut Vec<Answer<'static>>,
    f: &mut dyn FnMut(Answers<'_>),
) -> Result<usize, Lost> {
    let mut read = 0;
    let mut run = recycle(std::mem::take(spare));
    for record in reader.records() {
        match record.map_err(|_| Lost)? {
            Record::Inline { kind: answer::BLOCK, bytes } => {
                // A large count is taken at its word (a block that large goes on alone,
                // checked as its entries are read: see `Answers::intact`). A small one, or
                // none (a block its worker never closed), is checked by counting the
                // entries here: a small block joins a gathered run, which no one checks.
                let (count, entries) = answer::block_parts(bytes).ok_or(Lost)?;
                let entries = match count as usize {
                    count if count >= OWN_RUN => Answers::counted(entries, count),
                    _ => Answers::entries(entries).ok_or(Lost)?,
                };
                if entries.len() >= OWN_RUN {
                    flush(&mut run, &mut read, f);
                    read += entries.len();
                    f(entries);
                } else {
                    run.extend(entries);
                    if run.len() >= RUN_ANSWERS {
                        flush(&mut run, &mut read, f);
                    }
                }
            }
            Record::Inline { kind: answer::CONTROL, bytes } => {
                // Alone: the answers before it come first, and it is handled on its own.
                flush(&mut run, &mut read, f);
                read += 1;
                f(Answers::list(&[Answer::Control(bytes)]));
            }
            Record::Inline { kind, bytes } => run.push(answer_of(kind, bytes)?),
            Record::Staged { kind, message } => {
                flush(&mut run, &mut read, f);
                read += 1;
                let frame = SharedFrame::new(*message);
                frame.lend(|bytes| answer_of(kind, bytes).map(|a| f(Answers::list(&[a]))))?;
            }
        }
    }
    flush(&mut run, &mut read, f);
    *spare = recycle(run);
    Ok(read)
}

/// Hands the answers gathered in `run` to `f` (if any), counting them in `read`.
fn flush(run: &mut Vec<Answer<'_>>, read: &mut usize, f: &mut dyn FnMut(Answers<'_>)) {
    if !run.is_empty() {
        *read += run.len();
        f(Answers::list(run));
        run.clear();
    }
}

/// A block of at least this many answers is handed over alone, read where it lies; smaller
/// ones (a batch of slow items writes a block per answer) are gathered into runs.
const OWN_RUN: usize = 64;

/// Answers gathered in one run at most: the run's vector stays small (in cache, and out
/// of the peak memory of a reader that took a quarter of the ring at once).
const RUN_ANSWERS: usize = 1024;

/// An empty vector with the allocation of `v` (emptied), for answers of another lifetime:
/// collected in place, so the allocation is kept from one read to the next.
fn recycle<'a>(mut v: Vec<Answer<'_>>) -> Vec<Answer<'a>> {
    v.clear();
    v.into_iter().map(|_| unreachable!("the vector is empty")).collect()
}

fn answer_of(kind: u8, bytes: &[u8]) -> Result<Answer<'_>, Lost> {
    match kind {
        answer::VALUE => Ok(Answer::Value(bytes)),
        answer::FAILED => Ok(Answer::Failed(FailedItem::new(bytes))),
        answer::CONTROL => Ok(Answer::Control(bytes)),
        _ => Err(Lost),
    }
}

impl WorkerControl for LocalControl {
    fn describe(&self) -> String {
        format!("{} pid {}", self.child.name(), self.child.pid())
    }

    fn pid(&self) -> Option<u32> {
        Some(self.child.pid())
    }

    fn progress(&self) -> Progress {
        Progress {
            started: self.progress.load(progress::STARTED),
            finished: self.progress.load(progress::FINISHED),
            started_at_ns: self.progress.load(progress::STARTED_AT_NS),
            failed: Some(self.progress.load(progress::FAILED)),
            busy_ns: Some(self.progress.load(progress::BUSY_NS)),
            limit: progress::unpack_limit(self.progress.load(progress::LIMIT)),
        }
    }

    fn wants_retire(&self) -> bool {
        self.progress.load(progress::RETIRE) != 0
    }

    fn kill(&self) {
        let _ = self.child.kill();
    }

    fn wait(&self) -> Option<ExitStatus> {
        self.child.wait().ok()
    }

    /// Bumps the epoch of the claim word the worker claims items from: frames of the old
    /// epoch it has not started are skipped, and the count says what it had claimed.
    fn revoke(&self) -> Option<u64> {
        let word = self.progress.word(progress::CLAIM);
        let mut current = word.load(Ordering::Acquire);
        loop {
            let (epoch, claimed) = unpack_claim(current);
            let next = pack_claim(epoch.wrapping_add(1), claimed);
            match word.compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(claimed),
                Err(seen) => current = seen,
            }
        }
    }
}

impl Backend for LocalBackend {
    fn start(&self, index: usize, stamp_items: bool) -> Result<WorkerLink, String> {
        let name = format!("{}PoolWorker-{}", pool_prefix(self.ctx), index + 1);
        let worker = start_worker(&self.ctx, Some(name), stamp_items, self.limits)
            .map_err(|e| e.to_string())?;
        let (tx, rx) = worker.channel.split();
        let reader = RingReader::new(worker.ring, rx);
        let closer = reader.closer();
        let control = Arc::new(LocalControl { child: worker.child, progress: worker.progress });
        let watched = Arc::clone(&control);
        let watcher = std::thread::Builder::new()
            .name(format!("multiproc-pool-exit-{}", control.child.pid()))
            .stack_size(64 << 10)
            .spawn(move || {
                // The worker's exit, seen on its pidfd: not the end of its sockets, which a
                // grandchild may keep open for as long as it likes.
                let _ = watched.child.wait();
                closer.close();
            })
            .map_err(|e| format!("cannot start a thread to watch the worker: {e}"))?;
        self.watch(watcher);
        let rx = LocalRx { ring: reader, streaming: false, spare: Vec::new(), broke: false };
        Ok(WorkerLink { tx: Arc::new(LocalTx(tx)), rx: Box::new(rx), control })
    }

    /// Joins the threads that watched the workers' exits: every worker has exited by now
    /// (the pool's readers, joined first, end with their worker's exit).
    fn release(&self) {
        let watchers =
            std::mem::take(&mut *self.watchers.lock().unwrap_or_else(PoisonError::into_inner));
        watchers.into_iter().for_each(|w| drop(w.join()));
    }
}

/// Python names pool workers `ForkPoolWorker-N`, `SpawnPoolWorker-N`, `ForkServerPoolWorker-N`.
fn pool_prefix(ctx: Context) -> &'static str {
    match ctx.start_method() {
        StartMethod::Fork => "Fork",
        StartMethod::Spawn => "Spawn",
        StartMethod::ForkServer => "ForkServer",
    }
}

#[cfg(test)]
mod tests {
    use multiproc_ipc::{Ring, RingReader, RingWriter, duplex};

    use super::*;

    /// A block record that says it holds `count` entries and holds `values`.
    fn write_block(writer: &mut RingWriter, count: u32, values: &[u8]) {
        let mut record = writer.open(answer::BLOCK).unwrap();
        let mut block = count.to_le_bytes().to_vec();
        for v in values {
            block.extend_from_slice(&answer::entry_header(1, false));
            block.push(*v);
        }
        record.spare()[..block.len()].copy_from_slice(&block);
        record.add(block.len());
        record.close();
    }

    /// What `hand_over` hands on from one block: the values (`None` for a failure) and
    /// whether the block was intact once read.
    fn handed(count: u32, values: &[u8]) -> Result<(Vec<Option<u8>>, bool), Lost> {
        let ring = Ring::new(1 << 16).unwrap();
        let (a, b) = duplex().unwrap();
        let mut writer = RingWriter::new(ring.clone(), b.split().0);
        let mut reader = RingReader::new(ring, a.split().1);
        write_block(&mut writer, count, values);
        let (mut got, mut intact) = (Vec::new(), true);
        hand_over(&mut reader, &mut Vec::new(), &mut |mut answers: Answers<'_>| {
            got.extend(answers.by_ref().map(|a| match a {
                Answer::Value(bytes) => Some(bytes[0]),
                _ => None,
            }));
            intact &= answers.intact();
        })?;
        Ok((got, intact))
    }

    #[test]
    fn a_block_is_handed_on_as_many_answers_as_it_says_and_checked_as_read() {
        let values: Vec<u8> = (0..100).collect();
        let all = |v: &[u8]| v.iter().map(|&v| Some(v)).collect::<Vec<_>>();
        // Counted by its worker: taken at its word, and true.
        assert_eq!(handed(100, &values), Ok((all(&values), true)));
        // Says more than it holds: the missing answers are failures, and it is not intact.
        let (got, intact) = handed(120, &values).unwrap();
        assert_eq!((&got[..100], got.len(), intact), (&all(&values)[..], 120, false));
        assert!(got[100..].iter().all(Option::is_none));
        // Says fewer (but many): entries past its count are left over, not intact.
        assert_eq!(handed(80, &values), Ok((all(&values[..80]), false)));
        // A small count, or none (a block whose worker died before closing it), is
        // checked by counting: the entries themselves say how many there are.
        assert_eq!(handed(0, &values), Ok((all(&values), true)));
        assert_eq!(handed(3, &values[..10]), Ok((all(&values[..10]), true)));
    }
}
