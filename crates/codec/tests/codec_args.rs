//! Arguments encoded once and framed at send (`ArgsBuf`, `Args`, `TaskFramer`): for any
//! mix of small items and large payloads kept by reference, any cut of the items into
//! slices, and any list of those slices, the frame carries exactly the slices' items, in
//! order, byte for byte as a plain encode writes them; the large payloads are the
//! caller's own buffers, not copies; an item that takes the payload past a limit is taken
//! back whole; and a frame over the 32-bit limit is a typed error.

use multiproc_codec::{
    ArgsBuf, Bytes, FRAME_LIMIT, FnId, Frame, TaskFramer, TooLarge, TypeFingerprint, What, encode,
    parse,
};
use proptest::collection::vec;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Item {
    Small(u64),
    Text(String),
    Payload(Bytes),
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => any::<u64>().prop_map(Item::Small),
        2 => ".{0,12}".prop_map(Item::Text),
        1 => (prop_oneof![Just(100usize), (60usize << 10)..(70 << 10)], any::<u8>())
            .prop_map(|(len, seed)| Item::Payload(Bytes::from(vec![seed; len]))),
    ]
}

fn encode_item(item: &Item, out: &mut Vec<u8>) -> Result<(), multiproc_codec::CodecError> {
    match item {
        Item::Small(x) => encode(x, What::Argument, out),
        Item::Text(s) => encode(s, What::Argument, out),
        Item::Payload(b) => encode(b, What::Argument, out),
    }
}

fn plain(item: &Item) -> Vec<u8> {
    let mut out = Vec::new();
    encode_item(item, &mut out).unwrap();
    out
}

const FUNC: FnId = FnId { target: 11, trampoline: 22, types: TypeFingerprint(33), tag: 44 };

proptest! {
    #[test]
    fn framed_slices_carry_their_items_in_order(
        items in vec(item(), 1..40),
        cuts in vec(any::<prop::sample::Index>(), 0..6),
        picks in vec((any::<prop::sample::Index>(), any::<bool>()), 1..5),
        stamp in any::<u64>(),
        revocable in any::<bool>(),
    ) {
        let mut buf = ArgsBuf::new();
        for item in &items {
            buf.push_with(|out| encode_item(item, out)).unwrap();
        }
        prop_assert_eq!(buf.len(), items.len());
        let args = buf.finish();
        prop_assert!(buf.is_empty());
        // Cut the run into consecutive slices.
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(items.len() + 1)).collect();
        bounds.extend([0, items.len()]);
        bounds.sort_unstable();
        bounds.dedup();
        let slices: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        // A batch: some of the slices (repeats allowed), in the order picked.
        let mut chosen = Vec::new();
        let mut expected = Vec::new();
        for (pick, whole) in &picks {
            let (a, b) = slices[pick.index(slices.len())];
            let b = if *whole { b } else { a + (b - a) / 2 };
            chosen.push(args.slice(a..b));
            expected.extend(items[a..b].iter().map(plain));
        }
        let mut framer = TaskFramer::default();
        let parts = framer.frame(stamp, FUNC, revocable, &chosen).unwrap();
        let bytes = parts.concat();
        let Ok(Frame::Tasks(batch)) = parse(&bytes) else { panic!("a task frame") };
        prop_assert_eq!(batch.batch(), stamp);
        prop_assert_eq!(batch.func(), FUNC);
        prop_assert_eq!(batch.revocable(), revocable);
        let got: Vec<Vec<u8>> = batch.iter().map(<[u8]>::to_vec).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn an_item_past_the_limit_is_taken_back_whole(items in vec(item(), 2..20)) {
        let (last, kept) = items.split_last().expect("two items or more");
        let mut buf = ArgsBuf::new();
        for item in kept {
            buf.push_with(|out| encode_item(item, out)).unwrap();
        }
        let before = buf.payload_len();
        let size = plain(last).len() as u64;
        // At the limit it fits; one byte below, it is taken out.
        let over = buf.push_within(before + size - 1, |out| encode_item(last, out)).unwrap();
        prop_assert_eq!(over, Some(size));
        prop_assert_eq!((buf.len(), buf.payload_len()), (kept.len(), before));
        let args = buf.finish();
        let mut framer = TaskFramer::default();
        let bytes = framer.frame(1, FUNC, false, &[args]).unwrap().concat();
        let Ok(Frame::Tasks(batch)) = parse(&bytes) else { panic!("a task frame") };
        let got: Vec<Vec<u8>> = batch.iter().map(<[u8]>::to_vec).collect();
        let expected: Vec<Vec<u8>> = kept.iter().map(plain).collect();
        prop_assert_eq!(got, expected);
        let mut buf = ArgsBuf::new();
        prop_assert_eq!(buf.push_within(size, |out| encode_item(last, out)).unwrap(), None);
    }
}

#[test]
fn large_payloads_are_borrowed_not_copied() {
    let payload = Bytes::from(vec![9u8; 1 << 20]);
    let mut buf = ArgsBuf::new();
    buf.push_with(|out| encode(&1u8, What::Argument, out)).unwrap();
    buf.push_with(|out| encode(&payload, What::Argument, out)).unwrap();
    let args = [buf.finish()];
    let mut framer = TaskFramer::default();
    let parts = framer.frame(1, FUNC, false, &args).unwrap();
    assert!(parts.iter().any(|p| p.as_ptr() == payload.as_ptr() && p.len() == payload.len()));
}

#[test]
fn a_frame_over_the_limit_is_a_typed_error() {
    // Two slices of one store of a payload just over half the limit: each fits, both do not.
    let half = usize::try_from(FRAME_LIMIT / 2 + 1).unwrap();
    let payload = Bytes::from(vec![0u8; half]); // zeroed pages, never touched
    let mut buf = ArgsBuf::new();
    buf.push_with(|out| encode(&payload, What::Argument, out)).unwrap();
    let args = buf.finish();
    let mut framer = TaskFramer::default();
    let err = framer.frame(1, FUNC, false, &[args.clone(), args]).unwrap_err();
    assert_eq!(err.what, What::Argument);
    assert!(err.size > FRAME_LIMIT && err.limit == FRAME_LIMIT);
    assert!(matches!(err, TooLarge { .. }));
}
