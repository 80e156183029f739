//! The value format, pinned down: its layout byte for byte on hand-written examples (a
//! postcard-style layout with integers as one byte below 240, else a length tag and
//! little-endian bytes); rich nested values of every serde kind round-trip and encode
//! deterministically; the encoding is canonical — for arbitrary, plausible and mutated
//! byte strings, whatever `decode` accepts re-encodes to exactly those bytes (so nothing
//! but the encoder's own output is accepted); every integer width at its length
//! boundaries, with too-long and non-minimal integers refused; sequences and maps of
//! unknown length, `collect_str`, and custom error messages, which are kept.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Debug};
use std::net::SocketAddr;

use multiproc_codec::{Bytes, CodecError, Op, What, decode, encode, encode_into};
use proptest::collection::{btree_map, hash_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod common;
use common::{F32Bits, F64Bits};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UnitStruct;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Newtype(i64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TupleStruct(u8, Option<char>, F32Bits);

/// All four kinds of variant, nested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Kind {
    Unit,
    Newtype(u16),
    Tuple(i8, char, Option<u32>),
    Struct { a: i16, b: Vec<u8>, c: Option<Box<Kind>> },
    Nested(Vec<Kind>, Bytes),
}

/// Every scalar width, unsigned, signed, then the rest.
type Scalars = (
    (u8, u16, u32, u64, u128, usize),
    (i8, i16, i32, i64, i128, isize),
    (F32Bits, F64Bits, char, bool),
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rich {
    scalars: Vec<Scalars>,
    kind: Kind,
    kinds: Vec<Kind>,
    text: String,
    raw: Vec<u8>,
    bytes: Bytes,
    index: BTreeMap<String, Vec<i64>>,
    nested: BTreeMap<u32, BTreeMap<i8, Option<String>>>,
    lookup: HashMap<u64, Option<Kind>>,
    pair: (u16, (i64, String), Option<bool>),
    maybe: Option<Option<i128>>,
    tuple_struct: TupleStruct,
    newtype: Newtype,
    unit_struct: UnitStruct,
    unit: (),
    /// Serialized differently when the format is human-readable: checks that it is not.
    addr: SocketAddr,
}

/// Integers of one width: anything, the extremes, and the values around each length
/// boundary in that width (240 and `2^(8k)`, and one less; for zigzagged signed integers
/// the boundaries fall at half those, so those too), either sign.
macro_rules! edgy {
    ($name:ident, $t:ty) => {
        fn $name() -> impl Strategy<Value = $t> {
            prop_oneof![
                any::<$t>(),
                Just(<$t>::MIN),
                Just(<$t>::MAX),
                Just(0 as $t),
                (0..<$t>::BITS / 8, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
                    |(k, half, below, negate)| {
                        let boundary: $t = if k == 0 {
                            (240 >> u32::from(half)) as $t
                        } else {
                            (1 as $t).wrapping_shl(8 * k - u32::from(half))
                        };
                        let v = if below { boundary.wrapping_sub(1) } else { boundary };
                        if negate { (0 as $t).wrapping_sub(v) } else { v }
                    }
                ),
            ]
        }
    };
}

edgy!(edgy_u8, u8);
edgy!(edgy_u16, u16);
edgy!(edgy_u32, u32);
edgy!(edgy_u64, u64);
edgy!(edgy_u128, u128);
edgy!(edgy_usize, usize);
edgy!(edgy_i8, i8);
edgy!(edgy_i16, i16);
edgy!(edgy_i32, i32);
edgy!(edgy_i64, i64);
edgy!(edgy_i128, i128);
edgy!(edgy_isize, isize);

fn scalars() -> impl Strategy<Value = Scalars> {
    (
        (edgy_u8(), edgy_u16(), edgy_u32(), edgy_u64(), edgy_u128(), edgy_usize()),
        (edgy_i8(), edgy_i16(), edgy_i32(), edgy_i64(), edgy_i128(), edgy_isize()),
        (any::<u32>(), any::<u64>(), any::<char>(), any::<bool>()).prop_map(|(f, d, c, b)| {
            (F32Bits(f32::from_bits(f)), F64Bits(f64::from_bits(d)), c, b)
        }),
    )
}

fn bytes() -> impl Strategy<Value = Bytes> {
    // Up to 300 bytes: lengths of one byte and tagged ones, short and long copies.
    vec(any::<u8>(), 0..300).prop_map(Bytes::from)
}

fn kind() -> impl Strategy<Value = Kind> {
    let leaf = prop_oneof![
        Just(Kind::Unit),
        edgy_u16().prop_map(Kind::Newtype),
        (edgy_i8(), any::<char>(), option::of(edgy_u32()))
            .prop_map(|(a, b, c)| Kind::Tuple(a, b, c)),
        (edgy_i16(), vec(any::<u8>(), 0..8)).prop_map(|(a, b)| Kind::Struct { a, b, c: None }),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            (vec(inner.clone(), 0..4), bytes()).prop_map(|(v, b)| Kind::Nested(v, b)),
            (edgy_i16(), vec(any::<u8>(), 0..8), option::of(inner.prop_map(Box::new)))
                .prop_map(|(a, b, c)| Kind::Struct { a, b, c }),
        ]
    })
}

