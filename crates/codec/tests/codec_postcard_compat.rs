//! Our encoder and decoder speak postcard 1.x exactly, with postcard itself as the oracle:
//! for arbitrary values of rich nested types `encode` writes the bytes `postcard::to_stdvec`
//! writes, byte for byte, and `decode` of postcard's bytes gives the value back; for
//! arbitrary and mutated byte strings `decode` accepts exactly when postcard accepts (the
//! whole input, no trailing bytes) and then gives the same value. Plus the edges: every
//! varint boundary of every integer width (and the over-long and overflowing varints
//! next to them), sequences and maps of unknown length (which postcard refuses and we
//! encode like known ones), `collect_str`, and custom error messages that are kept.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Debug};
use std::net::SocketAddr;

use multiproc_codec::{Bytes, Op, What, decode, encode};
use proptest::collection::{btree_map, hash_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An `f64` compared by bit pattern: NaN payloads and signed zeros must match too.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
struct F64Bits(f64);

impl PartialEq for F64Bits {
    fn eq(&self, other: &F64Bits) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

/// An `f32` compared by bit pattern.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
struct F32Bits(f32);

impl PartialEq for F32Bits {
    fn eq(&self, other: &F32Bits) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

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

/// Integers of one width: anything, the extremes, and the values around each varint
/// boundary in that width (`2^(7k)` and one less; for zigzagged signed integers the
/// boundaries fall at `±2^(7k-1)`, so those too), either sign.
macro_rules! edgy {
    ($name:ident, $t:ty) => {
        fn $name() -> impl Strategy<Value = $t> {
            prop_oneof![
                any::<$t>(),
                Just(<$t>::MIN),
                Just(<$t>::MAX),
                Just(0 as $t),
                (1..=<$t>::BITS / 7, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
                    |(k, half, below, negate)| {
                        let shift = (7 * k - u32::from(half)).min(<$t>::BITS - 1);
                        let boundary = (1 as $t).wrapping_shl(shift);
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
    // Up to 300 bytes: lengths of one and two varint bytes, short and long copies.
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
/// scope id do not survive any round trip, ours or postcard's.
fn without_v6_extras(mut addr: SocketAddr) -> SocketAddr {
    if let SocketAddr::V6(v6) = &mut addr {
        v6.set_flowinfo(0);
        v6.set_scope_id(0);
    }
    addr
}

/// Our bytes for `value`, postcard's bytes, and both decodings agree.
fn assert_same_encoding<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut ours = Vec::new();
    encode(value, What::Argument, &mut ours).unwrap();
    let theirs = postcard::to_stdvec(value).unwrap();
    prop_assert_eq!(&ours, &theirs);
    prop_assert_eq!(&decode::<T>(&theirs, What::Argument).unwrap(), value);
    prop_assert_eq!(&postcard::from_bytes::<T>(&ours).unwrap(), value);
    Ok(())
}

/// Our `decode` accepts `bytes` as a `T` exactly when postcard reads a `T` that uses all of
/// them, and then gives the same value.
fn assert_same_verdict<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + PartialEq + Debug,
{
    let ours = decode::<T>(bytes, What::Result);
    let theirs = match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    };
    match (ours, theirs) {
        (Ok(ours), Some(theirs)) => prop_assert_eq!(ours, theirs),
        (Err(_), None) => {}
        (ours, theirs) => prop_assert!(
            false,
            "verdicts differ for {} on {:02x?}: ours {:?}, postcard {:?}",
            std::any::type_name::<T>(),
            bytes,
            ours,
            theirs
        ),
    }
    Ok(())
}

/// Every target type of the differential decoding tests.
fn assert_same_verdicts(bytes: &[u8]) -> Result<(), TestCaseError> {
    assert_same_verdict::<u16>(bytes)?;
    assert_same_verdict::<u32>(bytes)?;
    assert_same_verdict::<u64>(bytes)?;
    assert_same_verdict::<i16>(bytes)?;
    assert_same_verdict::<i32>(bytes)?;
    assert_same_verdict::<i64>(bytes)?;
    assert_same_verdict::<u128>(bytes)?;
    assert_same_verdict::<i128>(bytes)?;
    assert_same_verdict::<usize>(bytes)?;
    assert_same_verdict::<String>(bytes)?;
    assert_same_verdict::<char>(bytes)?;
    assert_same_verdict::<bool>(bytes)?;
    assert_same_verdict::<Option<u8>>(bytes)?;
    assert_same_verdict::<(u8, F32Bits)>(bytes)?;
    assert_same_verdict::<Vec<u32>>(bytes)?;
    assert_same_verdict::<Bytes>(bytes)?;
    assert_same_verdict::<Kind>(bytes)?;
    assert_same_verdict::<BTreeMap<u16, String>>(bytes)?;
    Ok(())
}

/// Bytes that often look like the start of something: small values, the bytes around the
/// continuation bit, and the extremes.
fn plausible_byte() -> impl Strategy<Value = u8> {
    prop_oneof![0u8..6, 0x7eu8..=0x81, 0xfeu8..=0xff, any::<u8>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rich_values_encode_like_postcard(value in rich()) {
        assert_same_encoding(&value)?;
    }

    #[test]
    fn scalars_encode_like_postcard(value in scalars()) {
        assert_same_encoding(&value)?;
        let ((_, u16, u32, u64, u128, _), (_, i16, i32, i64, i128, _), (_, _, ch, _)) = value;
        assert_same_encoding(&(u16, u32, u64, u128))?;
        assert_same_encoding(&u16)?;
        assert_same_encoding(&u32)?;
        assert_same_encoding(&u64)?;
        assert_same_encoding(&u128)?;
        assert_same_encoding(&i16)?;
        assert_same_encoding(&i32)?;
        assert_same_encoding(&i64)?;
        assert_same_encoding(&i128)?;
        assert_same_encoding(&ch)?;
    }

    #[test]
    fn decoder_agrees_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..24)) {
        assert_same_verdicts(&bytes)?;
    }

    #[test]
    fn decoder_agrees_on_plausible_bytes(bytes in vec(plausible_byte(), 0..24)) {
        assert_same_verdicts(&bytes)?;
    }

    /// A valid encoding, then cut, extended or with a byte changed.
    #[test]
    fn decoder_agrees_on_mutated_encodings(
        value in (edgy_u64(), any::<String>(), kind()),
        pick in 0usize..5,
        at in any::<prop::sample::Index>(),
        byte in plausible_byte(),
    ) {
        let (number, text, kind) = value;
        let mut buf = match pick {
            0 => postcard::to_stdvec(&number).unwrap(),
            1 => postcard::to_stdvec(&(number as u32)).unwrap(),
            2 => postcard::to_stdvec(&text).unwrap(),
            3 => postcard::to_stdvec(&kind).unwrap(),
            _ => postcard::to_stdvec(&vec![number as u32; (number % 5) as usize]).unwrap(),
        };
        assert_same_verdicts(&buf)?;
        let i = at.index(buf.len());
        buf[i] = byte;
        assert_same_verdicts(&buf)?;
        assert_same_verdicts(&buf[..i])?;
        buf.insert(i, byte);
        assert_same_verdicts(&buf)?;
    }
}

/// Encodes `value` and checks it against postcard, then checks that postcard's verdict on
/// every strict prefix, and on the encoding with a trailing byte, is ours.
fn check_boundary<T>(value: T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    assert_same_encoding(&value).unwrap();
    let bytes = postcard::to_stdvec(&value).unwrap();
    for cut in 0..bytes.len() {
        assert!(decode::<T>(&bytes[..cut], What::Result).is_err(), "{value:?} cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = decode::<T>(&longer, What::Result).unwrap_err();
    assert_eq!(err.detail(), "1 trailing bytes after the value");
}

/// `2^(7k) - 1` and `2^(7k)` for every k that fits in `bits`, plus 0 and the top value.
fn boundaries(bits: u32) -> Vec<u128> {
    let top = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
    let mut out = vec![0, top];
    for k in 1..=bits / 7 {
        out.push((1u128 << (7 * k)) - 1);
        out.push(1u128 << (7 * k));
    }
    out
}

#[test]
fn every_varint_boundary_of_every_width_matches_postcard() {
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

/// At the most bytes a width allows: a padded (non-minimal) varint is accepted, one byte
/// more is not, and the last byte may hold only the bits that fit. postcard decides each.
#[test]
fn longest_varints_and_their_overflows_match_postcard() {
    // (most bytes, largest last byte) of 16, 32, 64 and 128 bits
    for (max, top) in [(3usize, 0x03u8), (5, 0x0f), (10, 0x01), (19, 0x03)] {
        for len in 1..=max + 1 {
            for last in [0u8, 1, top, top + 1, 0x7f, 0x80, 0xff] {
                for fill in [0x80u8, 0xff] {
                    let mut bytes = vec![fill; len - 1];
                    bytes.push(last);
                    let check = |bytes: &[u8]| {
                        assert_same_verdict::<u16>(bytes).unwrap();
                        assert_same_verdict::<i16>(bytes).unwrap();
                        assert_same_verdict::<u32>(bytes).unwrap();
                        assert_same_verdict::<i32>(bytes).unwrap();
                        assert_same_verdict::<u64>(bytes).unwrap();
                        assert_same_verdict::<i64>(bytes).unwrap();
                        assert_same_verdict::<usize>(bytes).unwrap();
                        assert_same_verdict::<u128>(bytes).unwrap();
                        assert_same_verdict::<i128>(bytes).unwrap();
                    };
                    check(&bytes);
                    // Followed by more input: the decoder reads a word past the varint.
                    let mut followed = bytes.clone();
                    followed.extend_from_slice(&[0u8; 16]);
                    let split = bytes.len();
                    assert_same_verdict::<(u64, [u8; 3])>(&followed[..split + 3]).unwrap();
                    assert_same_verdict::<(u64, [u8; 9])>(&followed[..split + 9]).unwrap();
                    assert_same_verdict::<(u32, [u8; 16])>(&followed).unwrap();
                    assert_same_verdict::<(u16, [u8; 16])>(&followed).unwrap();
                    assert_same_verdict::<(u128, [u8; 16])>(&followed).unwrap();
                    check(&followed[..split + 1]);
                }
            }
        }
    }
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
    for n in [0u32, 1, 5, 127, 190, 191, 192, 300, 30_000] {
        let values: Vec<u32> = (0..n).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let kept: Vec<u32> = values.iter().copied().filter(|v| v % 3 != 0).collect();
        if n > 0 {
            // (an empty filter's size hint is exact: serde then gives the length)
            assert!(postcard::to_stdvec(&Filtered(values.clone())).is_err(), "postcard refuses");
        }
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
fn collect_str_writes_the_string_postcard_writes() {
    for text in ["", "a", "héllo ✓", &"x".repeat(127), &"y".repeat(128), &"🦀".repeat(5000)] {
        let value = (1u8, Shown(Some(text.to_owned())), 2u8);
        let mut ours = vec![9];
        encode(&value, What::Message, &mut ours).unwrap();
        assert_eq!(ours[1..], postcard::to_stdvec(&value).unwrap()[..]);
        assert_eq!(ours[1..], postcard::to_stdvec(&(1u8, text, 2u8)).unwrap()[..]);
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
    assert_eq!(detail(d(&[1, 0, 0xff, 0xff, 0x04])), "varint out of range for u16");
    assert_eq!(detail(d(&[1, 0, 0xff, 0xff, 0x80, 0])), "varint too long for u16");
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
fn types_that_need_a_self_describing_format_are_refused_like_postcard() {
    let bytes = [5u8];
    assert!(postcard::from_bytes::<Untagged>(&bytes).is_err());
    let err = decode::<Untagged>(&bytes, What::Argument).unwrap_err();
    assert!(err.detail().contains("not self-describing"), "{err}");
}
