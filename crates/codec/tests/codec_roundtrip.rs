//! Values round-trip through `encode` / `decode` (proptest over nested serde types), `encode`
//! appends and leaves the buffer untouched on failure, and `decode` rejects trailing and
//! missing bytes with an error that names the type and the direction.

use std::any::type_name;
use std::collections::{BTreeMap, HashMap};

use multiproc_codec::{Bytes, Op, What, decode, encode};
use proptest::collection::{btree_map, hash_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};

mod common;
use common::{F64Bits, what};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Unit,
    Other,
    Tuple(i32, String),
    Struct { id: u64, tags: Vec<String>, payload: Bytes },
    Nested(Vec<Shape>, Option<Box<Shape>>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Leaf {
    name: String,
    flag: bool,
    ch: char,
    small: i8,
    big: i128,
    ubig: u128,
    ratio: F64Bits,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Nested {
    shape: Shape,
    shapes: Vec<Shape>,
    text: String,
    bytes: Bytes,
    raw: Vec<u8>,
    leaves: Vec<Leaf>,
    index: BTreeMap<String, Vec<i64>>,
    lookup: HashMap<u32, Option<String>>,
    maybe: Option<Leaf>,
    pair: (u16, (i64, String), Option<bool>),
    unit: (),
}

fn bytes() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = prop_oneof![
        Just(Shape::Unit),
        Just(Shape::Other),
        (any::<i32>(), any::<String>()).prop_map(|(a, b)| Shape::Tuple(a, b)),
        (any::<u64>(), vec(any::<String>(), 0..4), bytes())
            .prop_map(|(id, tags, payload)| Shape::Struct { id, tags, payload }),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        (vec(inner.clone(), 0..4), option::of(inner.prop_map(Box::new)))
            .prop_map(|(v, o)| Shape::Nested(v, o))
    })
}

prop_compose! {
    fn leaf()(
        name in any::<String>(),
        flag in any::<bool>(),
        ch in any::<char>(),
        small in any::<i8>(),
        big in any::<i128>(),
        ubig in any::<u128>(),
        ratio in any::<u64>().prop_map(f64::from_bits),
    ) -> Leaf {
        Leaf { name, flag, ch, small, big, ubig, ratio: F64Bits(ratio) }
    }
}

prop_compose! {
    fn nested()(
        shape in shape(),
        shapes in vec(shape(), 0..4),
        text in any::<String>(),
        bytes in bytes(),
        raw in vec(any::<u8>(), 0..64),
        leaves in vec(leaf(), 0..4),
        index in btree_map(any::<String>(), vec(any::<i64>(), 0..6), 0..6),
        lookup in hash_map(any::<u32>(), option::of(any::<String>()), 0..6),
        maybe in option::of(leaf()),
        pair in (any::<u16>(), (any::<i64>(), any::<String>()), option::of(any::<bool>())),
    ) -> Nested {
        Nested { shape, shapes, text, bytes, raw, leaves, index, lookup, maybe, pair, unit: () }
    }
}

fn round_trip<T>(value: &T, what: What) -> T
where
    T: Serialize + DeserializeOwned,
{
    let mut buf = Vec::new();
    encode(value, what, &mut buf).expect("encodes");
    decode(&buf, what).expect("decodes")
}

#[test]
fn integers_of_every_length_round_trip_at_both_ends() {
    // One byte below 240; else a tag and `len` bytes: the first and last value of each.
    for len in 0..=8u32 {
        let low = match len {
            0 => 0,
            1 => 240,
            _ => 1u64 << (8 * (len - 1)),
        };
        let high = match len {
            0 => 239,
            8 => u64::MAX,
            _ => (1u64 << (8 * len)) - 1,
        };
        for value in [low, high] {
            let mut buf = vec![0xAA];
            encode(&value, What::Result, &mut buf).unwrap();
            let encoded = if len == 0 { 1 } else { 1 + len };
            assert_eq!(buf.len() as u32, 1 + encoded, "{value}");
            assert_eq!(buf[0], 0xAA);
            assert_eq!(decode::<u64>(&buf[1..], What::Result).unwrap(), value);
        }
    }
    let wide = u128::MAX - 1;
    assert_eq!(round_trip(&wide, What::Argument), wide);
}

/// Serializes as an error: the custom error a user's `Serialize` impl may return.
#[derive(Debug, Deserialize)]
struct Refuses;

impl Serialize for Refuses {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refused on purpose"))
    }
}

/// Writes some bytes before failing, so a rollback has something to undo.
#[derive(Debug, Serialize, Deserialize)]
struct Halfway {
    written_first: String,
    list: Vec<u32>,
    then_fails: Refuses,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn nested_values_round_trip(value in nested(), what in what()) {
        prop_assert_eq!(round_trip(&value, what), value);
    }

    #[test]
    fn scalars_and_tuples_round_trip(
        a in any::<(i128, u128, char, bool)>(),
        b in any::<(u8, i16, u32, i64, u64, usize, isize)>(),
        f in any::<u64>().prop_map(f64::from_bits),
        g in any::<u32>().prop_map(f32::from_bits),
        s in any::<String>(),
    ) {
        prop_assert_eq!(round_trip(&a, What::Argument), a);
        prop_assert_eq!(round_trip(&b, What::Result), b);
        prop_assert_eq!(round_trip(&f, What::Result).to_bits(), f.to_bits());
        prop_assert_eq!(round_trip(&g, What::Result).to_bits(), g.to_bits());
        prop_assert_eq!(round_trip(&s, What::Message), s);
    }

