//! `decode` never panics on arbitrary or corrupted bytes (proptest over many target types),
//! and a huge declared length backed by a few bytes fails at once without reserving memory.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use multiproc_codec::{
    Bytes, Control, FnId, Op, PanicInfo, RemoteFailure, TypeFingerprint, What, decode, encode,
};
use proptest::collection::vec;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Unit,
    Tuple(i32, String),
    Struct { id: u64, tags: Vec<String>, payload: Bytes },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Nested {
    shape: Shape,
    shapes: Vec<Shape>,
    text: String,
    raw: Vec<u8>,
    index: BTreeMap<String, Vec<i64>>,
    lookup: HashMap<u32, Option<String>>,
    pair: (i128, u128, char, bool, f64),
    maybe: Option<Box<Nested>>,
}

fn sample() -> Nested {
    let inner = Nested {
        shape: Shape::Tuple(-3, "inner ✓".into()),
        shapes: vec![Shape::Unit],
        text: String::new(),
        raw: vec![0, 255],
        index: BTreeMap::new(),
        lookup: HashMap::from([(7, None)]),
        pair: (-1, 1, 'x', false, 0.5),
        maybe: None,
    };
    Nested {
        shape: Shape::Struct {
            id: 300,
            tags: vec!["a".into(), "βγ".into()],
            payload: vec![1, 2, 3].into(),
        },
        shapes: vec![Shape::Unit, Shape::Tuple(i32::MIN, "🦀".into())],
        text: "multiproc".into(),
        raw: (0..40).collect(),
        index: BTreeMap::from([("k".into(), vec![i64::MIN, 0, i64::MAX])]),
        lookup: HashMap::from([(1, Some("one".into())), (u32::MAX, None)]),
        pair: (i128::MIN, u128::MAX, '\u{10FFFF}', true, f64::NAN),
        maybe: Some(Box::new(inner)),
    }
}

/// Decodes `bytes` as every type under test; only a panic can fail this.
fn decode_all(bytes: &[u8]) {
    let w = What::Argument;
    let _ = decode::<String>(bytes, w);
    let _ = decode::<Vec<String>>(bytes, w);
    let _ = decode::<Nested>(bytes, w);
    let _ = decode::<Bytes>(bytes, w);
    let _ = decode::<Vec<u8>>(bytes, w);
    let _ = decode::<BTreeMap<String, Vec<i64>>>(bytes, w);
    let _ = decode::<HashMap<u32, Option<String>>>(bytes, w);
    let _ = decode::<(u64, Option<Vec<u8>>)>(bytes, w);
    let _ = decode::<(i128, u128, char, f32, f64)>(bytes, w);
    let _ = decode::<Control>(bytes, What::Message);
    let _ = decode::<RemoteFailure>(bytes, What::Message);
    let _ = decode::<PanicInfo>(bytes, What::Message);
}

/// `n` as the format writes an integer: one byte below 240, else the tag `0xF0 + (k - 1)`
/// and the value's `k` bytes, little-endian (written out here independently of the crate).
fn varint(n: u64) -> Vec<u8> {
    if n < 240 {
        return vec![n as u8];
    }
    let k = (64 - n.leading_zeros()).div_ceil(8) as usize;
    let mut out = vec![0xF0 + (k as u8 - 1)];
    out.extend_from_slice(&n.to_le_bytes()[..k]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    /// Small integers and the length tags first: random bytes rarely look like a plausible
    /// encoding otherwise.
    #[test]
    fn small_byte_values_never_panic(
        bytes in vec(prop_oneof![0u8..8, 0xF0u8..=0xFF], 0..128),
    ) {
        decode_all(&bytes);
    }

    #[test]
    fn corrupted_encodings_never_panic(
        flips in vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = Vec::new();
        encode(&sample(), What::Argument, &mut buf).unwrap();
        for (at, mask) in &flips {
            let at = at.index(buf.len());
            buf[at] ^= mask;
        }
        decode_all(&buf);
        decode_all(&buf[..cut.index(buf.len())]);
    }

    #[test]
    fn arbitrary_failures_and_controls_never_panic(bytes in vec(any::<u8>(), 0..64)) {
        // The variant index first, so every variant's payload is reached.
        for tag in 0..6u8 {
            let mut b = vec![tag];
            b.extend_from_slice(&bytes);
            let _ = decode::<Control>(&b, What::Message);
            let _ = decode::<RemoteFailure>(&b, What::Message);
        }
    }
}

#[test]
fn sample_round_trips() {
    // The corruption test starts from a valid encoding; make sure it is one.
    let mut buf = Vec::new();
    encode(&sample(), What::Argument, &mut buf).unwrap();
    let back: Nested = decode(&buf, What::Argument).unwrap();
    assert_eq!(back.text, "multiproc");
    assert!(back.pair.4.is_nan());
    let control = Control::Initialize {
        func: FnId { target: -1, trampoline: 1, types: TypeFingerprint(9), tag: 4 },
        args: buf.clone().into(),
    };
    let mut msg = Vec::new();
    encode(&control, What::Message, &mut msg).unwrap();
    assert_eq!(decode::<Control>(&msg, What::Message).unwrap(), control);
}

/// A declared length of 2^40 (or more) with three bytes behind it must fail at once: were
/// the decoder to reserve the declared length, the allocation would abort the process.
#[test]
fn huge_declared_length_fails_fast() {
    let start = Instant::now();
    for len in [1u64 << 40, 1 << 62, u64::MAX, u64::from(u32::MAX)] {
        let mut bytes = varint(len);
        bytes.extend_from_slice(&[1, 2, 3]);
        let w = What::Argument;
        let errs = [
            decode::<Vec<u8>>(&bytes, w).unwrap_err(),
            decode::<String>(&bytes, w).unwrap_err(),
            decode::<Bytes>(&bytes, w).unwrap_err(),
            decode::<Vec<u64>>(&bytes, w).unwrap_err(),
            decode::<Vec<String>>(&bytes, w).unwrap_err(),
            decode::<Vec<Vec<u8>>>(&bytes, w).unwrap_err(),
            decode::<BTreeMap<String, Vec<i64>>>(&bytes, w).unwrap_err(),
            decode::<HashMap<u32, Option<String>>>(&bytes, w).unwrap_err(),
        ];
        for e in errs {
            assert_eq!(e.op(), Op::Decode);
        }
        // Inside a tuple and an option, behind other fields.
        let mut nested = vec![5, 1];
        nested.extend_from_slice(&bytes);
        assert!(decode::<(u64, Option<Vec<u8>>)>(&nested, w).is_err());
        assert!(decode::<(u64, Option<Bytes>)>(&nested, w).is_err());
    }
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}

#[test]
fn integer_helper_matches_the_encoder() {
    for n in [0u64, 1, 239, 240, 255, 256, 300, 65_535, 65_536, 1 << 40, u64::MAX] {
        let mut buf = Vec::new();
        encode(&n, What::Argument, &mut buf).unwrap();
        assert_eq!(buf, varint(n), "{n}");
    }
}