prop_compose! {
    fn rich()(
        scalars in vec(scalars(), 0..4),
        kind in kind(),
        kinds in vec(kind(), 0..4),
        text in any::<String>(),
        raw in vec(any::<u8>(), 0..200),
        bytes in bytes(),
        index in btree_map(any::<String>(), vec(edgy_i64(), 0..6), 0..6),
        nested in btree_map(
            edgy_u32(),
            btree_map(any::<i8>(), option::of(any::<String>()), 0..4),
            0..4,
        ),
        lookup in hash_map(edgy_u64(), option::of(kind()), 0..4),
        pair in (edgy_u16(), (edgy_i64(), any::<String>()), option::of(any::<bool>())),
        maybe in option::of(option::of(edgy_i128())),
        tuple_struct in (any::<u8>(), option::of(any::<char>()), any::<u32>())
            .prop_map(|(a, b, c)| TupleStruct(a, b, F32Bits(f32::from_bits(c)))),
        newtype in edgy_i64().prop_map(Newtype),
        addr in any::<SocketAddr>().prop_map(without_v6_extras),
    ) -> Rich {
        Rich {
            scalars, kind, kinds, text, raw, bytes, index, nested, lookup, pair, maybe,
            tuple_struct, newtype, unit_struct: UnitStruct, unit: (), addr,
        }
    }
}

/// serde's compact form of an IPv6 socket address is its address and port: flow info and
/// scope id do not survive any round trip in a non-human-readable format.
fn without_v6_extras(mut addr: SocketAddr) -> SocketAddr {
    if let SocketAddr::V6(v6) = &mut addr {
        v6.set_flowinfo(0);
        v6.set_scope_id(0);
    }
    addr
}

/// `value` encodes, decodes back to itself, and encodes again to the same bytes.
fn assert_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let (bytes, back) = round_trip(value)?;
    let mut again = Vec::new();
    encode(&back, What::Argument, &mut again).unwrap();
    prop_assert_eq!(again, bytes);
    Ok(())
}

/// `value` encodes and decodes back to itself; its bytes.
fn round_trip<T>(value: &T) -> Result<(Vec<u8>, T), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut bytes = Vec::new();
    encode(value, What::Argument, &mut bytes).unwrap();
    let back = decode::<T>(&bytes, What::Argument).unwrap();
    prop_assert_eq!(&back, value);
    Ok((bytes, back))
}

/// If `decode` accepts `bytes` as a `T`, the value encodes to exactly `bytes`: the decoder
/// accepts the encoder's output and nothing else. (For types whose serde impls are
/// canonical themselves: not maps, which sort and drop duplicate keys.)
fn assert_canonical<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + Debug,
{
    if let Ok(value) = decode::<T>(bytes, What::Result) {
        let mut again = Vec::new();
        encode(&value, What::Result, &mut again).unwrap();
        prop_assert_eq!(
            &again[..],
            bytes,
            "{} accepted {:02x?} as {:?}",
            std::any::type_name::<T>(),
            bytes,
            value
        );
    }
    Ok(())
}

