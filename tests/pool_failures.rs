//! Failures under every start method, each one item's own and never the pool's: a panic
//! (message, location, backtrace; the worker lives on), a worker dying mid-`map` by
//! `exit(1)`, abort, SIGKILL or a segfault (only that item fails, naming the code or
//! signal; its chunk-mates still succeed), the per-task timeout (a panic is a panic
//! however short it is: writing up the backtrace is not the task's time), an initializer that
//! returns `Err` or panics (every task fails `InitializerFailed` with its message, no
//! hang), and values that cannot be encoded or decoded in either direction (an error
//! naming the type). The pool answers normally after each.
//!
//! Re-expressed from CPython's `Lib/test/_test_multiprocessing.py` (`_TestPool`:
//! `test_map_unplicklable`, `test_map_handle_iterable_exception`,
//! `test_async_error_callback`, `test_unpickleable_result`; `_TestPoolWorkerErrors`;
//! `_TestPoolWorkerLifetime`), rewritten: where CPython hangs or breaks the pool, here
//! only the one item fails.

use std::time::{Duration, Instant};

use multiproc::codec::{Op, What};
use multiproc::pool::{Pool, TaskError};
use multiproc::{ExitStatus, StartMethod};
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod common;
use common::{pool, serial, sleep_ms};

/// Generous bound for anything that should happen "soon": only a hang guard.
const GUARD: Duration = Duration::from_secs(5);

