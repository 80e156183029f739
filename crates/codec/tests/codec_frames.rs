//! Frames built with `FrameBuf` parse back exactly (proptest over task, result and control
//! frames); truncated, extended or structurally corrupted frames are rejected; arbitrary
//! and forged bytes never make `parse` panic; a reused `FrameBuf` builds clean frames and
//! `push_with` rolls back a failed item.

use multiproc_codec::{
    BinaryFingerprint, Bytes, CodecError, Control, FnId, Frame, FrameBuf, FrameError, Hasher64,
    ItemOutcome, Location, Op, PanicInfo, RemoteFailure, ResultFrame, TaskFrame, TypeFingerprint,
    What, encode, parse,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

mod common;
use common::what;

/// Header sizes of the wire layout (see `frame.rs`): the tables start after the payload.
const BASE_HEADER: usize = 24;
const TASK_HEADER: usize = 56;

fn fn_id() -> impl Strategy<Value = FnId> {
    (any::<i64>(), any::<i64>(), any::<u64>(), any::<u64>()).prop_map(
        |(target, trampoline, types, tag)| FnId {
            target,
            trampoline,
            types: TypeFingerprint(types),
            tag,
        },
    )
}

fn item() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..64)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![Just(Op::Encode), Just(Op::Decode)]
}

fn failure() -> impl Strategy<Value = RemoteFailure> {
    let location = (any::<String>(), any::<u32>(), any::<u32>())
        .prop_map(|(file, line, column)| Location { file, line, column });
    prop_oneof![
        (any::<String>(), option::of(location), any::<String>()).prop_map(
            |(message, location, backtrace)| {
                RemoteFailure::Panicked(PanicInfo { message, location, backtrace })
            }
        ),
        (op(), what(), any::<String>(), any::<String>()).prop_map(|(op, what, ty, detail)| {
            RemoteFailure::Codec(CodecError::new(op, what, &ty, detail))
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(e, f)| RemoteFailure::TypeMismatch {
            expected: TypeFingerprint(e),
            found: TypeFingerprint(f),
        }),
        any::<String>().prop_map(RemoteFailure::BadFunction),
    ]
}

fn outcome() -> impl Strategy<Value = Result<Vec<u8>, RemoteFailure>> {
    prop_oneof![3 => item().prop_map(Ok), 1 => failure().prop_map(Err)]
}

fn control() -> impl Strategy<Value = Control> {
    prop_oneof![
        (any::<u64>(), any::<u32>())
            .prop_map(|(b, pid)| Control::Hello { binary: BinaryFingerprint(b), pid }),
        (fn_id(), item()).prop_map(|(func, args)| Control::Initialize { func, args: args.into() }),
        Just(Control::Initialized),
        failure().prop_map(Control::InitFailed),
        Just(Control::Shutdown),
        any::<u64>().prop_map(|from| Control::Skipped { from }),
    ]
}

/// Builds a task frame, pushing each item by `push_raw` or `push_with` alternately.
fn task_frame(batch: u64, func: FnId, items: &[Vec<u8>]) -> Vec<u8> {
    let mut fb = FrameBuf::new();
    fb.begin_tasks(batch, func);
    for (i, it) in items.iter().enumerate() {
        if i % 2 == 0 {
            fb.push_raw(it);
        } else {
            fb.push_with(|out| {
                out.extend_from_slice(it);
                Ok::<(), ()>(())
            })
            .unwrap();
        }
    }
    assert_eq!(fb.len(), items.len());
    assert_eq!(fb.is_empty(), items.is_empty());
    assert_eq!(fb.payload_len(), items.iter().map(Vec::len).sum::<usize>());
    fb.finish().to_vec()
}

fn fill_results(fb: &mut FrameBuf, batch: u64, outcomes: &[Result<Vec<u8>, RemoteFailure>]) {
    fb.begin_results(batch);
    for o in outcomes {
        match o {
            Ok(v) => fb.push_raw(v),
            Err(f) => fb.push_failure(f),
        }
    }
}

fn result_frame(batch: u64, outcomes: &[Result<Vec<u8>, RemoteFailure>]) -> Vec<u8> {
    let mut fb = FrameBuf::new();
    fill_results(&mut fb, batch, outcomes);
    assert_eq!(fb.len(), outcomes.len());
    fb.finish().to_vec()
}

fn as_tasks(bytes: &[u8]) -> TaskFrame<'_> {
    match parse(bytes) {
        Ok(Frame::Tasks(t)) => t,
        other => panic!("expected a task frame, got {other:?}"),
    }
}

