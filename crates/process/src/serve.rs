//! [`FrameServer`]: what a pool worker does with each frame it receives, whatever carries
//! the frames (the local worker's channel, or the messages of an MPI rank), and where its
//! answers go (an answer ring, or a results frame per batch).

use multiproc_codec::{
    Control, FnId, Frame, FrameBuf, FrameParts, ItemBuf, RemoteFailure, What, decode, parse,
};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use multiproc_ipc::{RingWriter, SPIN, SharedWords};

use crate::answers::{Out, push_control};
use crate::batch::{BatchRun, ProgressWords};
use crate::function::Resolved;
use crate::protocol::progress::BUSY_NS;

/// What a worker does after serving one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served<'a> {
    /// Send this reply to the parent (a server that answers in frames) and wait for the
    /// next frame. Its large payloads are held by reference (see [`FrameParts`]): a
    /// transport that copies the parts straight to their destination copies them once.
    /// Call [`FrameServer::sent`] once it is sent.
    Reply(FrameParts<'a>),
    /// Nothing to send: the answers went into the ring as they came, or the parent took
    /// the batch back before any of it started.
    Done,
    /// The initializer failed: send the reply if there is one, then stop serving (a local
    /// worker exits with code 3; a worker that cannot exit waits to be told what to do).
    InitFailed(Option<FrameParts<'a>>),
    /// Stop serving: the parent asked the worker to shut down.
    Stop,
}

/// A frame that a worker cannot serve: not a task batch or a worker control message, or
/// damaged. The parent sent something a worker never receives; the worker should stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnexpectedFrame(String);

impl std::fmt::Display for UnexpectedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnexpectedFrame {}

/// Runs task batches and initializers: the body of every pool worker's loop. The function
/// of the last batch stays resolved for the next one.
///
/// ```
/// use multiproc::process::{FrameServer, Served};
/// use multiproc::codec::{Control, FrameBuf};
///
/// let mut server = FrameServer::new(false);
/// let shutdown = FrameBuf::new().control(&Control::Shutdown).to_vec();
/// assert_eq!(server.serve(&shutdown, None), Ok(Served::Stop));
/// assert!(server.serve(b"not a frame", None).is_err());
/// ```
#[derive(Debug)]
pub struct FrameServer {
    out: Out,
    cached: Option<Resolved>,
    started: u64,
    stamp: bool,
    /// Whether the last frame was served quickly (see [`spin`](Self::spin)).
    quick: bool,
}

impl FrameServer {
    /// A server for a fresh worker. With `stamp_items`, it records when each item starts
    /// in the progress words (for per-task timeouts).
    ///
    /// The process becomes a worker: from now on its panics are captured (message,
    /// location, backtrace) for the parent instead of printed, and its allocator keeps
    /// freed memory for the next task's buffers (up to 64 MiB) instead of returning it.
    pub fn new(stamp_items: bool) -> FrameServer {
        FrameServer::answering(Out::Frames(FrameBuf::new().by_reference()), stamp_items)
    }

    /// A server that writes each answer into `ring` as soon as its item ends, instead of
    /// replying with a frame per batch (a local pool worker).
    pub(crate) fn with_ring(stamp_items: bool, ring: RingWriter) -> FrameServer {
        FrameServer::answering(Out::Ring { writer: ring, item: ItemBuf::new() }, stamp_items)
    }

    fn answering(out: Out, stamp: bool) -> FrameServer {
        crate::panic::capture();
        crate::sys::keep_freed_memory();
        FrameServer { out, cached: None, started: 0, stamp, quick: true }
    }

    /// How long to poll for the next frame before sleeping on it. After a quick frame the
    /// next one is usually a few microseconds away (a caller of `apply` answers at once):
    /// [`SPIN`]. After a long batch the parent's window of two has the next one queued
    /// already, or the parent is busy: then polling would only take its CPU, and this is
    /// zero.
    pub fn spin(&self) -> Duration {
        if self.quick { SPIN } else { Duration::ZERO }
    }

    /// Serves one frame. Around every item it updates `progress` (see
    /// [`progress`](crate::progress)) when given, and adds the batch's time to its
    /// [`BUSY_NS`](crate::progress::BUSY_NS) word.
    pub fn serve(
        &mut self,
        frame: &[u8],
        progress: Option<&SharedWords>,
    ) -> Result<Served<'_>, UnexpectedFrame> {
        let start = Instant::now();
        match parse(frame) {
            Ok(Frame::Tasks(task)) => {
                if let Out::Frames(fb) = &mut self.out {
                    fb.begin_results(task.batch());
                }
                let words = progress.map(ProgressWords::new);
                // The answers of slow items go back one by one, those of quick ones together.
                let answers = self.out.answers(task.revocable());
                let Some(mut run) = BatchRun::new(task, answers, words, self.stamp, self.started)
                else {
                    // Taken back before it started.
                    return Ok(self.out.skipped(task.batch()));
                };
                let resolved = match self.cached {
                    Some(r) if r.id() == task.func() => Ok(r),
                    _ => Resolved::new(task.func()),
                };
                let cached = &mut self.cached;
                if let Err(failure) = resolved.and_then(|f| {
                    *cached = Some(f);
                    f.run(&mut run)
                }) {
                    run.fail_all(failure);
                }
                self.started = run.started();
                let skipped = run.skipped;
                // Publishes the last answers.
                drop(run);
                let took = start.elapsed();
                self.quick = took < SPIN;
                if let Some(words) = progress {
                    let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
                    words.word(BUSY_NS).fetch_add(ns, Ordering::Relaxed);
                }
                if let Some(from) = skipped
                    && self.out.skipped(from) == Served::Stop
                {
                    return Ok(Served::Stop);
                }
                match &mut self.out {
                    // Every item was taken back: nothing to say.
                    Out::Frames(fb) if fb.is_empty() => Ok(Served::Done),
                    Out::Frames(fb) => Ok(Served::Reply(fb.finish_parts())),
                    Out::Ring { .. } => Ok(Served::Done),
                }
            }
            Ok(Frame::Control(Control::Initialize { func, args })) => {
                let (reply, failed) = match initialize(func, &args) {
                    Ok(()) => (Control::Initialized, false),
                    Err(failure) => (Control::InitFailed(failure), true),
                };
                let reply = match &mut self.out {
                    Out::Frames(fb) => Some(FrameParts::whole(fb.control(&reply))),
                    Out::Ring { writer, .. } => {
                        if push_control(writer, &reply) == Served::Stop {
                            // The parent is gone.
                            return Ok(Served::Stop);
                        }
                        None
                    }
                };
                Ok(match (failed, reply) {
                    (true, reply) => Served::InitFailed(reply),
                    (false, Some(reply)) => Served::Reply(reply),
                    (false, None) => Served::Done,
                })
            }
            Ok(Frame::Control(Control::Shutdown)) => Ok(Served::Stop),
            Ok(other) => Err(UnexpectedFrame(format!("unexpected frame {other:?}"))),
            Err(e) => Err(UnexpectedFrame(format!("bad frame: {e}"))),
        }
    }
}

