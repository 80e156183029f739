//! The Pool API over MPI ranks: every test runs on rank 0 of a 3-rank job (2 workers).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use multiproc::{Bytes, TaskError};
use multiproc_mpi::MpiError;
use proptest::prelude::*;

fn square(x: u64) -> u64 {
    x * x
}

fn pid(_: u32) -> u32 {
    std::process::id()
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn fail_on_13(x: u64) -> u64 {
    assert!(x != 13, "unlucky {x}");
    x
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn echo(b: Bytes) -> Bytes {
    b
}

mpi_test! {
    /// map, imap, imap_unordered, starmap, apply, apply_async and map_async return the
    /// serial results, for several chunk sizes.
    fn map_and_friends_equal_serial(world) {
        let pool = world.pool().unwrap();
        let xs: Vec<u64> = (0..1000).collect();
        let serial: Vec<u64> = xs.iter().map(|&x| square(x)).collect();
        assert_eq!(pool.map(square, xs.clone()).unwrap(), serial);
        for chunksize in [1, 7, 64, 1000] {
            let chunked = pool.chunksize(chunksize);
            assert_eq!(chunked.map(square, xs.clone()).unwrap(), serial);
            let ordered: Vec<u64> =
                chunked.imap(square, xs.clone()).unwrap().map(Result::unwrap).collect();
            assert_eq!(ordered, serial);
            let mut unordered: Vec<u64> =
                chunked.imap_unordered(square, xs.clone()).unwrap().map(Result::unwrap).collect();
            unordered.sort_unstable();
            assert_eq!(unordered, serial);
        }
        let pairs: Vec<(u64, u64)> = (0..50).map(|i| (i, 2 * i)).collect();
        assert_eq!(pool.starmap(add, pairs).unwrap(), (0..50).map(|i| 3 * i).collect::<Vec<_>>());
        assert_eq!(pool.apply(square, 12).unwrap(), 144);
        assert_eq!(pool.apply_async(square, 5).unwrap().get().unwrap(), 25);
        assert_eq!(pool.map_async(square, vec![1, 2, 3]).unwrap().get().unwrap(), [1, 4, 9]);
        assert_eq!(pool.map(square, Vec::<u64>::new()).unwrap(), Vec::<u64>::new());
    }
}

mpi_test! {
    /// Property: for any input and chunk size, map over ranks equals the serial map.
    fn map_equals_serial_for_any_input(world) {
        let pool = world.pool().unwrap();
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
        runner
            .run(&(prop::collection::vec(any::<u64>(), 0..300), 1usize..50), |(xs, chunksize)| {
                let wrapped = |x: u64| x.wrapping_mul(x);
                let serial: Vec<u64> = xs.iter().map(|&x| wrapped(x)).collect();
                let got = pool.chunksize(chunksize).map(|x: u64| x.wrapping_mul(x), xs).unwrap();
                prop_assert_eq!(got, serial);
                Ok(())
            })
            .unwrap();
    }
}

mpi_test! {
    /// Tasks run on the worker ranks — every one of them — and never on rank 0.
    fn tasks_run_on_every_worker_rank(world) {
        let pool = world.pool().unwrap();
        let expected: BTreeSet<u32> = world.workers().iter().map(|w| w.pid).collect();
        assert_eq!(expected.len(), 2);
        let seen: BTreeSet<u32> =
            pool.chunksize(1).map(|_: u32| { std::thread::sleep(Duration::from_millis(20)); std::process::id() }, 0..40).unwrap().into_iter().collect();
        assert_eq!(seen, expected);
        assert!(!seen.contains(&std::process::id()));
        assert_eq!(pool.map(pid, 0..2).unwrap().len(), 2);
    }
}

mpi_test! {
    /// A panicking task fails only its own item (message and location included); the
    /// other items of its chunk arrive, and the pool goes on.
    fn a_panicking_task_fails_only_its_item(world) {
        let pool = world.pool().unwrap();
        let results = pool.chunksize(10).map_results(fail_on_13, 0..30u64).unwrap();
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, i as u64),
                Err(TaskError::Panicked(p)) => {
                    assert_eq!(i, 13);
                    assert!(p.message.contains("unlucky 13"), "{p:?}");
                    assert!(p.to_string().contains("mpi_pool.rs"), "{p:?}");
                }
                Err(other) => panic!("item {i}: {other}"),
            }
        }
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert!(matches!(pool.map(fail_on_13, 10..20).unwrap_err(), TaskError::Panicked(_)));
        assert_eq!(pool.map(square, 0..4).unwrap(), [0, 1, 4, 9]);
    }
}