fn sqr(x: i64) -> i64 {
    x * x
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn panics_on_four(x: i64) -> i64 {
    if x == 4 {
        panic!("boom at {x}");
    }
    x * 10
}

/// `x * 10`, except for the special values that end the worker.
fn act(x: i64) -> i64 {
    match x {
        -1 => std::process::exit(1),
        -2 => std::process::abort(),
        -3 => {
            // SAFETY: raise has no memory-safety preconditions; the process ends here.
            unsafe { libc::raise(libc::SIGKILL) };
            unreachable!("SIGKILL is not survivable")
        }
        -4 => {
            // SAFETY: restoring the default action and raising a signal have no
            // memory-safety preconditions; the process dies of SIGSEGV here, as it would
            // on a wild pointer (the default action also bypasses any handler the runtime
            // installed for stack overflows).
            unsafe {
                libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                libc::raise(libc::SIGSEGV);
            }
            unreachable!("SIGSEGV with the default action is not survivable")
        }
        x => x * 10,
    }
}

/// The pool still answers normally.
fn assert_healthy(pool: &Pool, what: &str) {
    assert_eq!(pool.apply(sqr, 12), Ok(144), "{what}: apply afterwards");
    assert_eq!(pool.map(sqr, 0..40).unwrap(), (0..40).map(sqr).collect::<Vec<_>>(), "{what}");
}

#[test]
fn a_panicking_task_fails_alone_and_its_worker_lives_on() {
    let _serial = serial();
    for method in StartMethod::ALL {
        // One worker, so "the same worker" is observable by its pid.
        let pool = Pool::builder().processes(1).start_method(method).build().unwrap();
        let before = pool.apply(pid, ()).unwrap();
        let err = pool.apply(panics_on_four, 4).unwrap_err();
        let TaskError::Panicked(info) = &err else { panic!("{method}: {err:?}") };
        assert_eq!(info.message, "boom at 4", "{method}");
        let loc = info.location.as_ref().expect("a location");
        assert!(loc.file.ends_with("pool_failures.rs"), "{method}: {loc}");
        assert!(loc.line > 0, "{method}: {loc}");
        assert!(
            info.backtrace.contains("panics_on_four"),
            "{method}: backtrace:\n{}",
            info.backtrace
        );
        assert!(err.to_string().contains("boom at 4"), "{method}: {err}");
        assert_eq!(pool.apply(pid, ()), Ok(before), "{method}: the same worker answers");

        let got = pool.chunksize(3).map_results(panics_on_four, 0..9).unwrap();
        for (i, r) in got.iter().enumerate() {
            if i == 4 {
                assert_eq!(r.as_ref().unwrap_err().panic().unwrap().message, "boom at 4");
            } else {
                assert_eq!(*r, Ok(i as i64 * 10), "{method}: item {i}");
            }
        }
        // map reports the failure (the first by position).
        let err = pool.map(panics_on_four, 0..9).unwrap_err();
        assert_eq!(err.panic().unwrap().message, "boom at 4", "{method}");
        assert_eq!(pool.apply(pid, ()), Ok(before), "{method}: still the same worker");
        assert_healthy(&pool, &format!("{method}"));
    }
}

#[test]
fn a_worker_dying_mid_map_fails_only_its_item() {
    let _serial = serial();
    let deaths = [
        (-1, ExitStatus::Code(1), "exit(1)"),
        (-2, ExitStatus::Signal(libc::SIGABRT), "abort"),
        (-3, ExitStatus::Signal(libc::SIGKILL), "SIGKILL"),
        (-4, ExitStatus::Signal(libc::SIGSEGV), "segfault"),
    ];
    for method in StartMethod::ALL {
        let pool = pool(method);
        for (special, status, how) in deaths {
            for chunksize in [None, Some(1), Some(4)] {
                let mut xs: Vec<i64> = (0..40).collect();
                xs[17] = special; // in the middle of a chunk of 4 (16..20)
                let t = Instant::now();
                let got = match chunksize {
                    None => pool.map_results(act, xs.clone()),
                    Some(n) => pool.chunksize(n).map_results(act, xs.clone()),
                }
                .unwrap();
                assert!(t.elapsed() < GUARD, "{method} {how}: took {:?}", t.elapsed());
                for (i, r) in got.iter().enumerate() {
                    if i == 17 {
                        let err = r.as_ref().unwrap_err();
                        let TaskError::WorkerDied { status: got, worker } = err else {
                            panic!("{method} {how}: expected WorkerDied, got {err:?}")
                        };
                        assert_eq!(*got, Some(status), "{method} {how}");
                        assert!(!worker.is_empty(), "{method} {how}: names the worker");
                        assert!(err.is_worker_death());
                        assert!(
                            err.to_string().contains(&status.describe()),
                            "{method} {how}: {err}"
                        );
                    } else {
                        assert_eq!(*r, Ok(xs[i] * 10), "{method} {how} {chunksize:?}: item {i}");
                    }
                }
            }
            assert_healthy(&pool, &format!("{method} after {how}"));
        }
    }
}

#[test]
fn a_worker_dying_in_apply_fails_that_apply() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let err = pool.apply(act, -3).unwrap_err();
        let TaskError::WorkerDied { status, .. } = &err else { panic!("{method}: {err:?}") };
        assert_eq!(*status, Some(ExitStatus::Signal(libc::SIGKILL)), "{method}");
        // Several deaths at once, among other work.
        let pending: Vec<_> = [5, -1, 6, -2, 7, -3, 8, -4, 9]
            .into_iter()
            .map(|x| (x, pool.apply_async(act, x).unwrap()))
            .collect();
        for (x, r) in pending {
            match r.get_timeout(GUARD) {
                Ok(v) => assert_eq!(v, x * 10, "{method}"),
                Err(e) => assert!(x < 0, "{method}: {x} failed: {e}"),
            }
        }
        assert_healthy(&pool, &format!("{method}"));
    }
}

#[test]
fn a_task_past_the_timeout_fails_and_the_pool_goes_on() {
    let _serial = serial();
    let timeout = Duration::from_millis(1500);
    for method in StartMethod::ALL {
        let pool =
            Pool::builder().processes(2).start_method(method).timeout(timeout).build().unwrap();
        let mut xs = vec![0u64; 12];
        xs[5] = 600_000; // ten minutes
        let t = Instant::now();
        let got = pool.chunksize(3).map_results(sleep_ms, xs).unwrap();
        assert!(t.elapsed() < Duration::from_secs(15), "{method}: took {:?}", t.elapsed());
        for (i, r) in got.iter().enumerate() {
            if i == 5 {
                let err = r.as_ref().unwrap_err();
                let TaskError::TimedOut { after, .. } = err else {
                    panic!("{method}: expected TimedOut, got {err:?}")
                };
                assert_eq!(*after, timeout, "{method}");
                assert!(!err.is_worker_death(), "{method}: a timeout is not a death");
            } else {
                assert_eq!(*r, Ok(0), "{method}: item {i}");
            }
        }
        let r = pool.apply_async(sleep_ms, 600_000).unwrap();
        assert!(matches!(r.get(), Err(TaskError::TimedOut { .. })), "{method}");
        assert_healthy(&pool, &format!("{method} after a timeout"));
    }
}

