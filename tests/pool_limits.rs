//! Per-worker limits under every start method: an allocation past the memory cap, a task
//! past its CPU time and a task out of descriptors each fail with
//! `TaskError::LimitExceeded` (never a bare `WorkerDied`), the worker is replaced and the
//! pool goes on; a worker whose resident memory ends a task above `max_memory_per_child`
//! delivers that task's value and is replaced; limits reach only the workers and
//! processes given them, never the parent.
//!
//! The recycling re-expresses billiard's `max_memory_per_child` (Celery's pool), rewritten.

use std::fs::File;
use std::time::Duration;

use multiproc::pool::RestartCause;
use multiproc::process::Limits;
use multiproc::{ExitStatus, Limit, Pool, Process, StartMethod, TaskError};

const METHODS: [StartMethod; 3] = [StartMethod::Fork, StartMethod::Spawn, StartMethod::ForkServer];

fn pool(
    method: StartMethod,
    limits: impl FnOnce(multiproc::PoolBuilder) -> multiproc::PoolBuilder,
) -> Pool {
    limits(Pool::builder().processes(1).start_method(method).core_dumps(false)).build().unwrap()
}

fn allocate(bytes: usize) -> usize {
    let v = vec![1u8; bytes];
    std::hint::black_box(&v).len()
}