/// Every target type of the decoding tests.
fn assert_canonical_all(bytes: &[u8]) -> Result<(), TestCaseError> {
    assert_canonical::<u16>(bytes)?;
    assert_canonical::<u32>(bytes)?;
    assert_canonical::<u64>(bytes)?;
    assert_canonical::<i16>(bytes)?;
    assert_canonical::<i32>(bytes)?;
    assert_canonical::<i64>(bytes)?;
    assert_canonical::<u128>(bytes)?;
    assert_canonical::<i128>(bytes)?;
    assert_canonical::<usize>(bytes)?;
    assert_canonical::<String>(bytes)?;
    assert_canonical::<char>(bytes)?;
    assert_canonical::<bool>(bytes)?;
    assert_canonical::<Option<u8>>(bytes)?;
    assert_canonical::<(u8, F32Bits)>(bytes)?;
    assert_canonical::<Vec<u32>>(bytes)?;
    assert_canonical::<Bytes>(bytes)?;
    assert_canonical::<Kind>(bytes)?;
    assert_canonical::<Vec<(u16, String)>>(bytes)?;
    Ok(())
}

/// Bytes that often look like the start of something: small values, the length tags, and
/// the extremes.
fn plausible_byte() -> impl Strategy<Value = u8> {
    prop_oneof![0u8..6, 0xeeu8..=0xff, any::<u8>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rich_values_round_trip(value in rich()) {
        // (Not byte for byte again: a decoded `HashMap` iterates in another order.)
        round_trip(&value)?;
    }

    /// Encoding into a buffer of fixed size writes the same bytes as appending to a
    /// vector when they fit, and says so when they do not (at every size around theirs).
    #[test]
    fn encoding_in_place_writes_what_encode_writes(value in rich(), scalars in scalars()) {
        type Into<'a> = &'a dyn Fn(&mut [u8]) -> Result<Option<usize>, CodecError>;
        let value_into: Into<'_> = &|buf| encode_into(&value, What::Argument, buf);
        let scalars_into: Into<'_> = &|buf| encode_into(&scalars, What::Argument, buf);
        for (bytes, into) in [(bytes_of(&value), value_into), (bytes_of(&scalars), scalars_into)] {
            let n = bytes.len();
            for size in [n.saturating_sub(9), n.saturating_sub(1), n, n + 1, n + 40] {
                let mut buf = vec![0xAAu8; size];
                match into(&mut buf).unwrap() {
                    Some(len) => {
                        prop_assert!(size >= n);
                        prop_assert_eq!(&buf[..len], &bytes[..]);
                    }
                    None => prop_assert!(size < n, "{n} bytes fit in {size}"),
                }
            }
        }
    }

    #[test]
    fn scalars_round_trip(value in scalars()) {
        assert_round_trip(&value)?;
        let ((_, u16, u32, u64, u128, _), (_, i16, i32, i64, i128, _), (_, _, ch, _)) = value;
        assert_round_trip(&(u16, u32, u64, u128))?;
        assert_round_trip(&u16)?;
        assert_round_trip(&u32)?;
        assert_round_trip(&u64)?;
        assert_round_trip(&u128)?;
        assert_round_trip(&i16)?;
        assert_round_trip(&i32)?;
        assert_round_trip(&i64)?;
        assert_round_trip(&i128)?;
        assert_round_trip(&ch)?;
    }

    #[test]
    fn arbitrary_bytes_decode_canonically(bytes in vec(any::<u8>(), 0..24)) {
        assert_canonical_all(&bytes)?;
    }

    #[test]
    fn plausible_bytes_decode_canonically(bytes in vec(plausible_byte(), 0..24)) {
        assert_canonical_all(&bytes)?;
    }

    /// A valid encoding, then cut, extended or with a byte changed.
    #[test]
    fn mutated_encodings_decode_canonically(
        value in (edgy_u64(), any::<String>(), kind()),
        pick in 0usize..5,
        at in any::<prop::sample::Index>(),
        byte in plausible_byte(),
    ) {
        let (number, text, kind) = value;
        let mut buf = Vec::new();
        match pick {
            0 => encode(&number, What::Result, &mut buf),
            1 => encode(&(number as u32), What::Result, &mut buf),
            2 => encode(&text, What::Result, &mut buf),
            3 => encode(&kind, What::Result, &mut buf),
            _ => encode(&vec![number as u32; (number % 5) as usize], What::Result, &mut buf),
        }
        .unwrap();
        assert_canonical_all(&buf)?;
        let i = at.index(buf.len());
        buf[i] = byte;
        assert_canonical_all(&buf)?;
        assert_canonical_all(&buf[..i])?;
        buf.insert(i, byte);
        assert_canonical_all(&buf)?;
    }
}

/// The bytes of `value`.
fn bytes_of<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, What::Message, &mut out).unwrap();
    out
}