fn as_results(bytes: &[u8]) -> ResultFrame<'_> {
    match parse(bytes) {
        Ok(Frame::Results(r)) => r,
        other => panic!("expected a result frame, got {other:?}"),
    }
}

fn check_results(r: &ResultFrame<'_>, batch: u64, outcomes: &[Result<Vec<u8>, RemoteFailure>]) {
    assert_eq!(r.batch(), batch);
    assert_eq!(r.len(), outcomes.len());
    assert_eq!(r.is_empty(), outcomes.is_empty());
    assert_eq!(r.iter().len(), outcomes.len());
    for (i, (got, want)) in r.iter().zip(outcomes).enumerate() {
        let want = match want {
            Ok(v) => ItemOutcome::Value(v),
            Err(f) => ItemOutcome::Failed(f.clone()),
        };
        assert_eq!(got, want);
        assert_eq!(r.item(i), want);
    }
}

/// The byte ranges of a task or result frame that the checksum covers: everything but the
/// item payload.
fn structural_bytes(frame: &[u8], header: usize) -> impl Iterator<Item = usize> {
    let payload_len = u32::from_le_bytes(frame[12..16].try_into().unwrap()) as usize;
    (0..header).chain(header + payload_len..frame.len())
}

/// Every strict prefix, every single-byte flip outside the payload and any appended tail
/// must be rejected.
fn assert_rejects_damage(frame: &[u8], header: usize, mask: u8, tail: &[u8]) {
    for cut in 0..frame.len() {
        assert!(parse(&frame[..cut]).is_err(), "prefix {cut} of {} parsed", frame.len());
    }
    let mut damaged = frame.to_vec();
    for at in structural_bytes(frame, header) {
        damaged[at] ^= mask;
        assert!(parse(&damaged).is_err(), "flip {mask:#04x} at byte {at} parsed");
        damaged[at] ^= mask;
    }
    let mut longer = frame.to_vec();
    longer.extend_from_slice(tail);
    assert!(matches!(parse(&longer), Err(FrameError::BadTable(_))));
}

/// A frame with a correct checksum but arbitrary (often inconsistent) tables.
fn forge(kind: u8, count: u32, payload: &[u8], tables: &[u8], header_extra: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(b"MPRC");
    f.extend_from_slice(&[3, kind, 0, 0]);
    f.extend_from_slice(&count.to_le_bytes());
    f.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
    f.extend_from_slice(&7u64.to_le_bytes());
    f.extend_from_slice(header_extra);
    let header = f.len();
    f.extend_from_slice(payload);
    let covered = if kind == 3 { header } else { f.len() };
    f.extend_from_slice(tables);
    let mut h = Hasher64::new();
    h.write(&f[..header]);
    h.write(&f[covered..]);
    f.extend_from_slice(&h.finish().to_le_bytes());
    f
}

