//! Frames that keep large `Bytes` by reference (`FrameBuf::by_reference`) are the same
//! frames: for any mix of small items, large payloads, payloads inside structs and items
//! that fail halfway, their parts concatenated equal, byte for byte, the frame a plain
//! `FrameBuf` builds; the large payloads are the caller's own buffers, not copies; and a
//! plain `encode` into another buffer in the middle of an item copies as usual.

use multiproc_codec::{Bytes, FnId, FrameBuf, TypeFingerprint, What, encode, parse};
use proptest::collection::vec;
use proptest::prelude::*;
use serde::{Serialize, Serializer};

/// An item of a frame under test.
#[derive(Debug, Clone)]
enum Item {
    Small(u64),
    Payload(Bytes),
    /// A payload between other fields.
    Inside(u8, Bytes, String),
    /// Writes a large payload, then fails: rolled back.
    FailsAfter(Bytes),
}

/// Serializes its payload, then refuses.
struct FailsAfter<'a>(&'a Bytes);

impl Serialize for FailsAfter<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(self.0)?;
        Err(serde::ser::Error::custom("refused after the payload"))
    }
}

fn payload() -> impl Strategy<Value = Bytes> {
    // Around the 64 KiB from which payloads are kept by reference.
    (prop_oneof![Just(100usize), (60usize << 10)..(70 << 10), Just(300 << 10)], any::<u8>())
        .prop_map(|(len, seed)| Bytes::from(vec![seed; len]))
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        any::<u64>().prop_map(Item::Small),
        payload().prop_map(Item::Payload),
        (any::<u8>(), payload(), ".{0,8}").prop_map(|(a, b, c)| Item::Inside(a, b, c)),
        payload().prop_map(Item::FailsAfter),
    ]
}

/// Pushes `items` into `fb` (a result batch when `results`); failures are expected only
/// from `FailsAfter`.
fn build(fb: &mut FrameBuf, items: &[Item], results: bool) {
    if results {
        fb.begin_results(3);
    } else {
        fb.begin_tasks(3, FnId { target: 1, trampoline: 2, types: TypeFingerprint(3), tag: 4 });
    }
    for item in items {
        let what = What::Argument;
        let pushed = match item {
            Item::Small(x) => fb.push_with(|out| encode(x, what, out)),
            Item::Payload(b) => fb.push_with(|out| encode(b, what, out)),
            Item::Inside(a, b, c) => fb.push_with(|out| encode(&(a, b, c), what, out)),
            Item::FailsAfter(b) => fb.push_with(|out| encode(&FailsAfter(b), what, out)),
        };
        assert_eq!(pushed.is_err(), matches!(item, Item::FailsAfter(_)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn frames_by_reference_are_the_same_frames(items in vec(item(), 0..8), results in any::<bool>()) {
        let mut plain = FrameBuf::new();
        build(&mut plain, &items, results);
        let expected = plain.finish().to_vec();
        prop_assert!(parse(&expected).is_ok());

        let mut by_ref = FrameBuf::new().by_reference();
        build(&mut by_ref, &items, results);
        let parts = by_ref.finish_parts();
        prop_assert_eq!(parts.len(), expected.len());
        prop_assert_eq!(parts.to_vec(), expected.clone());
        // The large payloads of the items that were pushed are parts of their own: the
        // caller's buffers themselves.
        let kept: Vec<&Bytes> = items
            .iter()
            .filter_map(|i| match i {
                Item::Payload(b) | Item::Inside(_, b, _) if b.len() >= 64 << 10 => Some(b),
                _ => None,
            })
            .collect();
        let pointers: Vec<*const u8> = parts.iter().map(<[u8]>::as_ptr).collect();
        for b in &kept {
            prop_assert!(pointers.contains(&b.as_ptr()), "a payload of {} bytes was copied", b.len());
        }
        prop_assert_eq!(parts.contiguous().is_some(), kept.is_empty());

        // Owned, and in one piece: the same bytes again.
        build(&mut by_ref, &items, results);
        prop_assert_eq!(by_ref.finish_owned().parts().to_vec(), expected.clone());
        build(&mut by_ref, &items, results);
        prop_assert_eq!(by_ref.finish(), &expected[..]);
    }
}

/// Encodes its payload into a buffer of its own first, then serializes those bytes.
struct Nested(Bytes);

impl Serialize for Nested {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut inner = Vec::new();
        encode(&self.0, What::Argument, &mut inner).map_err(serde::ser::Error::custom)?;
        s.serialize_bytes(&inner)
    }
}

#[test]
fn a_plain_encode_inside_an_item_copies() {
    let payload = Bytes::from(vec![8u8; 100 << 10]);
    let mut plain = FrameBuf::new();
    plain.begin_results(1);
    plain.push_with(|out| encode(&Nested(payload.clone()), What::Result, out)).unwrap();
    let expected = plain.finish().to_vec();
    let mut by_ref = FrameBuf::new().by_reference();
    by_ref.begin_results(1);
    by_ref.push_with(|out| encode(&Nested(payload.clone()), What::Result, out)).unwrap();
    assert_eq!(by_ref.finish_parts().to_vec(), expected);
}