#[test]
fn the_layout_byte_for_byte() {
    // Integers: one byte below 240; else 0xF0 + (k - 1), then k bytes, little-endian.
    assert_eq!(bytes_of(&0u64), [0]);
    assert_eq!(bytes_of(&239u32), [239]);
    assert_eq!(bytes_of(&240u16), [0xF0, 240]);
    assert_eq!(bytes_of(&300u64), [0xF1, 0x2C, 0x01]);
    assert_eq!(bytes_of(&u64::MAX), [0xF7, 255, 255, 255, 255, 255, 255, 255, 255]);
    assert_eq!(bytes_of(&(1u128 << 64)), [0xF8, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    // Signed: zigzag (0, -1, 1, -2, ... as 0, 1, 2, 3, ...); i8 and u8 raw.
    assert_eq!(bytes_of(&-1i64), [1]);
    assert_eq!(bytes_of(&1i32), [2]);
    assert_eq!(bytes_of(&-121i16), [0xF0, 241]);
    assert_eq!(bytes_of(&(-2i8, 255u8)), [0xFE, 0xFF]);
    // Floats little-endian; bool; char and str as length then UTF-8.
    assert_eq!(bytes_of(&1.0f32), 1.0f32.to_le_bytes());
    assert_eq!(bytes_of(&(true, 'é', "hi")), [1, 2, 0xC3, 0xA9, 2, b'h', b'i']);
    // Option, unit, sequences and maps (count first), structs (fields in order).
    assert_eq!(bytes_of(&(None::<u8>, Some(5u8), ())), [0, 1, 5]);
    assert_eq!(bytes_of(&vec![1u16, 300]), [2, 1, 0xF1, 0x2C, 0x01]);
    assert_eq!(bytes_of(&BTreeMap::from([(1u8, 2u8)])), [1, 1, 2]);
    assert_eq!(bytes_of(&Newtype(-3)), [5]);
    // Enums: the variant's index, then its content.
    assert_eq!(bytes_of(&Kind::Unit), [0]);
    assert_eq!(bytes_of(&Kind::Newtype(7)), [1, 7]);
    assert_eq!(bytes_of(&Kind::Tuple(-1, 'a', None)), [2, 0xFF, 1, b'a', 0]);
    assert_eq!(bytes_of(&Kind::Struct { a: 1, b: vec![9], c: None }), [3, 2, 1, 9, 0]);
    assert_eq!(bytes_of(&Bytes::from(vec![4u8; 3])), [3, 4, 4, 4]);
}

/// Encodes `value`, checks the round trip, then that every strict prefix, and the
/// encoding with a trailing byte, are refused.
fn check_boundary<T>(value: T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    assert_round_trip(&value).unwrap();
    let bytes = bytes_of(&value);
    for cut in 0..bytes.len() {
        assert!(decode::<T>(&bytes[..cut], What::Result).is_err(), "{value:?} cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = decode::<T>(&longer, What::Result).unwrap_err();
    assert_eq!(err.detail(), "1 trailing bytes after the value");
}

/// 239, 240 and `2^(8k) - 1`, `2^(8k)` for every k that fits in `bits`, plus 0 and the
/// top value.
fn boundaries(bits: u32) -> Vec<u128> {
    let top = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
    let mut out = vec![0, 239, 240, top];
    for k in 1..bits / 8 {
        out.push((1u128 << (8 * k)) - 1);
        out.push(1u128 << (8 * k));
    }
    out
}

#[test]
fn every_length_boundary_of_every_width_round_trips() {
    for v in boundaries(16) {
        let v = v as u16;
        check_boundary(v);
        check_boundary(v as i16);
        check_boundary((v as i16).wrapping_neg());
    }
    for v in boundaries(32) {
        let v = v as u32;
        check_boundary(v);
        check_boundary(v as i32);
        check_boundary((v as i32).wrapping_neg());
        check_boundary(Kind::Newtype(v as u16));
    }
    for v in boundaries(64) {
        let v = v as u64;
        check_boundary(v);
        check_boundary(v as usize);
        check_boundary(v as i64);
        check_boundary((v as i64).wrapping_neg());
        check_boundary(v as isize);
    }
    for v in boundaries(128) {
        check_boundary(v);
        check_boundary(v as i128);
        check_boundary((v as i128).wrapping_neg());
    }
    for v in [i16::MIN, i16::MAX] {
        check_boundary(v);
    }
    for v in [i32::MIN, i32::MAX] {
        check_boundary(v);
    }
    for v in [i64::MIN, i64::MAX] {
        check_boundary(v);
    }
    for v in [i128::MIN, i128::MAX] {
        check_boundary(v);
    }
}

/// An integer in more bytes than its type has, or than its value needs, is refused:
/// alone, and followed by more input (the decoder then reads a word past the integer).
#[test]
fn integers_too_long_or_not_minimal_are_refused() {
    let refused = |bytes: &[u8], widths: &[&str]| {
        let followed = [bytes, &[0u8; 16][..]].concat();
        for width in widths {
            let (alone, then) = match *width {
                "u16" => (
                    decode::<u16>(bytes, What::Result).is_err(),
                    decode::<(u16, [u8; 16])>(&followed, What::Result).is_err(),
                ),
                "u32" => (
                    decode::<u32>(bytes, What::Result).is_err(),
                    decode::<(u32, [u8; 16])>(&followed, What::Result).is_err(),
                ),
                "u64" => (
                    decode::<u64>(bytes, What::Result).is_err(),
                    decode::<(u64, [u8; 16])>(&followed, What::Result).is_err(),
                ),
                _ => (
                    decode::<u128>(bytes, What::Result).is_err(),
                    decode::<(u128, [u8; 16])>(&followed, What::Result).is_err(),
                ),
            };
            assert!(alone && then, "{bytes:02x?} accepted as {width}");
        }
    };
    // More bytes than the value needs.
    refused(&[0xF0, 5], &["u16", "u32", "u64", "u128"]);
    refused(&[0xF1, 0xFF, 0], &["u16", "u32", "u64", "u128"]);
    refused(&[0xF3, 1, 0, 0, 0], &["u32", "u64", "u128"]);
    refused(&[0xF7, 1, 2, 3, 4, 5, 6, 7, 0], &["u64", "u128"]);
    refused(&[0xF8, 1, 2, 3, 4, 5, 6, 7, 8, 0], &["u128"]);
    // More bytes than the type has.
    refused(&[0xF2, 0, 0, 1], &["u16"]);
    refused(&[0xF4, 0, 0, 0, 0, 1], &["u16", "u32"]);
    refused(&[0xF8, 0, 0, 0, 0, 0, 0, 0, 0, 1], &["u16", "u32", "u64"]);
    // ...and the shortest forms next to them are accepted.
    assert_eq!(decode::<u16>(&[0xF0, 0xF0], What::Result).unwrap(), 240);
    assert_eq!(decode::<u16>(&[0xF1, 0, 1], What::Result).unwrap(), 256);
    assert_eq!(decode::<u32>(&[0xF3, 0, 0, 0, 1], What::Result).unwrap(), 1 << 24);
    assert_eq!(decode::<u128>(&[0xF8, 0, 0, 0, 0, 0, 0, 0, 0, 1], What::Result).unwrap(), 1 << 64);
}

/// Serializes its elements through an iterator whose length serde cannot know.
struct Filtered(Vec<u32>);

impl Serialize for Filtered {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().filter(|v| **v % 3 != 0))
    }
}

/// A map through an iterator whose length serde cannot know.
struct FilteredMap(BTreeMap<u16, String>);

impl Serialize for FilteredMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().filter(|(k, _)| **k % 2 == 0))
    }
}