/// Touches everything a successfully parsed frame offers.
fn walk(frame: Result<Frame<'_>, FrameError>) {
    match frame {
        Ok(Frame::Tasks(t)) => {
            let mut end = 0;
            for item in t.iter() {
                end += item.len();
            }
            assert_eq!(t.iter().len(), t.len());
            let _ = (t.batch(), t.func(), end);
        }
        Ok(Frame::Results(r)) => {
            for o in r.iter() {
                let _ = o;
            }
        }
        Ok(Frame::Control(c)) => {
            let _ = c;
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn task_batches_round_trip(batch in any::<u64>(), func in fn_id(), items in vec(item(), 0..50)) {
        let frame = task_frame(batch, func, &items);
        let t = as_tasks(&frame);
        prop_assert_eq!(t.batch(), batch);
        prop_assert_eq!(t.func(), func);
        prop_assert_eq!(t.len(), items.len());
        prop_assert_eq!(t.is_empty(), items.is_empty());
        prop_assert_eq!(t.iter().len(), items.len());
        for (i, want) in items.iter().enumerate() {
            prop_assert_eq!(t.item(i), &want[..]);
        }
        prop_assert!(t.iter().eq(items.iter().map(Vec::as_slice)));
    }

    #[test]
    fn result_batches_round_trip(batch in any::<u64>(), outcomes in vec(outcome(), 0..50)) {
        let frame = result_frame(batch, &outcomes);
        check_results(&as_results(&frame), batch, &outcomes);
    }

    #[test]
    fn control_frames_round_trip(message in control()) {
        let mut fb = FrameBuf::new();
        let frame = fb.control(&message).to_vec();
        match parse(&frame) {
            Ok(Frame::Control(back)) => prop_assert_eq!(back, message),
            other => prop_assert!(false, "expected a control frame, got {:?}", other),
        }
    }

    #[test]
    fn damaged_task_frames_are_rejected(
        batch in any::<u64>(),
        func in fn_id(),
        items in vec(item(), 0..50),
        mask in 1u8..=255,
        tail in vec(any::<u8>(), 1..16),
    ) {
        let frame = task_frame(batch, func, &items);
        assert_rejects_damage(&frame, TASK_HEADER, mask, &tail);
    }

    #[test]
    fn damaged_result_frames_are_rejected(
        batch in any::<u64>(),
        outcomes in vec(outcome(), 0..50),
        mask in 1u8..=255,
        tail in vec(any::<u8>(), 1..16),
    ) {
        let frame = result_frame(batch, &outcomes);
        assert_rejects_damage(&frame, BASE_HEADER, mask, &tail);
    }

    /// A control frame's checksum covers its message too: any flip at all is rejected.
    #[test]
    fn damaged_control_frames_are_rejected(
        message in control(),
        mask in 1u8..=255,
        tail in vec(any::<u8>(), 1..16),
    ) {
        let mut fb = FrameBuf::new();
        let frame = fb.control(&message).to_vec();
        let len = frame.len();
        assert_rejects_damage(&frame, len, mask, &tail);
    }

    /// Item payloads are not checksummed (the transport guarantees them, `decode` checks
    /// them): a flip there changes that one item and nothing else.
    #[test]
    fn payload_flip_changes_only_its_item(
        func in fn_id(),
        items in vec(vec(any::<u8>(), 1..32), 1..20),
        pick in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let mut frame = task_frame(3, func, &items);
        let total: usize = items.iter().map(Vec::len).sum();
        let at = pick.index(total);
        frame[TASK_HEADER + at] ^= mask;
        let t = as_tasks(&frame);
        let mut seen = 0;
        for (got, want) in t.iter().zip(&items) {
            if (seen..seen + want.len()).contains(&at) {
                prop_assert_ne!(got, &want[..]);
                prop_assert_eq!(got[at - seen], want[at - seen] ^ mask);
            } else {
                prop_assert_eq!(got, &want[..]);
            }
            seen += want.len();
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        walk(parse(&bytes));
    }

    /// Past the magic and size checks: a plausible header followed by random bytes.
    #[test]
    fn plausible_headers_never_panic(
        kind in 0u8..5,
        count in 0u32..8,
        payload_len in 0u32..64,
        rest in vec(any::<u8>(), 0..128),
    ) {
        let mut f = b"MPRC".to_vec();
        f.extend_from_slice(&[3, kind, 0, 0]);
        f.extend_from_slice(&count.to_le_bytes());
        f.extend_from_slice(&payload_len.to_le_bytes());
        f.extend_from_slice(&rest);
        walk(parse(&f));
    }

    /// Frames whose checksum is right but whose tables are arbitrary: `parse` must check
    /// the tables itself, and whatever it accepts must be safe to read.
    #[test]
    fn forged_frames_with_valid_checksums_never_panic(
        kind in 1u8..=3,
        count in 0u32..8,
        payload in vec(any::<u8>(), 0..64),
        ends in vec(0u32..80, 0..8),
        status in vec(0u8..3, 0..8),
        func in any::<[u8; 24]>(),
        consistent in any::<bool>(),
    ) {
        let n = count as usize;
        let mut ends = ends;
        if consistent && n > 0 {
            // sorted offsets ending at the payload's end: these frames parse
            ends.resize(n, 0);
            ends.iter_mut().for_each(|e| *e = (*e).min(payload.len() as u32));
            ends.sort_unstable();
            ends[n - 1] = payload.len() as u32;
        }
        let mut tables: Vec<u8> = ends.iter().cycle().take(if ends.is_empty() { 0 } else { n })
            .flat_map(|e| e.to_le_bytes())
            .collect();
        tables.resize(n * 4, 0);
        if kind == 2 {
            tables.extend(status.iter().cycle().take(if status.is_empty() { 0 } else { n }));
            tables.resize(n * 5, 0);
        }
        let extra: &[u8] = if kind == 1 { &func } else { &[] };
        let f = forge(kind, if kind == 3 { 0 } else { count }, &payload, if kind == 3 { &[] } else { &tables }, extra);
        let parsed = parse(&f);
        if let Ok(Frame::Tasks(t)) = &parsed {
            prop_assert_eq!(t.iter().map(<[u8]>::len).sum::<usize>(), payload.len());
        }
        if let Ok(Frame::Results(r)) = &parsed {
            prop_assert_eq!(r.len(), n);
        }
        walk(parsed);
    }
}

#[test]
fn forged_tables_are_checked() {
    let payload = [1u8, 2, 3, 4];
    let tables = |ends: &[u32]| ends.iter().flat_map(|e| e.to_le_bytes()).collect::<Vec<u8>>();
    let func = [0u8; 32];
    // well formed, to show the forger is right
    let ok = forge(1, 2, &payload, &tables(&[1, 4]), &func);
    assert_eq!(as_tasks(&ok).item(1), [2, 3, 4]);
    let bad = forge(1, 2, &payload, &tables(&[3, 1]), &func);
    assert!(matches!(parse(&bad), Err(FrameError::BadTable(_))));
    let bad = forge(1, 2, &payload, &tables(&[1, 3]), &func);
    assert!(matches!(parse(&bad), Err(FrameError::BadTable(_))));
    let bad = forge(1, 2, &payload, &tables(&[1, 9]), &func);
    assert!(matches!(parse(&bad), Err(FrameError::BadTable(_))));
    let bad = forge(1, 0, &payload, &[], &func);
    assert!(matches!(parse(&bad), Err(FrameError::BadTable(_))));
    let mut t = tables(&[4]);
    t.push(2);
    let bad = forge(2, 1, &payload, &t, &[]);
    assert!(matches!(parse(&bad), Err(FrameError::BadTable(_))));
    let bad = forge(3, 1, &[], &[0; 4], &[]);
    assert!(matches!(parse(&bad), Err(FrameError::BadTable(_))));
    let bad = forge(9, 0, &[], &[], &[]);
    assert!(matches!(parse(&bad), Err(FrameError::UnknownKind(9))));
    // a failed item whose bytes are not a RemoteFailure reads as a codec failure
    let mut t = tables(&[4]);
    t.push(1);
    let odd = forge(2, 1, &[0xff; 4], &t, &[]);
    let ItemOutcome::Failed(RemoteFailure::Codec(e)) = as_results(&odd).item(0) else {
        panic!("expected a codec failure");
    };
    assert_eq!(e.op(), Op::Decode);
    // a control frame whose message is not a Control
    let bad = forge(3, 0, &[0xff, 0xff], &[], &[]);
    assert!(matches!(parse(&bad), Err(FrameError::Control(_))));
}

#[test]
fn reused_framebuf_builds_clean_frames() {
    let func = FnId { target: 1, trampoline: 2, types: TypeFingerprint::of::<u64, u64>(), tag: 3 };
    let big: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 50]).collect();
    let small = vec![vec![9u8, 9], vec![], vec![8]];
    let outcomes = vec![
        Ok(vec![1, 2, 3]),
        Err(RemoteFailure::BadFunction("offset out of range".into())),
        Ok(vec![]),
    ];

    let mut fb = FrameBuf::new();
    fb.begin_tasks(1, func);
    for it in &big {
        fb.push_raw(it);
    }
    let _ = fb.finish();

    // a smaller task batch after a big one
    fb.begin_tasks(2, func);
    for it in &small {
        fb.push_raw(it);
    }
    assert_eq!((fb.len(), fb.payload_len()), (3, 3));
    assert_eq!(fb.finish(), &task_frame(2, func, &small)[..]);

    // a result batch after a task batch, then a task batch again
    fill_results(&mut fb, 5, &outcomes);
    let frame = fb.finish().to_vec();
    assert_eq!(frame, result_frame(5, &outcomes));
    check_results(&as_results(&frame), 5, &outcomes);

    // a control frame in between, and a batch abandoned half way
    let _ = fb.control(&Control::Shutdown);
    fb.begin_tasks(6, func);
    fb.push_raw(&[1, 2, 3]);
    fb.begin_tasks(7, func);
    assert!(fb.is_empty());
    assert_eq!(fb.payload_len(), 0);
    fb.reserve(big.len(), 50);
    for it in &big {
        fb.push_raw(it);
    }
    assert_eq!(fb.finish(), &task_frame(7, func, &big)[..]);

    // an empty batch
    fb.begin_results(8);
    let empty = fb.finish().to_vec();
    assert_eq!(as_results(&empty).len(), 0);
    assert!(as_results(&empty).is_empty());
}

#[test]
fn push_with_rolls_back_a_failed_item() {
    let func = FnId { target: 0, trampoline: 0, types: TypeFingerprint(0), tag: 0 };
    let mut fb = FrameBuf::new();
    fb.begin_tasks(1, func);
    fb.push_with(|out| encode(&7u64, What::Argument, out)).unwrap();
    let err = fb
        .push_with(|out| {
            out.extend_from_slice(b"half written");
            Err("no")
        })
        .unwrap_err();
    assert_eq!(err, "no");
    assert_eq!((fb.len(), fb.payload_len()), (1, 1));

    // a serde error raised after the encoder already wrote part of the value
    struct Refuses;
    impl serde::Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused"))
        }
    }
    let err = fb
        .push_with(|out| encode(&("a long prefix string", 5u8, Refuses), What::Argument, out))
        .unwrap_err();
    assert_eq!(err.op(), Op::Encode);
    assert_eq!((fb.len(), fb.payload_len()), (1, 1));

    fb.push_with(|out| encode(&Bytes::from(vec![4u8; 3]), What::Argument, out)).unwrap();
    let frame = fb.finish().to_vec();
    let mut clean = FrameBuf::new();
    clean.begin_tasks(1, func);
    clean.push_raw(&[7]);
    clean.push_raw(&[3, 4, 4, 4]);
    assert_eq!(frame, clean.finish());
    let t = as_tasks(&frame);
    assert_eq!(t.len(), 2);
    assert_eq!(t.item(1), [3, 4, 4, 4]);

    // the same in a result batch: the failed item leaves no status behind
    fb.begin_results(2);
    fb.push_with(|out| {
        out.push(1);
        Err(())
    })
    .unwrap_err();
    fb.push_failure(&RemoteFailure::BadFunction("x".into()));
    let frame = fb.finish().to_vec();
    let r = as_results(&frame);
    assert_eq!(r.len(), 1);
    assert_eq!(r.item(0), ItemOutcome::Failed(RemoteFailure::BadFunction("x".into())));
}