impl FrameServer {
    /// The last reply was sent: lets go of the payloads it held by reference (a large
    /// argument echoed back holds the frame it arrived in, which its sender then reuses).
    pub fn sent(&mut self) {
        if let Out::Frames(fb) = &mut self.out {
            fb.clear();
        }
    }
}

/// Runs an initializer: its trampoline encodes a `Result<(), String>`.
fn initialize(func: FnId, args: &[u8]) -> Result<(), RemoteFailure> {
    let f = Resolved::new(func)?;
    let mut out = Vec::new();
    f.initialize(args, &mut out)?;
    match decode::<Result<(), String>>(&out, What::Result) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(RemoteFailure::Error(message)),
        Err(e) => Err(RemoteFailure::Codec(e)),
    }
}

#[cfg(test)]
mod tests {
    use multiproc_codec::{ArgsBuf, TaskFramer, encode};
    use multiproc_ipc::{IpcError, Record, Ring, RingReader, duplex};
    use serde::ser::Error as _;
    use serde::{Deserialize, Serialize, Serializer};

    use super::*;
    use crate::Function;
    use crate::protocol::answer;

    /// Bytes that encode as themselves, except 13 of them, which refuse to be encoded.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Reply(Vec<u8>);

    impl Serialize for Reply {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0.len() == 13 {
                return Err(S::Error::custom("13 bytes refuse to be encoded"));
            }
            self.0.serialize(s)
        }
    }

    /// What item `i` of [`reply`] does.
    #[derive(Debug, Clone, Copy)]
    enum Kind {
        Fails,
        Panics,
        /// Returns a value that cannot be encoded.
        Unencodable,
        /// Returns this many bytes.
        Value(usize),
    }

    /// Mostly a few bytes; among them, values that fill much of a record of answers or
    /// more than the room left in the open one, values that cannot be encoded, errors and
    /// panics.
    fn kind(i: u64) -> Kind {
        match i {
            _ if i % 400 == 150 => Kind::Value(300 << 10),
            _ if i % 97 == 5 => Kind::Panics,
            _ if i % 89 == 7 => Kind::Fails,
            _ if i % 83 == 3 => Kind::Unencodable,
            _ if i % 79 == 1 => Kind::Value(3000),
            _ => Kind::Value((i % 12) as usize),
        }
    }

    fn reply(i: u64) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
        match kind(i) {
            Kind::Fails => Err(format!("item {i} fails").into()),
            Kind::Panics => panic!("item {i} panics"),
            Kind::Unencodable => Ok(Reply(vec![9; 13])),
            Kind::Value(len) => Ok(Reply(vec![i as u8; len])),
        }
    }

    /// An answer read back: `Ok(value bytes)` or `Err(failure bytes)`.
    type Read = Result<Vec<u8>, Vec<u8>>;

    /// Every answer in the ring, in order, and how many blocks went uncounted (a block's
    /// count, when it has one, is checked).
    fn answers(reader: &mut RingReader) -> (Vec<Read>, usize) {
        let (mut got, mut uncounted) = (Vec::new(), 0);
        let mut records = 1;
        while records > 0 {
            records = 0;
            for record in reader.records() {
                records += 1;
                uncounted += read(record, &mut got);
            }
        }
        (got, uncounted)
    }

    /// Appends the answers of `record` to `got`; 1 if it is a block that went uncounted.
    fn read(
        record: Result<Record<'_>, IpcError>,
        got: &mut Vec<Result<Vec<u8>, Vec<u8>>>,
    ) -> usize {
        let Ok(Record::Inline { kind, bytes }) = record else { panic!("{record:?}") };
        match kind {
            answer::BLOCK => {
                let (count, mut entries) = answer::block_parts(bytes).unwrap();
                let before = got.len();
                while let Some((failed, bytes, rest)) = answer::next_entry(entries) {
                    got.push(if failed { Err(bytes.to_vec()) } else { Ok(bytes.to_vec()) });
                    entries = rest;
                }
                if count == 0 {
                    return 1;
                }
                assert_eq!(got.len() - before, count as usize, "the block's count");
            }
            answer::VALUE => got.push(Ok(bytes.to_vec())),
            answer::FAILED => got.push(Err(bytes.to_vec())),
            other => panic!("a record of kind {other}"),
        }
        0
    }

    /// A pool worker's server answering into a ring, and the ring's reader.
    fn ring_server() -> (FrameServer, RingReader) {
        let ring = Ring::new(4 << 20).unwrap();
        let (a, b) = duplex().unwrap();
        let server = FrameServer::with_ring(false, RingWriter::new(ring.clone(), b.split().0));
        (server, RingReader::new(ring, a.split().1))
    }

    /// A task frame of `func` on items `0..n`, claimed whole (not revocable).
    fn frame(func: FnId, n: u64) -> Vec<u8> {
        let mut args = ArgsBuf::new();
        for i in 0..n {
            assert_eq!(args.push_with(|out| encode(&i, What::Argument, out)).unwrap(), None);
        }
        let args = [args.finish()];
        TaskFramer::default().frame(0, func, false, &args).unwrap().concat()
    }

    /// Serves `frame`, then has this test's own panics reported again (the server captures
    /// panics for the parent); the outcome, or the payload of a panic that escaped.
    fn serve(server: &mut FrameServer, frame: &[u8]) -> std::thread::Result<Served<'static>> {
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            server.serve(frame, None).map(|s| {
                assert_eq!(s, Served::Done);
                Served::Done
            })
        }));
        drop(std::panic::take_hook());
        served.map(|s| s.unwrap())
    }

    #[test]
    fn a_batch_claimed_whole_runs_back_to_back_and_every_answer_stays_with_its_item() {
        // A batch of quick items, not revocable: the worker runs it back to back, writing
        // values straight into the ring's open record until one fails or does not fit.
        let (mut server, mut reader) = ring_server();
        let n = 2_000;
        assert_eq!(
            serve(&mut server, &frame(Function::new(reply).id(), n)).ok(),
            Some(Served::Done)
        );
        let (got, uncounted) = answers(&mut reader);
        assert_eq!((got.len(), uncounted), (n as usize, 0));
        for (i, answer) in (0..n).zip(got) {
            let failure = |bytes: &[u8]| decode::<RemoteFailure>(bytes, What::Message).unwrap();
            match (kind(i), answer) {
                (Kind::Value(len), Ok(bytes)) => {
                    assert_eq!(decode::<Reply>(&bytes, What::Result), Ok(Reply(vec![i as u8; len])))
                }
                (Kind::Fails, Err(bytes)) => {
                    let RemoteFailure::Failed(info) = failure(&bytes) else { panic!("item {i}") };
                    assert_eq!(info.message(), format!("item {i} fails"));
                }
                (Kind::Panics, Err(bytes)) => {
                    let RemoteFailure::Panicked(info) = failure(&bytes) else { panic!("item {i}") };
                    assert_eq!(info.message, format!("item {i} panics"));
                }
                (Kind::Unencodable, Err(bytes)) => {
                    let RemoteFailure::Codec(e) = failure(&bytes) else { panic!("item {i}") };
                    assert!(e.to_string().contains("13 bytes refuse"), "item {i}: {e}");
                }
                (kind, answer) => panic!("item {i}: {kind:?} answered {answer:?}"),
            }
        }
    }

    /// `i`, except that 150 panics when it is encoded.
    #[derive(Debug, Deserialize)]
    struct Loud(u64);

    impl Serialize for Loud {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            assert_ne!(self.0, 150, "Loud panics when it is encoded");
            s.serialize_u64(self.0)
        }
    }

    fn loud(i: u64) -> Result<Loud, Box<dyn std::error::Error + Send + Sync>> {
        if i == 100 { Err("100 fails".into()) } else { Ok(Loud(i)) }
    }

    #[test]
    fn a_value_whose_encoding_panics_leaves_every_answer_before_it_readable() {
        // Items 0..150 are answered (100 with its failure) in the block being written when
        // item 150's value panics in `Serialize` and unwinds the worker out of the batch:
        // the block goes as it is, every entry in it readable, none lost to a count that
        // was not brought up to date.
        let (mut server, mut reader) = ring_server();
        assert!(serve(&mut server, &frame(Function::new(loud).id(), 200)).is_err());
        let (got, _) = answers(&mut reader);
        assert_eq!(got.len(), 150);
        for (i, answer) in (0..150u64).zip(got) {
            match answer {
                Ok(bytes) => assert_eq!(decode::<u64>(&bytes, What::Result), Ok(i)),
                Err(_) => assert_eq!(i, 100),
            }
        }
    }
}