#[test]
fn sequences_of_unknown_length_encode_like_known_ones() {
    for n in [0u32, 1, 5, 239, 358, 359, 360, 361, 400, 30_000] {
        let values: Vec<u32> = (0..n).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let kept: Vec<u32> = values.iter().copied().filter(|v| v % 3 != 0).collect();
        let mut known = vec![0xAA];
        encode(&(7u8, &kept, "after"), What::Argument, &mut known).unwrap();
        let mut unknown = vec![0xAA];
        encode(&(7u8, Filtered(values), "after"), What::Argument, &mut unknown).unwrap();
        assert_eq!(unknown, known, "{n} elements");
        let back: (u8, Vec<u32>, String) = decode(&unknown[1..], What::Argument).unwrap();
        assert_eq!(back.1, kept);

        let map: BTreeMap<u16, String> = (0..n as u16).map(|k| (k, k.to_string())).collect();
        let kept: BTreeMap<u16, String> =
            map.iter().filter(|(k, _)| **k % 2 == 0).map(|(k, v)| (*k, v.clone())).collect();
        let mut known = Vec::new();
        encode(&kept, What::Argument, &mut known).unwrap();
        let mut unknown = Vec::new();
        encode(&FilteredMap(map), What::Argument, &mut unknown).unwrap();
        assert_eq!(unknown, known, "map of {n} entries");
    }
}

