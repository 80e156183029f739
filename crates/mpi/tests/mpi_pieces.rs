//! Frames larger than the largest MPI message (MPI counts in `int`s: 2 GiB - 1 bytes)
//! cross in pieces, both ways. The limit is lowered for the test
//! (`MULTIPROC_MPI_MAX_MESSAGE`), so that small payloads take the path a 2.2 GiB one
//! takes under the real limit.

mod common;

use std::time::Duration;

use multiproc::Bytes;

/// The lowered limit: odd, so pieces do not line up with anything.
const LIMIT: usize = 4093;

fn echo(b: Bytes) -> Bytes {
    b
}

fn len(b: Bytes) -> u64 {
    b.len() as u64
}

fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// Bytes that tell a misplaced piece from a right one.
fn pattern(n: usize, seed: u8) -> Bytes {
    Bytes::from((0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<_>>())
}

#[test]
fn payloads_above_the_message_limit_travel_in_pieces() {
    const TEST: &str = "payloads_above_the_message_limit_travel_in_pieces";
    if common::in_job() {
        assert_eq!(std::env::var(multiproc_mpi::MAX_MESSAGE_ENV).as_deref(), Ok("4093"));
        let world = multiproc_mpi::init().unwrap();
        let pool = world.pool().unwrap();
        let sizes = [0, 1, LIMIT - 1, LIMIT, LIMIT + 1, 3 * LIMIT + 5, (1 << 20) + 3];
        let blobs: Vec<Bytes> =
            sizes.iter().enumerate().map(|(i, &n)| pattern(n, i as u8)).collect();
        // One payload a frame, then several (a frame of many parts), both ways.
        for chunksize in [1, 3] {
            assert_eq!(pool.chunksize(chunksize).map(echo, blobs.clone()).unwrap(), blobs);
        }
        let lens: Vec<u64> = sizes.iter().map(|&n| n as u64).collect();
        assert_eq!(pool.chunksize(2).map(len, blobs.clone()).unwrap(), lens);
        // Many small items: frames whose tables alone pass the limit.
        let xs: Vec<u64> = (0..20_000).collect();
        let serial: Vec<u64> = xs.iter().map(|&x| square(x)).collect();
        assert_eq!(pool.chunksize(5_000).map(square, xs).unwrap(), serial);
        println!("pieces: every payload came back whole");
        return;
    }
    let limit = LIMIT.to_string();
    let env = [(multiproc_mpi::MAX_MESSAGE_ENV, limit.as_str())];
    let job = common::launch_with(TEST, 3, Duration::from_secs(90), &env);
    job.assert_success();
    assert!(job.stdout().contains("pieces: every payload came back whole"), "{}", job.stdout());
}
