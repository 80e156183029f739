//! `AsyncResult` under every start method: `get`, `get_timeout` that times out while the
//! task goes on (a later `get` still succeeds), `wait` / `wait_timeout` / `ready`,
//! `successful()` refusing before the result is in, `on_success` / `on_error` callbacks
//! that have run by the time `get` returns, and a panicking callback that leaves the
//! result and the pool intact.
//!
//! Re-expressed from CPython's `Lib/test/_test_multiprocessing.py` (`_TestPool`:
//! `test_async`, `test_async_timeout`, `test_map_async_callbacks`,
//! `test_async_error_callback`; `_TestPoolWorkerErrors`), rewritten. A task is held back
//! by a gate file the test creates when it wants the task to finish, never by a sleep.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiproc::StartMethod;
use multiproc::pool::{NotReady, TaskError};

mod common;
use common::{gate, pool, serial, square, wait_for_gate};

/// Generous bound for anything that should happen "soon": only a hang guard.
const GUARD: Duration = Duration::from_secs(30);

fn boom(x: u64) -> u64 {
    panic!("boom {x}")
}

fn open(gate: &Path) {
    std::fs::write(gate, b"").unwrap();
}

#[test]
fn get_returns_the_value() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        assert_eq!(pool.apply_async(square, 7).unwrap().get(), Ok(49), "{method}");
        assert_eq!(
            pool.map_async(square, 0..10).unwrap().get().unwrap(),
            (0..10).map(square).collect::<Vec<_>>()
        );
        let r = pool.apply_async(square, 9).unwrap();
        assert_eq!(r.get_timeout(GUARD), Ok(81), "{method}");
        // The value can be taken once.
        assert_eq!(r.get_timeout(GUARD), Err(TaskError::AlreadyTaken), "{method}");
        let err = pool.apply_async(boom, 3).unwrap().get().unwrap_err();
        assert_eq!(err.panic().expect("a panic").message, "boom 3", "{method}");
        let r = pool.apply_async(boom, 4).unwrap();
        let Err(TaskError::Panicked(p)) = r.get_timeout(GUARD) else {
            panic!("{method}: expected a panic")
        };
        assert_eq!(p.message, "boom 4");
    }
}

#[test]
fn get_timeout_times_out_while_the_task_goes_on() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let gate = gate("get-timeout", method);
        let path = gate.to_str().unwrap().to_owned();
        let r = pool.apply_async(wait_for_gate, path.clone()).unwrap();
        let t = Instant::now();
        assert_eq!(
            r.get_timeout(Duration::from_millis(100)),
            Err(TaskError::WaitTimedOut),
            "{method}"
        );
        assert!(t.elapsed() >= Duration::from_millis(100), "{method}: waited the timeout");
        assert!(!r.ready(), "{method}");
        // Timing out again changes nothing: the task is still running.
        assert_eq!(r.get_timeout(Duration::ZERO), Err(TaskError::WaitTimedOut), "{method}");
        // Other work goes on meanwhile (the second worker).
        assert_eq!(pool.apply(square, 5), Ok(25), "{method}");
        open(&gate);
        assert_eq!(r.get(), Ok(path.len()), "{method}");
        let _ = std::fs::remove_file(&gate);
    }
}

#[test]
fn wait_wait_timeout_and_ready() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let gate = gate("wait", method);
        let path = gate.to_str().unwrap().to_owned();
        let r = pool.map_async(wait_for_gate, vec![path.clone(); 3]).unwrap();
        assert!(!r.wait_timeout(Duration::from_millis(50)), "{method}");
        assert!(!r.ready(), "{method}");
        open(&gate);
        r.wait();
        assert!(r.ready(), "{method}");
        assert!(r.wait_timeout(Duration::ZERO), "{method}: ready means wait returns true at once");
        assert_eq!(r.successful(), Ok(true), "{method}");
        assert_eq!(r.get().unwrap(), vec![path.len(); 3], "{method}");

        let r = pool.apply_async(boom, 1).unwrap();
        assert!(r.wait_timeout(GUARD), "{method}");
        assert!(r.ready(), "{method}");
        assert_eq!(r.successful(), Ok(false), "{method}");
        let _ = std::fs::remove_file(&gate);
    }
}

#[test]
fn successful_refuses_before_ready() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let gate = gate("successful", method);
        let r = pool.apply_async(wait_for_gate, gate.to_str().unwrap().to_owned()).unwrap();
        assert_eq!(r.successful(), Err(NotReady), "{method}");
        assert_eq!(NotReady.to_string(), "the result is not ready");
        open(&gate);
        r.wait();
        assert_eq!(r.successful(), Ok(true), "{method}");
        let _ = std::fs::remove_file(&gate);
    }
}