/// Displays `text`, or fails.
struct Shown(Option<String>);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(text) => f.write_str(text),
            None => Err(fmt::Error),
        }
    }
}

impl Serialize for Shown {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[test]
fn collect_str_writes_what_serialize_str_writes() {
    for text in ["", "a", "héllo ✓", &"x".repeat(239), &"y".repeat(240), &"🦀".repeat(5000)] {
        let value = (1u8, Shown(Some(text.to_owned())), 2u8);
        let mut ours = vec![9];
        encode(&value, What::Message, &mut ours).unwrap();
        assert_eq!(ours[1..], bytes_of(&(1u8, text, 2u8))[..]);
    }
    let mut buf = vec![1, 2];
    let err = encode(&("before", Shown(None)), What::Result, &mut buf).unwrap_err();
    assert_eq!(buf, [1, 2]);
    assert!(err.detail().contains("Display"), "{err}");
}

/// Refuses to serialize, with a message of its own.
struct Refuses;

impl Serialize for Refuses {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refused: the handle is not portable"))
    }
}

/// Refuses to deserialize, with a message of its own.
#[derive(Debug)]
struct Picky;

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Picky, D::Error> {
        let n = u8::deserialize(d)?;
        Err(serde::de::Error::custom(format_args!("picky about {n}")))
    }
}

#[test]
fn custom_errors_keep_their_message() {
    // postcard said "Serde Serialization Error" and dropped the impl's own words.
    let mut buf = vec![3];
    let err = encode(&(1u32, Refuses), What::Result, &mut buf).unwrap_err();
    assert_eq!(buf, [3]);
    assert_eq!(err.op(), Op::Encode);
    assert_eq!(err.detail(), "refused: the handle is not portable");
    assert!(err.to_string().ends_with(": refused: the handle is not portable"), "{err}");

    let err = decode::<Picky>(&[42], What::Argument).unwrap_err();
    assert_eq!(err.detail(), "picky about 42");
    // serde's own messages come through as well: an enum variant index out of range.
    let err = decode::<Kind>(&[9], What::Argument).unwrap_err();
    assert!(err.detail().contains("variant index"), "{err}");
}

#[test]
fn decode_errors_are_short_and_lowercase() {
    let detail = |r: Result<(), String>| r.unwrap_err();
    let d = |bytes: &[u8]| -> Result<(), String> {
        decode::<(bool, Option<u8>, u16)>(bytes, What::Result)
            .map(|_| ())
            .map_err(|e| e.detail().to_owned())
    };
    assert_eq!(detail(d(&[])), "unexpected end of input");
    assert_eq!(detail(d(&[2])), "invalid bool 2");
    assert_eq!(detail(d(&[1, 7])), "invalid option tag 7");
    assert_eq!(detail(d(&[1, 0, 0xF2, 0, 0, 1])), "integer too long for u16");
    assert_eq!(
        detail(d(&[1, 0, 0xF0, 7])),
        "integer for u16 written with more bytes than it needs"
    );
    let err = decode::<char>(&[2, b'a', b'b'], What::Result).unwrap_err();
    assert!(err.detail().starts_with("invalid char"), "{err}");
    let err = decode::<String>(&[1, 0xff], What::Result).unwrap_err();
    assert!(err.detail().starts_with("invalid utf-8"), "{err}");
    for detail in [d(&[]), d(&[2]), d(&[1, 7])].map(Result::unwrap_err) {
        assert!(!detail.ends_with('.') && detail == detail.to_lowercase(), "{detail}");
    }
}

/// A type that must see the input to know what it is.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Untagged {
    Number(u64),
    Text(String),
}

#[test]
fn types_that_need_a_self_describing_format_are_refused() {
    let bytes = [5u8];
    let err = decode::<Untagged>(&bytes, What::Argument).unwrap_err();
    assert!(err.detail().contains("not self-describing"), "{err}");
}