    #[test]
    fn bytes_round_trip_as_one_block(raw in vec(any::<u8>(), 0..2048)) {
        let value = Bytes::from(raw.clone());
        let mut buf = Vec::new();
        encode(&value, What::Argument, &mut buf).unwrap();
        // the length (at most 3 bytes below 64 KiB) then the bytes verbatim
        prop_assert!(buf.ends_with(&raw));
        prop_assert!(buf.len() - raw.len() <= 3);
        let back: Bytes = decode(&buf, What::Argument).unwrap();
        prop_assert_eq!(back.into_vec(), raw);
    }

    #[test]
    fn encode_appends_after_existing_bytes(
        prefix in vec(any::<u8>(), 0..64),
        value in nested(),
    ) {
        let mut alone = Vec::new();
        encode(&value, What::Argument, &mut alone).unwrap();
        let mut buf = prefix.clone();
        encode(&value, What::Argument, &mut buf).unwrap();
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&buf[prefix.len()..], &alone[..]);
        let back: Nested = decode(&buf[prefix.len()..], What::Argument).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn failed_encode_leaves_buffer_unchanged(
        prefix in vec(any::<u8>(), 0..64),
        written_first in any::<String>(),
        list in vec(any::<u32>(), 0..16),
        what in what(),
    ) {
        let mut buf = prefix.clone();
        let err = encode(&Halfway { written_first, list, then_fails: Refuses }, what, &mut buf)
            .unwrap_err();
        prop_assert_eq!(&buf, &prefix);
        prop_assert_eq!(err.op(), Op::Encode);
        prop_assert_eq!(err.what(), what);
        prop_assert_eq!(err.type_name(), type_name::<Halfway>());
    }

    #[test]
    fn trailing_bytes_are_rejected(
        value in nested(),
        extra in vec(any::<u8>(), 1..16),
    ) {
        let mut buf = Vec::new();
        encode(&value, What::Result, &mut buf).unwrap();
        buf.extend_from_slice(&extra);
        let err = decode::<Nested>(&buf, What::Result).unwrap_err();
        prop_assert_eq!(err.op(), Op::Decode);
        prop_assert_eq!(err.type_name(), type_name::<Nested>());
        let expected = format!("{} trailing bytes after the value", extra.len());
        prop_assert_eq!(err.detail(), expected.as_str());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The encoding is prefix-free for a fixed type: no strict prefix decodes.
    #[test]
    fn every_strict_prefix_is_rejected(value in nested()) {
        let mut buf = Vec::new();
        encode(&value, What::Argument, &mut buf).unwrap();
        for cut in 0..buf.len() {
            let err = decode::<Nested>(&buf[..cut], What::Argument);
            prop_assert!(err.is_err(), "a prefix of {} of {} bytes decoded", cut, buf.len());
        }
    }
}

#[test]
fn encode_error_names_type_and_direction() {
    let mut buf = vec![1, 2, 3];
    let err = encode(&Refuses, What::Argument, &mut buf).unwrap_err();
    assert_eq!(buf, [1, 2, 3]);
    let expected = format!("cannot encode argument of type `{}`: ", type_name::<Refuses>());
    assert!(err.to_string().starts_with(&expected), "{err}");
    assert!(err.to_string().contains("codec_roundtrip::Refuses"), "{err}");

    for (what, word) in [
        (What::Result, "result"),
        (What::InitArgument, "initializer argument"),
        (What::Message, "message"),
    ] {
        let err = encode(&Refuses, what, &mut buf).unwrap_err();
        let expected = format!("cannot encode {word} of type `{}`", type_name::<Refuses>());
        assert!(err.to_string().starts_with(&expected), "{err}");
    }
    assert_eq!(buf, [1, 2, 3]);
}

#[test]
fn decode_error_names_type_and_direction() {
    let err = decode::<Vec<u64>>(&[5, 1], What::Result).unwrap_err();
    assert_eq!(err.op(), Op::Decode);
    assert!(
        err.to_string().starts_with("cannot decode result of type `alloc::vec::Vec<u64>`: "),
        "{err}"
    );
    let err = decode::<u8>(&[7, 0], What::InitArgument).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot decode initializer argument of type `u8`: 1 trailing bytes after the value"
    );
}

#[test]
fn extreme_scalars_round_trip() {
    for v in [i128::MIN, i128::MAX, 0, -1] {
        assert_eq!(round_trip(&v, What::Argument), v);
    }
    for v in [u128::MAX, 0, 1 << 127] {
        assert_eq!(round_trip(&v, What::Argument), v);
    }
    for v in [f64::NAN, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE / 2.0] {
        assert_eq!(round_trip(&v, What::Argument).to_bits(), v.to_bits());
    }
    for c in ['\0', 'é', '\u{FFFF}', '\u{10FFFF}', '🦀'] {
        assert_eq!(round_trip(&c, What::Argument), c);
    }
    assert_eq!(round_trip(&Bytes::new(), What::Argument), Bytes::new());
    assert_eq!(round_trip(&(), What::Argument), ());
}
