//! The ring against a model (a `VecDeque`), including producers and consumers that die
//! before they commit, and a producer and a consumer running at once.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

const HDR: usize = 0;
const DATA: usize = 4096;

fn ring_of(cap: usize) -> Mapping {
    Mapping::anonymous(c"ring-test", DATA + cap).unwrap()
}

/// Puts one item; commits unless `commit` is false (the producer died first).
fn put(ring: &Ring<'_>, item: &[u8], commit: bool) -> bool {
    let (mut t, h) = (ring.tail(), ring.head());
    let (a, b) = item.split_at(item.len() / 3);
    let ok = ring.push(&mut t, &h, true, ITEM, 0, &[a, b]);
    if ok && commit {
        ring.commit_tail(&t);
    }
    ok
}

/// Takes one item; commits unless `commit` is false (the consumer died first).
fn get(ring: &Ring<'_>, commit: bool) -> Option<Vec<u8>> {
    let (mut h, t) = (ring.head(), ring.tail());
    let found = ring.peek(&h, t.puts).expect("well formed")?;
    let mut out = Vec::new();
    ring.read(&found, &mut out);
    let end = ring.advance(&mut h, &found);
    if commit {
        ring.commit_head(&h);
        if let Some(end) = end {
            ring.release(end, &ring.tail(), &h);
        }
    }
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
    prop::collection::vec(op, 1..400)
}

proptest! {
    #[test]
    fn the_ring_is_a_fifo_even_when_holders_die_before_committing(ops in ops()) {
        let cap = 64 << 10;
        let map = ring_of(cap);
        let ring = Ring::at(&map, HDR, DATA, cap);
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Put(n, commit) => {
                    let item = payload(n, i as u8);
                    if put(&ring, &item, commit) {
                        if commit {
                            model.push_back(item);
                        }
                    } else {
                        // An empty ring always has room (a slow consumer may leave the
                        // producer waiting with room below its position: see `place`).
                        prop_assert!(!model.is_empty(), "an empty ring refused {n} bytes");
                    }
                }
                Op::Get(commit) => {
                    let got = get(&ring, commit);
                    if commit {
                        prop_assert_eq!(got, model.pop_front());
                    } else {
                        prop_assert_eq!(got.as_ref(), model.front());
                    }
                }
            }
            prop_assert_eq!(ring.count_hint(), model.len() as u64);
        }
        while let Some(front) = model.pop_front() {
            prop_assert_eq!(get(&ring, true), Some(front));
        }
        prop_assert_eq!(get(&ring, true), None);
    }
}

#[test]
fn a_stalled_consumer_lets_the_ring_grow_past_its_lap() {
    let cap = 64 << 20;
    let map = ring_of(cap);
    let ring = Ring::at(&map, HDR, DATA, cap);
    let mut model = VecDeque::new();
    // The consumer keeps up for a while (the producer wraps early), then stalls: the
    // producer fills below the consumer, jumps above its lap, and goes on.
    for round in 0..100_000u32 {
        let item = round.to_le_bytes().repeat(64);
        assert!(put(&ring, &item, true), "no room at item {round}");
        model.push_back(item);
        if round < 10_000 && round % 2 == 0 {
            assert_eq!(get(&ring, true), model.pop_front());
        }
    }
    assert!(model.len() * 264 > (WARM as usize) * 16);
    while let Some(front) = model.pop_front() {
        assert_eq!(get(&ring, true), Some(front));
    }
    assert_eq!(ring.count_hint(), 0);
}

#[test]
fn a_producer_and_a_consumer_at_once_keep_the_order() {
    let cap = 1 << 20;
    let map = ring_of(cap);
    let ring = Ring::at(&map, HDR, DATA, cap);
    let n = 200_000u32;
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..n {
                let item = i.to_le_bytes().repeat(1 + (i % 37) as usize);
                while !put(&ring, &item, true) {
                    std::hint::spin_loop();
                }
            }
        });
        s.spawn(|| {
            for i in 0..n {
                let got = loop {
                    if let Some(got) = get(&ring, true) {
                        break got;
                    }
                    std::hint::spin_loop();
                };
                assert_eq!(got, i.to_le_bytes().repeat(1 + (i % 37) as usize));
            }
        });
    });
}

#[test]
fn posted_entries_carry_their_id_and_garbage_is_reported() {
    let cap = 1 << 16;
    let map = ring_of(cap);
    let ring = Ring::at(&map, HDR, DATA, cap);
    let (mut t, h) = (ring.tail(), ring.head());
    assert!(ring.push(&mut t, &h, true, POSTED, 42, &[b"abc"]));
    ring.commit_tail(&t);
    let found = ring.peek(&ring.head(), ring.tail().puts).unwrap().unwrap();
    assert_eq!((found.tag, found.post, found.len), (POSTED, 42, 3));
    map.u64_at(DATA).store(u64::MAX, Ordering::Relaxed);
    assert!(ring.peek(&ring.head(), ring.tail().puts).is_err());
}