#[test]
fn every_control_variant_round_trips() {
    let failure = RemoteFailure::Panicked(PanicInfo {
        message: "boom".into(),
        location: Some(Location { file: "src/lib.rs".into(), line: 1, column: 2 }),
        backtrace: "0: main".into(),
    });
    let all = [
        Control::Hello { binary: BinaryFingerprint(u64::MAX), pid: 4242 },
        Control::Initialize {
            func: FnId {
                target: -5,
                trampoline: 5,
                types: TypeFingerprint::of::<(), String>(),
                tag: 6,
            },
            args: Bytes::from(vec![1, 2, 3]),
        },
        Control::Initialized,
        Control::InitFailed(failure),
        Control::InitFailed(RemoteFailure::Codec(CodecError::new(
            Op::Decode,
            What::InitArgument,
            "u8",
            "bad",
        ))),
        Control::InitFailed(RemoteFailure::TypeMismatch {
            expected: TypeFingerprint(1),
            found: TypeFingerprint(2),
        }),
        Control::InitFailed(RemoteFailure::BadFunction("why".into())),
        Control::Shutdown,
        Control::Skipped { from: (3 << 48) | 1000 },
    ];
    let mut fb = FrameBuf::new();
    for message in all {
        let frame = fb.control(&message).to_vec();
        let Ok(Frame::Control(back)) = parse(&frame) else { panic!("{message:?} did not parse") };
        assert_eq!(back, message);
    }
}

#[test]
fn small_inputs_report_truncation() {
    for len in 0..32 {
        let bytes = vec![0u8; len];
        assert!(matches!(parse(&bytes), Err(FrameError::Truncated { got, .. }) if got == len));
    }
    assert!(matches!(parse(&[0u8; 64]), Err(FrameError::BadMagic)));
}
