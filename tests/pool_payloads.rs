//! Large `Bytes` payloads cross a pool without being copied on arrival: a worker reads a
//! large argument in place in the frame it came in, the caller reads a large result in
//! place too, and everything stays correct when the caller holds on to many such results
//! (the shared-memory regions run out and frames travel through the socket instead) or
//! writes to one (it is copied out first). An argument larger than a frame holds (4 GiB)
//! is a typed error at the call, naming its size and the limit, and nothing is sent or
//! killed; a result that large comes back whole (answers are not framed). Under every
//! start method.

use multiproc::codec::{FRAME_LIMIT, TooLarge, What};
use multiproc::pool::{Pool, TaskError};
use multiproc::{Bytes, StartMethod};

mod common;
use common::{pool, serial};

/// Whether the argument arrived shared, its length and a checksum.
fn inspect(buf: Bytes) -> (bool, usize, u64) {
    (buf.is_shared(), buf.len(), checksum(&buf))
}

/// The argument, sent back.
fn echo(buf: Bytes) -> Bytes {
    buf
}

/// The argument with its first byte changed (a write to a shared buffer copies it).
fn bump_first(mut buf: Bytes) -> Bytes {
    if let Some(b) = buf.first_mut() {
        *b = b.wrapping_add(1);
    }
    buf
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().enumerate().map(|(i, &b)| (i as u64 + 1) * u64::from(b)).sum()
}

fn payload(len: usize, seed: u8) -> Bytes {
    Bytes::from((0..len).map(|i| (i % 251) as u8 ^ seed).collect::<Vec<u8>>())
}

#[test]
fn a_large_argument_is_read_in_place_and_a_small_one_is_copied() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        for (len, shared) in [(4 << 20, true), (1 << 20, true), (100, false), (0, false)] {
            let buf = payload(len, 3);
            let expected = (shared, len, checksum(&buf));
            assert_eq!(pool.apply(inspect, buf).unwrap(), expected, "{method}: {len} bytes");
        }
    }
}

#[test]
fn a_large_result_is_read_in_place_by_the_caller() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let sent = payload(3 << 20, 5);
        let back = pool.apply(echo, sent.clone()).unwrap();
        assert!(back.is_shared(), "{method}");
        assert_eq!(back, sent, "{method}");
        let small = pool.apply(echo, payload(10, 5)).unwrap();
        assert!(!small.is_shared(), "{method}");
    }
}

#[test]
fn many_held_results_stay_correct() {
    // Results the caller keeps hold the frames they arrived in: once a worker's regions
    // are all held, its frames go through the socket, and nothing is lost or mixed up.
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let sent: Vec<Bytes> = (0..24).map(|i| payload((1 << 20) + i * 4099, i as u8)).collect();
        for chunksize in [1, 3] {
            let back = pool.chunksize(chunksize).map(echo, sent.clone()).unwrap();
            assert_eq!(back, sent, "{method}, chunksize {chunksize}");
            let mut lazy: Vec<Bytes> = Vec::new();
            for r in pool.chunksize(chunksize).imap(echo, sent.clone()).unwrap() {
                lazy.push(r.unwrap());
            }
            assert_eq!(lazy, sent, "{method}, imap, chunksize {chunksize}");
        }
    }
}

#[test]
fn writing_to_a_shared_buffer_copies_it_first() {
    let _serial = serial();
    let pool = Pool::new(1).unwrap();
    let sent = payload(2 << 20, 9);
    let mut back = pool.apply(bump_first, sent.clone()).unwrap();
    let mut expected = sent.clone().into_vec();
    expected[0] = expected[0].wrapping_add(1);
    assert_eq!(&back[..], &expected[..], "the worker's write");
    let keep = back.clone();
    back.as_mut_vec().push(1);
    assert!(!back.is_shared());
    assert_eq!(keep.len() + 1, back.len(), "a clone does not see the write");
    assert_eq!(&keep[..], &expected[..]);
}

/// Its length.
fn length(buf: Bytes) -> u64 {
    buf.len() as u64
}

/// A buffer of zeros `len` bytes long (the pages are mapped, never touched).
fn zeros(len: u64) -> Bytes {
    Bytes::from(vec![0u8; usize::try_from(len).unwrap()])
}

#[test]
fn an_argument_over_the_frame_limit_is_a_typed_error_at_the_call() {
    let _serial = serial();
    let huge = zeros(FRAME_LIMIT + 1);
    for method in StartMethod::ALL {
        let pool = pool(method);
        let err = pool.apply(length, huge.clone()).unwrap_err();
        let TaskError::TooLarge(TooLarge { what, size, limit }) = err else {
            panic!("{method}: {err:?}")
        };
        assert_eq!((what, limit), (What::Argument, FRAME_LIMIT), "{method}");
        assert!(size > FRAME_LIMIT, "{method}: {size}");
        assert!(err.to_string().contains("a frame holds at most"), "{method}: {err}");
        // Among other items, only that one fails; the pool goes on.
        let got = pool.map_results(length, [zeros(3), huge.clone(), zeros(5)]).unwrap();
        assert_eq!(got[0], Ok(3), "{method}");
        assert!(matches!(got[1], Err(TaskError::TooLarge(_))), "{method}");
        assert_eq!(got[2], Ok(5), "{method}");
    }
}

#[test]
fn a_result_over_the_frame_limit_comes_back_whole() {
    let _serial = serial();
    let pool = pool(StartMethod::ForkServer);
    let len = FRAME_LIMIT + 16;
    let got = pool.apply(zeros, len).unwrap();
    assert_eq!(got.len() as u64, len);
    assert!(got.is_shared(), "read in place where it arrived");
}