#[test]
fn a_panic_is_reported_as_a_panic_however_short_the_timeout() {
    // Resolving a backtrace reads the binary's debug information the first time in a
    // process: far longer than this timeout in a test build. It is the report's time, not
    // the task's: each fresh worker's first panic must still come back `Panicked`.
    let _serial = serial();
    let timeout = Duration::from_millis(10);
    for method in StartMethod::ALL {
        let pool =
            Pool::builder().processes(2).start_method(method).timeout(timeout).build().unwrap();
        let got = pool.chunksize(1).map_results(panics_on_four, [4, 4, 1, 4]).unwrap();
        for (i, r) in got.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, 10, "{method}: item {i}"),
                Err(e) => {
                    let info = e.panic().unwrap_or_else(|| panic!("{method}: item {i}: {e:?}"));
                    assert!(info.backtrace.contains("panics_on_four"), "{method}: item {i}");
                }
            }
        }
        assert!(got[2].is_ok() && got.iter().filter(|r| r.is_err()).count() == 3, "{method}");
    }
}

fn no_database(_: ()) -> Result<(), String> {
    Err("no database".to_owned())
}

fn exploding_init(_: ()) {
    panic!("initializer exploded")
}

#[test]
fn a_failing_initializer_fails_tasks_clearly() {
    let _serial = serial();
    for method in StartMethod::ALL {
        for (bad, message) in [(true, "no database"), (false, "initializer exploded")] {
            let builder = Pool::builder().processes(2).start_method(method);
            let pool = if bad {
                builder.initializer(no_database, ()).build().unwrap()
            } else {
                builder.initializer(exploding_init, ()).build().unwrap()
            };
            let t = Instant::now();
            let err = pool.map(sqr, 0..20).unwrap_err();
            assert!(t.elapsed() < Duration::from_secs(10), "{method}: took {:?}", t.elapsed());
            let TaskError::InitializerFailed(text) = &err else {
                panic!("{method}: expected InitializerFailed, got {err:?}")
            };
            assert!(text.contains(message), "{method}: {text}");
            assert!(err.to_string().contains(message), "{method}: {err}");
            // Later submissions fail the same way, at once.
            let t = Instant::now();
            assert!(
                matches!(pool.apply(sqr, 1), Err(TaskError::InitializerFailed(ref m)) if m.contains(message)),
                "{method}"
            );
            let each = pool.map_results(sqr, 0..5).unwrap();
            assert!(each.iter().all(|r| matches!(r, Err(TaskError::InitializerFailed(_)))));
            let r = pool.apply_async(sqr, 2).unwrap();
            assert!(matches!(r.get_timeout(GUARD), Err(TaskError::InitializerFailed(_))));
            let got: Vec<_> = pool.imap(sqr, 0..3).unwrap().collect();
            assert_eq!(got.len(), 3);
            assert!(
                got.iter().all(|r| matches!(r, Err(TaskError::InitializerFailed(_)))),
                "{method}: {got:?}"
            );
            assert!(t.elapsed() < Duration::from_secs(10), "{method}");
            pool.close();
            pool.join().unwrap();
        }
    }
}

/// Serializes as an `i64`, except a negative value, which refuses to be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
struct Picky(i64);

impl Serialize for Picky {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 < 0 {
            return Err(S::Error::custom(format!("picky refuses {}", self.0)));
        }
        s.serialize_newtype_struct("Picky", &self.0)
    }
}

/// Encodes fine, never decodes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct Undecodable(i64);