fn abort(_: ()) {
    std::process::abort()
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

/// Spins until this thread has used `ms` of CPU time (`None`: for ever).
fn burn(ms: Option<u64>) -> u64 {
    let cpu = || {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    };
    let start = cpu();
    while ms.is_none_or(|ms| cpu() - start < Duration::from_millis(ms)) {
        std::hint::black_box(());
    }
    ms.unwrap_or(0)
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Opens `/dev/null` and never closes it, until the first failure, which it returns.
fn leak_files(_: ()) -> Result<(), std::io::Error> {
    loop {
        std::mem::forget(File::open("/dev/null")?);
    }
}

fn open_one(_: ()) -> Result<bool, std::io::Error> {
    File::open("/dev/null").map(|_| true)
}

fn missing_file(_: ()) -> Result<bool, std::io::Error> {
    File::open("/nonexistent/multiproc").map(|_| true)
}

/// Keeps `mib` MiB of touched memory for the rest of the worker's life; returns its pid.
fn leak_memory(mib: usize) -> u32 {
    std::mem::forget(vec![1u8; mib << 20]);
    std::process::id()
}

/// Soft limits of this process: address space, descriptors, core size.
fn rlimits(_: ()) -> [u64; 3] {
    [libc::RLIMIT_AS, libc::RLIMIT_NOFILE, libc::RLIMIT_CORE].map(|resource| {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `lim` is a valid, writable rlimit.
        assert_eq!(unsafe { libc::getrlimit(resource, &mut lim) }, 0);
        lim.rlim_cur
    })
}

#[test]
fn an_allocation_past_the_memory_cap_is_the_memory_limit_and_the_pool_goes_on() {
    for method in METHODS {
        let pool = pool(method, |b| b.memory_limit(256 << 20));
        let err = pool.apply(allocate, 1 << 30).unwrap_err();
        assert_eq!(
            err,
            TaskError::LimitExceeded {
                limit: Limit::Memory,
                configured: 256 << 20,
                observed: None
            },
            "{method:?}"
        );
        assert!(err.to_string().contains("memory limit of 256 MiB"), "{err}");
        assert_eq!(pool.apply(allocate, 64 << 20), Ok(64 << 20), "{method:?}: the pool goes on");
        // Another abort under the same cap is what it is: a death.
        let err = pool.apply(abort, ()).unwrap_err();
        assert!(
            matches!(
                err,
                TaskError::WorkerDied { status: Some(ExitStatus::Signal(libc::SIGABRT)), .. }
            ),
            "{method:?}: {err:?}"
        );
        assert_eq!(pool.apply(allocate, 1 << 20), Ok(1 << 20));
        let restarts = &pool.insights().workers[0].restarts;
        let memory = (RestartCause::LimitExceeded(Limit::Memory), 1);
        assert!(restarts.contains(&memory), "{method:?}: {restarts:?}");
        let abort = (RestartCause::Died(Some(ExitStatus::Signal(libc::SIGABRT))), 1);
        assert!(restarts.contains(&abort), "{method:?}: {restarts:?}");
    }
}

#[test]
fn a_task_past_its_cpu_time_is_the_cpu_limit_and_wall_time_does_not_count() {
    let limit = Duration::from_millis(100);
    for method in METHODS {
        let pool = pool(method, |b| b.cpu_time_limit(limit));
        let err = pool.apply(burn, None).unwrap_err();
        let TaskError::LimitExceeded { limit: Limit::CpuTime, configured, observed: Some(seen) } =
            err
        else {
            panic!("{method:?}: {err:?}")
        };
        assert_eq!(configured, limit.as_nanos() as u64);
        assert!(seen >= configured, "{method:?}: killed after {seen} ns of CPU time");
        // Per task: three tasks of 60 ms each run in one worker, 180 ms in all.
        let worker = pool.apply(pid, ()).unwrap();
        assert_eq!(pool.map(burn, [Some(60), Some(60), Some(60)]), Ok(vec![60, 60, 60]));
        assert_eq!(pool.apply(pid, ()), Ok(worker), "{method:?}: the worker lived on");
        // Sleeping is wall time, not CPU time.
        assert_eq!(pool.apply(nap, 300), Ok(300));
    }
}

#[test]
fn a_task_out_of_descriptors_is_the_open_files_limit_and_its_worker_retires() {
    for method in METHODS {
        let pool = pool(method, |b| b.open_files_limit(64));
        let before = pool.apply(pid, ()).unwrap();
        let err = pool.apply(leak_files, ()).unwrap_err();
        assert_eq!(
            err,
            TaskError::LimitExceeded { limit: Limit::OpenFiles, configured: 64, observed: None },
            "{method:?}"
        );
        assert_ne!(pool.apply(pid, ()), Ok(before), "{method:?}: the worker was replaced");
        assert_eq!(pool.apply(open_one, ()), Ok(true), "{method:?}: the new worker has room");
        // Any other failure of a file is the task's own.
        assert!(matches!(pool.apply(missing_file, ()), Err(TaskError::Failed(_))));
    }
}

#[test]
fn a_worker_over_max_memory_per_child_delivers_its_task_then_is_replaced() {
    for method in METHODS {
        let pool = pool(method, |b| b.max_memory_per_child(64 << 20));
        let small = pool.apply(leak_memory, 1).unwrap();
        assert_eq!(pool.apply(pid, ()), Ok(small), "{method:?}: under the threshold it stays");
        let leaky = pool.apply(leak_memory, 100).unwrap();
        assert_eq!(leaky, small, "{method:?}: the task over the threshold ran and delivered");
        let next = pool.apply(pid, ()).unwrap();
        assert_ne!(next, leaky, "{method:?}: the next task runs in a fresh worker");
        let restarts = &pool.insights().workers[0].restarts;
        assert_eq!(restarts, &[(RestartCause::Recycled, 1)], "{method:?}: insights count it");
        // Over the threshold in a map: every value is delivered, whatever the recycling.
        let pool = Pool::builder().processes(2).start_method(method).max_memory_per_child(64 << 20);
        let pool = pool.build().unwrap();
        let pids = pool.map(leak_memory, [40; 8]).unwrap();
        assert_eq!(pids.len(), 8);
        let distinct: std::collections::HashSet<_> = pids.iter().collect();
        assert!(distinct.len() >= 3, "{method:?}: workers were replaced: {pids:?}");
    }
}

#[test]
fn limits_reach_only_the_workers_and_processes_given_them() {
    let parent = rlimits(());
    for method in METHODS {
        let limited = pool(method, |b| b.memory_limit(1 << 30).open_files_limit(100));
        let [space, files, core] = limited.apply(rlimits, ()).unwrap();
        assert!((1 << 30..2 << 30).contains(&space), "{method:?}: {space}");
        assert_eq!((files, core), (100, 0), "{method:?}");
        let [space, _, core] = rlimits(());
        assert_eq!([space, core], [parent[0], parent[2]], "{method:?}: the parent keeps its own");
        let plain = Pool::builder().processes(1).start_method(method).build().unwrap();
        let [space, _, core] = plain.apply(rlimits, ()).unwrap();
        assert_eq!([space, core], [parent[0], parent[2]], "{method:?}: a pool without limits");

        let mut p = Process::new(rlimits, ()).with_limits(Limits::new().open_files(50)).unwrap();
        p.start().unwrap();
        assert_eq!(p.join().unwrap()[1], 50, "{method:?}");
        let mut p = Process::new(rlimits, ());
        p.start().unwrap();
        let [space, _, core] = p.join().unwrap();
        assert_eq!([space, core], [parent[0], parent[2]], "{method:?}: a process without limits");
    }
}

#[test]
fn a_process_past_its_cpu_time_dies_of_sigxcpu() {
    let mut p = Process::new(burn, None)
        .with_limits(Limits::new().cpu_time(Duration::from_millis(50)).core_dumps(false))
        .unwrap();
    p.start().unwrap();
    assert_eq!(p.join().unwrap_err().exit_status(), Some(ExitStatus::Signal(libc::SIGXCPU)));
}