#[test]
fn ready_and_successful_stay_answered_after_the_value_is_taken() {
    let _serial = serial();
    // Python: `ready()` and `successful()` keep answering after `get()`.
    for method in StartMethod::ALL {
        let pool = pool(method);
        let r = pool.apply_async(square, 6).unwrap();
        assert_eq!(r.get_timeout(GUARD), Ok(36), "{method}");
        assert!(r.wait_timeout(Duration::ZERO), "{method}");
        assert!(r.ready(), "{method}: ready() after the value was taken by get_timeout");
        assert_eq!(r.successful(), Ok(true), "{method}: successful() after get_timeout");
    }
}

#[test]
fn get_after_the_value_was_taken_does_not_claim_a_cancellation() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let r = pool.apply_async(square, 5).unwrap();
        assert_eq!(r.get_timeout(GUARD), Ok(25), "{method}");
        // Nothing was cancelled: the value was taken by the earlier call.
        assert_ne!(r.get(), Err(TaskError::Cancelled), "{method}: get after get_timeout");
    }
}

#[test]
fn callbacks_have_run_when_get_returns() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let gate = gate("callbacks", method);
        let path = gate.to_str().unwrap().to_owned();

        // Registered while the task is held back: run on the pool's side, before get.
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (s, e) = (seen.clone(), seen.clone());
        let r = pool
            .apply_async(wait_for_gate, path.clone())
            .unwrap()
            .on_success(move |v| s.lock().unwrap().push(format!("ok {v}")))
            .on_error(move |err| e.lock().unwrap().push(format!("err {err}")));
        assert!(seen.lock().unwrap().is_empty(), "{method}: nothing ran yet");
        open(&gate);
        assert_eq!(r.get(), Ok(path.len()), "{method}");
        assert_eq!(*seen.lock().unwrap(), [format!("ok {}", path.len())], "{method}");

        // on_error for a failing task, and on_success is not called.
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (s, e) = (seen.clone(), seen.clone());
        let r = pool
            .apply_async(boom, 8)
            .unwrap()
            .on_success(move |v| s.lock().unwrap().push(format!("ok {v}")))
            .on_error(move |err| e.lock().unwrap().push(err.to_string()));
        assert!(r.get().is_err(), "{method}");
        let got = seen.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "{method}: {got:?}");
        assert!(got[0].contains("boom 8"), "{method}: {got:?}");

        // map_async: the callback sees the whole list.
        let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
        let s = seen.clone();
        let r = pool
            .chunksize(3)
            .map_async(square, 0..20)
            .unwrap()
            .on_success(move |v: &Vec<u64>| s.lock().unwrap().extend_from_slice(v));
        let values = r.get().unwrap();
        assert_eq!(*seen.lock().unwrap(), values, "{method}");

        // Registered after the result is in: runs at once, in the caller.
        let r = pool.apply_async(square, 3).unwrap();
        r.wait();
        let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
        let s = seen.clone();
        let r = r.on_success(move |v| s.lock().unwrap().push(*v));
        assert_eq!(*seen.lock().unwrap(), [9], "{method}");
        assert_eq!(r.get(), Ok(9), "{method}");
        let _ = std::fs::remove_file(&gate);
    }
}

#[test]
fn a_panicking_callback_does_not_break_the_result() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let gate = gate("panicking-callback", method);
        let path = gate.to_str().unwrap().to_owned();
        let seen: Arc<Mutex<Vec<usize>>> = Arc::default();
        let s = seen.clone();
        let r = pool
            .apply_async(wait_for_gate, path.clone())
            .unwrap()
            .on_success(|_| panic!("callback exploded"))
            .on_success(move |v| s.lock().unwrap().push(*v));
        open(&gate);
        assert_eq!(r.get(), Ok(path.len()), "{method}");
        assert_eq!(*seen.lock().unwrap(), [path.len()], "{method}: the next callback still ran");

        let r = pool.apply_async(boom, 2).unwrap().on_error(|_| panic!("error callback exploded"));
        assert!(matches!(r.get(), Err(TaskError::Panicked(_))), "{method}");

        // Already ready: the panicking callback runs in the caller and is contained too.
        let r = pool.apply_async(square, 4).unwrap();
        r.wait();
        let r = r.on_success(|_| panic!("late callback exploded"));
        assert_eq!(r.get(), Ok(16), "{method}");

        // The pool's threads are unharmed.
        assert_eq!(
            pool.map(square, 0..50).unwrap(),
            (0..50).map(square).collect::<Vec<_>>(),
            "{method}"
        );
        let _ = std::fs::remove_file(&gate);
    }
}
