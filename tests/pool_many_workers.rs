//! Hundreds of workers within the common default descriptor limit: a pool's parent holds
//! at most three descriptors per worker and raises its soft `RLIMIT_NOFILE` toward the
//! hard one when a pool needs it; a hard limit too low for the pool is a typed error that
//! names the resource, the count and the fix. Each case runs in a child process whose
//! limits it sets (soft and hard), so the test's own process keeps its limits.

use multiproc::{Pool, PoolError, Process};

fn set_open_files(n: u64) {
    let lim = libc::rlimit { rlim_cur: n, rlim_max: n };
    // SAFETY: `lim` is a valid rlimit, only read by the call.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Under soft and hard limits of 1024: starts `Pool(300)`, waits for every worker, maps
/// over it; returns the sum and the descriptors the workers cost.
fn three_hundred(_: ()) -> (u64, usize) {
    set_open_files(1024);
    let before = open_descriptors();
    let pool = Pool::new(300).unwrap();
    let squares = pool.map(|x: u64| x * x, 0..3000).unwrap();
    let t = std::time::Instant::now();
    while pool.worker_pids().len() < 300 {
        assert!(t.elapsed() < std::time::Duration::from_secs(120), "the workers never all started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let cost = open_descriptors() - before;
    (squares.iter().sum(), cost)
}

#[test]
fn three_hundred_workers_run_under_a_hard_limit_of_1024_descriptors() {
    let mut p = Process::new(three_hundred, ());
    p.start().unwrap();
    let (sum, cost) = p.join().unwrap();
    assert_eq!(sum, (0..3000u64).map(|x| x * x).sum::<u64>());
    // The fork server and the liveness pipe are the pool's, not per worker.
    assert!(cost <= 3 * 300 + 8, "{cost} descriptors for 300 workers");
}

fn too_many(_: ()) -> String {
    set_open_files(256);
    match Pool::new(300) {
        Err(
            e @ PoolError::Exhausted {
                resource: "open file descriptors",
                needed: Some(n),
                limit: Some(256),
            },
        ) if n > 900 => e.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_hard_limit_too_low_for_the_pool_is_a_typed_error_naming_the_fix() {
    let mut p = Process::new(too_many, ());
    p.start().unwrap();
    let message = p.join().unwrap();
    assert!(message.contains("not enough open file descriptors"), "{message}");
    assert!(message.contains("the hard limit is 256"), "{message}");
    assert!(message.contains("ulimit -Hn"), "{message}");
}
