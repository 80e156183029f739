//! The ring against a model (a `VecDeque`), including producers and consumers that die
//! before they commit.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

const HDR: usize = 0;
const DATA: usize = 4096;

fn ring_of(cap: usize) -> Mapping {
    let map = Mapping::anonymous(c"ring-test", DATA + cap).unwrap();
    Ring::at(&map, HDR, DATA, cap).init();
    map
}

fn pop(ring: &Ring<'_>, st: &mut State) -> Option<Vec<u8>> {
    let found = ring.peek(st).expect("well formed")?;
    let mut out = Vec::new();
    ring.read(&found, &mut out);
    let freed = ring.advance(st, &found);
    ring.release(freed);
    Some(out)
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| seed.wrapping_add(i as u8)).collect()
}

#[derive(Debug, Clone)]
enum Op {
    /// Put an item of this size, committed or not (the producer dies before committing).
    Put(usize, bool),
    /// Get one item, committed or not.
    Get(bool),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (0usize..3000, prop::bool::weighted(0.9)).prop_map(|(n, c)| Op::Put(n, c)),
        3 => prop::bool::weighted(0.9).prop_map(Op::Get),
    ];
    prop::collection::vec(op, 1..300)
}

proptest! {
    #[test]
    fn the_ring_is_a_fifo_even_when_holders_die_before_committing(ops in ops()) {
        let cap = 64 << 10;
        let map = ring_of(cap);
        let ring = Ring::at(&map, HDR, DATA, cap);
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        for (i, op) in ops.into_iter().enumerate() {
            let mut st = ring.state();
            match op {
                Op::Put(n, commit) => {
                    let item = payload(n, i as u8);
                    let (a, b) = item.split_at(n / 3);
                    if ring.push(&mut st, ITEM, 0, &[a, b]).is_some() {
                        if commit {
                            ring.commit(&st);
                            model.push_back(item);
                        }
                    } else {
                        // Full: only when the bytes really run short.
                        let used: u64 = model.iter().map(|m| Ring::entry_size(m.len(), ITEM)).sum();
                        prop_assert!(used + Ring::entry_size(n, ITEM) > (cap as u64) / 2, "full at {used} bytes");
                    }
                }
                Op::Get(commit) => {
                    let got = pop(&ring, &mut st);
                    if commit {
                        ring.commit(&st);
                        prop_assert_eq!(got, model.pop_front());
                    } else {
                        prop_assert_eq!(got.as_ref(), model.front());
                    }
                }
            }
            prop_assert_eq!(ring.state().count, model.len() as u64);
            prop_assert_eq!(ring.count_hint(), model.len() as u64);
        }
        let mut st = ring.state();
        while let Some(front) = model.pop_front() {
            prop_assert_eq!(pop(&ring, &mut st), Some(front));
        }
        prop_assert_eq!(pop(&ring, &mut st), None);
    }
}

#[test]
fn a_stalled_consumer_lets_the_ring_grow_and_compaction_keeps_the_order() {
    let cap = 64 << 20;
    let map = ring_of(cap);
    let ring = Ring::at(&map, HDR, DATA, cap);
    let mut st = ring.state();
    // Fill past the warm size with the consumer keeping up half the time, so that the
    // producer wraps early, then stall the consumer until the ring must compact.
    let mut model = VecDeque::new();
    let mut next = 0u32;
    for round in 0..40_000u32 {
        let item = next.to_le_bytes().repeat(64);
        ring.push(&mut st, ITEM, 0, &[&item]).expect("room");
        model.push_back(item);
        next += 1;
        if round < 5_000 && round % 2 == 0 {
            assert_eq!(pop(&ring, &mut st), model.pop_front());
        }
        ring.commit(&st);
    }
    assert!(model.len() * 264 > (WARM as usize) * 8);
    while let Some(front) = model.pop_front() {
        assert_eq!(pop(&ring, &mut st), Some(front));
    }
    ring.commit(&st);
    assert_eq!(ring.state().count, 0);
}

#[test]
fn posted_entries_carry_their_id_and_garbage_is_reported() {
    let cap = 1 << 16;
    let map = ring_of(cap);
    let ring = Ring::at(&map, HDR, DATA, cap);
    let mut st = ring.state();
    ring.push(&mut st, POSTED, 42, &[b"abc"]).unwrap();
    let found = ring.peek(&st).unwrap().unwrap();
    assert_eq!((found.tag, found.post, found.len), (POSTED, 42, 3));
    map.u64_at(DATA).store(u64::MAX, Ordering::Relaxed);
    assert!(ring.peek(&st).is_err());
}