mpi_test! {
    /// Large arguments and results travel both ways at once without deadlock (each rank
    /// holds two 4 MiB batches while sending 4 MiB results).
    fn large_payloads_round_trip(world) {
        let pool = world.pool().unwrap();
        let blobs: Vec<Bytes> = (0..8u8).map(|i| Bytes::from(vec![i; 4 << 20])).collect();
        let back = pool.chunksize(1).map(echo, blobs.clone()).unwrap();
        assert_eq!(back, blobs);
    }
}

fn greet(word: String) -> Result<(), String> {
    if word == "fail" { Err("the database is down".into()) } else { Ok(()) }
}

mpi_test! {
    /// An initializer runs on every rank; a failing one fails the tasks with its own
    /// error within seconds, and the ranks serve the next pool.
    fn initializers_run_and_fail_clearly(world) {
        let pool = world.builder().initializer(greet, "hello".to_string()).pool().unwrap();
        assert_eq!(pool.map(square, 0..10).unwrap().len(), 10);
        drop(pool);
        let pool = world.builder().initializer(greet, "fail".to_string()).pool().unwrap();
        let started = std::time::Instant::now();
        match pool.map(square, 0..10) {
            Err(TaskError::InitializerFailed(why)) => assert!(why.contains("database is down"), "{why}"),
            other => panic!("expected the initializer's error, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(20));
        drop(pool);
        assert_eq!(world.pool().unwrap().map(square, 0..3).unwrap(), [0, 1, 4]);
    }
}

mpi_test! {
    /// One pool at a time; `terminate` with work queued and running fails it all as
    /// cancelled, and the next pool gets its own results, never stale ones.
    fn terminate_then_a_fresh_pool(world) {
        let pool = world.pool().unwrap();
        assert_eq!(world.pool().unwrap_err(), MpiError::Busy);
        let pending = pool.chunksize(1).map_async(sleep_ms, vec![300; 20]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        pool.terminate();
        assert_eq!(pending.get().unwrap_err(), TaskError::Cancelled);
        pool.join().unwrap();
        drop(pool);
        let pool = world.pool().unwrap();
        assert_eq!(pool.chunksize(1).map(square, 0..20).unwrap(), (0..20).map(square).collect::<Vec<_>>());
    }
}

fn nap_then_pid(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

mpi_test! {
    /// Two pools at once over disjoint ranks (`split`), each running only on its own; a
    /// rank serves one pool at a time; a pool over a group of ranks (the twin of
    /// `MPICommExecutor(comm)`).
    fn two_pools_at_once_over_split_ranks(world) {
        use mpi::traits::*;
        let halves = world.split(2);
        assert_eq!(halves, [vec![1], vec![2]]);
        let pid_of = |rank| world.workers().iter().find(|w| w.rank == rank).unwrap().pid;
        let left = world.builder().ranks(halves[0].clone()).pool().unwrap();
        let right = world.builder().ranks(halves[1].clone()).executor().unwrap();
        assert_eq!(world.pool().unwrap_err(), MpiError::Busy);
        assert_eq!(world.builder().ranks([2]).pool().unwrap_err(), MpiError::Busy);
        assert_eq!(world.builder().ranks([0]).pool().unwrap_err(), MpiError::NoSuchRank(0));
        // The left pool busy with a slow map while the right one serves submits.
        let slow = left.chunksize(1).map_async(nap_then_pid, vec![50; 6]).unwrap();
        for _ in 0..20 {
            assert_eq!(right.submit(pid, 0).unwrap().result().unwrap(), pid_of(2));
        }
        assert_eq!(slow.get().unwrap(), vec![pid_of(1); 6]);
        drop(left);
        drop(right);
        let group = mpi::topology::SimpleCommunicator::world().group().include(&[0, 2]);
        let pool = world.builder().group(&group).pool().unwrap();
        assert_eq!(pool.map(pid, 0..10).unwrap(), vec![pid_of(2); 10]);
        let other = world.builder().ranks([1]).pool().unwrap();
        assert_eq!(other.map(pid, 0..4).unwrap(), vec![pid_of(1); 4]);
    }
}