impl<'de> Deserialize<'de> for Undecodable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _ = i64::deserialize(d)?;
        Err(D::Error::custom("undecodable by design"))
    }
}

fn picky_value(p: Picky) -> i64 {
    p.0 * 2
}

fn to_picky(x: i64) -> Picky {
    Picky(x)
}

fn to_undecodable(x: i64) -> Undecodable {
    Undecodable(x)
}

fn take_undecodable(u: Undecodable) -> i64 {
    u.0
}

#[test]
fn an_argument_that_cannot_be_encoded_fails_only_its_item() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let items: Vec<Picky> = [1, 2, -3, 4, 5, 6, -7, 8].map(Picky).to_vec();
        for chunksize in [1, 4] {
            let got = pool.chunksize(chunksize).map_results(picky_value, items.clone()).unwrap();
            for (i, (item, r)) in items.iter().zip(&got).enumerate() {
                if item.0 < 0 {
                    let Err(TaskError::Codec(e)) = r else {
                        panic!("{method}: item {i}: expected Encode, got {r:?}")
                    };
                    assert_eq!(e.op(), Op::Encode);
                    assert_eq!(e.what(), What::Argument);
                    assert!(e.type_name().contains("Picky"), "{method}: {e}");
                    assert!(e.to_string().contains("Picky"), "{method}: {e}");
                } else {
                    assert_eq!(*r, Ok(item.0 * 2), "{method} {chunksize}: item {i}");
                }
            }
            // Lazily too, at its position.
            let got: Vec<_> =
                pool.chunksize(chunksize).imap(picky_value, items.clone()).unwrap().collect();
            for (item, r) in items.iter().zip(&got) {
                assert_eq!(r.is_err(), item.0 < 0, "{method}: {r:?}");
            }
        }
        assert!(matches!(pool.apply(picky_value, Picky(-1)), Err(TaskError::Codec(_))));
        assert!(matches!(pool.map(picky_value, items.clone()), Err(TaskError::Codec(_))));
        // Every item of a chunk refused.
        let got = pool.chunksize(2).map_results(picky_value, [Picky(-1), Picky(-2)]).unwrap();
        assert!(got.iter().all(|r| matches!(r, Err(TaskError::Codec(_)))), "{method}");
        assert_healthy(&pool, &format!("{method} after an unencodable argument"));
    }
}

/// A task submitted alone (`apply_async`, the executor's `submit`) is encoded before it is
/// queued, in the same step as its job is added: an argument that cannot be encoded is that
/// task's error and the tasks beside it run; once the pool takes no more work, either
/// argument is refused as `NotRunning`, before anything is queued.
#[test]
fn a_task_submitted_alone_with_an_unencodable_argument_fails_alone() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let tasks: Vec<_> = [4, -1, 5, -2, 6]
            .map(|x| pool.apply_async(picky_value, Picky(x)).unwrap())
            .into_iter()
            .map(|t| t.get())
            .collect();
        assert_eq!(tasks[0], Ok(8), "{method}");
        assert!(matches!(&tasks[1], Err(TaskError::Codec(e)) if e.op() == Op::Encode), "{method}");
        assert_eq!((&tasks[2], &tasks[4]), (&Ok(10), &Ok(12)), "{method}");
        assert!(matches!(tasks[3], Err(TaskError::Codec(_))), "{method}");
        let ex = multiproc::ProcessPoolExecutor::from(pool);
        let bad = ex.submit(picky_value, Picky(-3)).unwrap();
        let good = ex.submit(picky_value, Picky(7)).unwrap();
        assert!(matches!(bad.result(), Err(TaskError::Codec(_))), "{method}");
        assert_eq!(good.result(), Ok(14), "{method}");
        ex.shutdown(true, false);
        assert_eq!(ex.submit(picky_value, Picky(-4)).unwrap_err(), TaskError::NotRunning);
        assert_eq!(ex.submit(picky_value, Picky(8)).unwrap_err(), TaskError::NotRunning);
    }
    let pool = pool(StartMethod::ForkServer);
    pool.close();
    assert_eq!(pool.apply_async(picky_value, Picky(-5)).unwrap_err(), TaskError::NotRunning);
    assert_eq!(pool.apply_async(picky_value, Picky(9)).unwrap_err(), TaskError::NotRunning);
    pool.join().unwrap();
}

