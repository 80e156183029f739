//! A pool whose workers all read one large table: frozen (sealed read-only), it is mapped
//! once by each worker through the pool's initializer, and read in place by every task —
//! no copy per task, no lock. Replacement workers get it too.
//!
//! Python twin: `multiprocessing.Array` (or `shared_memory.SharedMemory`) handed to
//! `Pool(initializer=..., initargs=(table,))`.
//!
//! Run: `cargo run --release --example shared_array_table`

use std::sync::OnceLock;

use multiproc::Pool;
use multiproc::sync::{Array, FrozenArray};

/// This worker's view of the table, set by the initializer.
static TABLE: OnceLock<FrozenArray<u32>> = OnceLock::new();

fn keep_table(table: FrozenArray<u32>) {
    let _ = TABLE.set(table);
}

/// The task: how many primes the table marks below `n`.
fn primes_below(n: usize) -> usize {
    let table = TABLE.get().expect("the initializer ran");
    table[..n].iter().filter(|&&is_prime| is_prime == 1).count()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A sieve of Eratosthenes up to 10 million, computed once in the parent.
    let limit = 10_000_000;
    let mut sieve = vec![1u32; limit];
    (sieve[0], sieve[1]) = (0, 0);
    for i in 2..limit.isqrt() {
        if sieve[i] == 1 {
            (i * i..limit).step_by(i).for_each(|j| sieve[j] = 0);
        }
    }
    let table = Array::from_slice(&sieve)?.freeze().map_err(|(_, e)| e)?;
    println!(
        "table: {} entries ({} MiB), shared with every worker",
        table.len(),
        (limit * 4) >> 20
    );

    let pool = Pool::builder()
        .processes(2)
        .initializer(keep_table, table)
        .max_tasks_per_child(3) // replacements read the same table
        .build()?;
    let bounds = [10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];
    let counts = pool.chunksize(1).map(primes_below, bounds)?;
    for (n, count) in bounds.iter().zip(&counts) {
        println!("{count:>8} primes below {n}");
    }
    assert_eq!(counts, [4, 25, 168, 1229, 9592, 78498, 664579]);
    Ok(())
}
