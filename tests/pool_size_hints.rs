//! `imap`, `imap_unordered` and the executor's `map` know their length when their input
//! does (`ExactSizeIterator`), so indicatif's `ProgressIterator` shows a bar over them
//! unchanged — the Rust twin of `tqdm(pool.imap(f, xs), total=len(xs))`. (A range of
//! `u64` is not an `ExactSizeIterator` in std, so these use `u32` ranges and vectors.)

use indicatif::ProgressIterator;
use multiproc::{MapOptions, Pool, ProcessPoolExecutor};

fn square(x: u32) -> u64 {
    u64::from(x) * u64::from(x)
}

#[test]
fn imap_counts_down_from_the_inputs_length() {
    let pool = Pool::new(2).unwrap();
    for ordered in [true, false] {
        let mut it = match ordered {
            true => pool.imap(square, 0..100u32).unwrap(),
            false => pool.chunksize(7).imap_unordered(square, 0..100u32).unwrap(),
        };
        assert_eq!(it.size_hint(), (100, Some(100)));
        let mut left = 100;
        while let Some(r) = it.next() {
            r.unwrap();
            left -= 1;
            assert_eq!(it.len(), left, "ordered: {ordered}");
        }
        assert_eq!(left, 0);
    }
}

#[test]
fn an_input_of_unknown_length_gives_bounds() {
    let pool = Pool::new(2).unwrap();
    let it = pool.imap(square, (0..100u32).filter(|x| x % 2 == 0)).unwrap();
    assert_eq!(it.size_hint(), (0, Some(100)));
    assert_eq!(it.count(), 50);
}

#[test]
fn indicatif_progress_works_unchanged() {
    let pool = Pool::new(2).unwrap();
    let it = pool.imap_unordered(square, 0..50u32).unwrap().progress();
    let bar = it.progress.clone();
    assert_eq!(bar.length(), Some(50), "the bar knows the length");
    assert_eq!(it.map(Result::unwrap).count(), 50);
    assert_eq!(bar.position(), 50);

    let ex = ProcessPoolExecutor::new(2).unwrap();
    let opts = MapOptions::default().chunksize(4);
    let it = ex.map_with(square, vec![1u32, 2, 3, 4, 5], opts).unwrap().progress();
    let bar = it.progress.clone();
    assert_eq!(bar.length(), Some(5));
    assert_eq!(it.map(Result::unwrap).sum::<u64>(), 55);
    assert_eq!(bar.position(), 5);
}