#[test]
fn a_result_that_cannot_be_encoded_in_the_worker_fails_remote() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let got = pool.chunksize(3).map_results(to_picky, [1, -2, 3, 4]).unwrap();
        assert_eq!(got[0], Ok(Picky(1)));
        assert_eq!(got[2], Ok(Picky(3)));
        assert_eq!(got[3], Ok(Picky(4)));
        let Err(TaskError::Codec(e)) = &got[1] else {
            panic!("{method}: expected Codec, got {:?}", got[1])
        };
        assert_eq!(e.op(), Op::Encode, "{method}");
        assert_eq!(e.what(), What::Result, "{method}");
        assert!(e.type_name().contains("Picky"), "{method}: {e}");
        assert!(got[1].as_ref().unwrap_err().to_string().contains("Picky"));
        assert_healthy(&pool, &format!("{method} after an unencodable result"));
    }
}

#[test]
fn values_that_cannot_be_decoded_name_their_type_and_direction() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        // A result the parent cannot decode.
        let got = pool.map_results(to_undecodable, [1, 2]).unwrap();
        for r in &got {
            let Err(TaskError::Codec(e)) = r else { panic!("{method}: {r:?}") };
            assert_eq!((e.op(), e.what()), (Op::Decode, What::Result), "{method}");
            assert!(e.type_name().contains("Undecodable"), "{method}: {e}");
        }
        // An argument the worker cannot decode.
        let err = pool.apply(take_undecodable, Undecodable(3)).unwrap_err();
        let TaskError::Codec(e) = &err else { panic!("{method}: {err:?}") };
        assert_eq!((e.op(), e.what()), (Op::Decode, What::Argument), "{method}");
        assert!(e.type_name().contains("Undecodable"), "{method}: {e}");
        assert_healthy(&pool, &format!("{method} after undecodable values"));
    }
}

/// `Picky`'s value doubled, except the special values that panic or end the worker.
fn picky_act(p: Picky) -> i64 {
    match p.0 {
        1_000_001 => panic!("picky panic"),
        1_000_003 => act(-3),
        x => x * 2,
    }
}

#[test]
fn mixed_failures_in_a_long_queue_of_tiny_tasks_stay_at_their_positions() {
    let _serial = serial();
    // Many one-item chunks: the scheduler merges neighbours into one batch, so the dead
    // worker's batch holds items of several chunks, some with holes left by arguments
    // that could not be encoded.
    for method in StartMethod::ALL {
        let pool = pool(method);
        let mut xs: Vec<i64> = (0..3000).collect();
        for i in (7..3000).step_by(97) {
            xs[i] = -(i as i64); // unencodable
        }
        xs[1500] = 1_000_003; // the worker dies
        xs[1502] = 1_000_001; // panics
        xs[2999] = 1_000_003; // the worker dies, last item
        let t = Instant::now();
        let got = pool.chunksize(1).map_results(picky_act, xs.iter().copied().map(Picky)).unwrap();
        assert!(t.elapsed() < GUARD, "{method}: took {:?}", t.elapsed());
        assert_eq!(got.len(), xs.len());
        for (i, (&x, r)) in xs.iter().zip(&got).enumerate() {
            match x {
                x if x < 0 => {
                    assert!(matches!(r, Err(TaskError::Codec(_))), "{method} {i}: {r:?}")
                }
                1_000_003 => assert!(
                    matches!(
                        r,
                        Err(TaskError::WorkerDied { status: Some(ExitStatus::Signal(9)), .. })
                    ),
                    "{method} {i}: {r:?}"
                ),
                1_000_001 => {
                    assert!(matches!(r, Err(TaskError::Panicked(_))), "{method} {i}: {r:?}")
                }
                x => assert_eq!(*r, Ok(x * 2), "{method}: item {i}"),
            }
        }
        assert_healthy(&pool, &format!("{method} after mixed failures"));
    }
}
