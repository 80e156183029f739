//! Tasks that return `Result` fail like Rust code fails, under every start method: an
//! `Err` is the task's failure (`TaskError::Failed` with the error's type name, message
//! and `source()` chain), for `io::Error`, `anyhow::Error`, `Box<dyn Error + Send + Sync>`
//! and a `thiserror`-style enum; a serde error returned as `Typed<E>` comes back as itself.
//! Every failure path of the pool sees it: `map`'s first error, `map_results`' per-item
//! outcomes, `imap`'s items, `AsyncResult::successful`, `on_error`, the star calls, and a
//! `Process` target (exit code 1, `ProcessError::Failed`).
//!
//! CPython's twin: a task that raises (`_TestPool.test_map_raises`-like checks, and
//! `test_async_error_callback`), rewritten for returned errors.

use std::path::PathBuf;
use std::sync::mpsc;

use multiproc::serde::{Deserialize, Serialize};
use multiproc::{ExitStatus, Pool, Process, ProcessError, StartMethod, TaskError, Typed};

mod common;
use common::{pool, serial};

/// A task as a user writes it: the size of a file, `io::Result`.
fn file_len(path: PathBuf) -> std::io::Result<u64> {
    Ok(std::fs::metadata(path)?.len())
}

fn with_anyhow(x: u32) -> anyhow::Result<u32> {
    anyhow::ensure!(x < 10, "{x} is too big");
    Ok(x * 2)
}

fn with_box(x: u32) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if x == 0 {
        return Err("zero has no inverse".into());
    }
    Ok(100 / x)
}

/// An error with a cause, as `thiserror` writes them.
#[derive(Debug)]
struct LoadError {
    table: String,
    cause: std::io::Error,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot load table {}", self.table)
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

fn load(table: String) -> Result<u64, LoadError> {
    let path = format!("/nonexistent/{table}.csv");
    std::fs::read(&path).map(|b| b.len() as u64).map_err(|cause| LoadError { table, cause })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiproc::serde")]
enum Refusal {
    OutOfStock { wanted: u32, left: u32 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Refusal::OutOfStock { wanted, left } = self;
        write!(f, "{wanted} wanted, {left} left")
    }
}

impl std::error::Error for Refusal {}

fn order(wanted: u32) -> Result<u32, Typed<Refusal>> {
    if wanted > 3 {
        return Err(Refusal::OutOfStock { wanted, left: 3 }.into());
    }
    Ok(wanted)
}

fn halve(x: u64) -> Result<u64, std::fmt::Error> {
    if x % 2 == 1 { Err(std::fmt::Error) } else { Ok(x / 2) }
}

fn missing() -> PathBuf {
    PathBuf::from("/nonexistent/multiproc-test-file")
}

#[test]
fn an_err_is_the_tasks_failure_with_type_message_and_causes() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let me = std::env::current_exe().unwrap();
        let size = std::fs::metadata(&me).unwrap().len();
        assert_eq!(pool.apply(file_len, me), Ok(size), "{method}");

        let err = pool.apply(file_len, missing()).unwrap_err();
        let TaskError::Failed(info) = &err else { panic!("{method}: {err:?}") };
        assert!(info.is::<std::io::Error>(), "{method}: {}", info.type_name());
        assert_eq!(info.type_name(), "std::io::error::Error");
        assert!(info.message().contains("No such file"), "{method}: {info}");
        assert!(err.to_string().starts_with("the task failed: No such file"), "{err}");
        assert_eq!(err.error(), Some(info));

        let err = pool.apply(load, "orders".to_string()).unwrap_err();
        let info = err.error().expect("a returned error");
        assert_eq!(info.message(), "cannot load table orders");
        assert!(info.type_name().ends_with("LoadError"), "{}", info.type_name());
        let causes: Vec<&str> = info.sources().collect();
        assert_eq!(causes.len(), 1, "{method}: {causes:?}");
        assert!(causes[0].contains("No such file"), "{method}: {causes:?}");
        // The chain is the original's, through std::error::Error::source.
        let source = std::error::Error::source(&err).expect("the cause");
        assert!(source.to_string().contains("No such file"));
        assert!(!info.is_typed() && info.downcast::<String>().is_none());
    }
}

#[test]
fn anyhow_and_boxed_errors_are_failures_too() {
    let _serial = serial();
    let pool = pool(StartMethod::ForkServer);
    assert_eq!(pool.apply(with_anyhow, 4), Ok(8));
    let err = pool.apply(with_anyhow, 40).unwrap_err();
    let info = err.error().expect("a returned error");
    assert_eq!((info.type_name(), info.message()), ("anyhow::Error", "40 is too big"));

    assert_eq!(pool.apply(with_box, 4), Ok(25));
    let err = pool.apply(with_box, 0).unwrap_err();
    let info = err.error().expect("a returned error");
    assert_eq!(info.message(), "zero has no inverse");
    assert!(info.type_name().contains("dyn core::error::Error"), "{}", info.type_name());
}

#[test]
fn a_serde_error_returned_typed_comes_back_as_itself() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        assert_eq!(pool.apply(order, 2), Ok(2), "{method}");
        let err = pool.apply(order, 5).unwrap_err();
        let info = err.error().expect("a returned error");
        assert!(info.is_typed(), "{method}");
        assert!(info.is::<Refusal>());
        assert_eq!(info.downcast::<Refusal>(), Some(Refusal::OutOfStock { wanted: 5, left: 3 }));
        assert_eq!(info.downcast::<String>(), None, "another type is not this one");
        assert_eq!(info.message(), "5 wanted, 3 left");
    }
}

#[test]
fn map_fails_with_the_first_error_and_map_results_keeps_each_outcome() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        assert_eq!(pool.map(halve, [2, 4, 6]), Ok(vec![1, 2, 3]), "{method}");
        for chunksize in [1, 3, 100] {
            let err = pool.chunksize(chunksize).map(halve, [2, 4, 5, 7, 8]).unwrap_err();
            assert!(err.error().is_some_and(|e| e.is::<std::fmt::Error>()), "{method}: {err:?}");

            let got = pool.chunksize(chunksize).map_results(halve, 0..10).unwrap();
            for (x, r) in (0..10u64).zip(&got) {
                match r {
                    Ok(v) => assert!(x % 2 == 0 && *v == x / 2, "{method}: {x} -> {v}"),
                    Err(TaskError::Failed(info)) => {
                        assert!(x % 2 == 1 && info.is::<std::fmt::Error>(), "{method}: {x}")
                    }
                    Err(other) => panic!("{method}: {x}: {other:?}"),
                }
            }
        }
        let paths = vec![missing(), std::env::current_exe().unwrap()];
        let got = pool.map_results(file_len, paths).unwrap();
        assert!(matches!(&got[0], Err(TaskError::Failed(_))) && got[1].is_ok(), "{method}");
    }
}

#[test]
fn imap_yields_each_error_in_its_place() {
    let _serial = serial();
    let pool = pool(StartMethod::Fork);
    let got: Vec<Result<u64, TaskError>> = pool.imap(halve, 0..6).unwrap().collect();
    let failed: Vec<bool> = got.iter().map(Result::is_err).collect();
    assert_eq!(failed, [false, true, false, true, false, true]);
    let mut unordered: Vec<_> = pool.imap_unordered(halve, 0..6).unwrap().collect();
    unordered.retain(Result::is_err);
    assert_eq!(unordered.len(), 3);
    assert!(unordered.iter().all(|r| matches!(r, Err(TaskError::Failed(_)))));
}

#[test]
fn successful_and_on_error_see_a_returned_error() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let (tx, rx) = mpsc::channel();
        let (ok_tx, ok_rx) = mpsc::channel::<u64>();
        let r = pool
            .apply_async(file_len, missing())
            .unwrap()
            .on_success(move |v| ok_tx.send(*v).unwrap())
            .on_error(move |e| tx.send(e.clone()).unwrap());
        r.wait();
        assert_eq!(r.successful(), Ok(false), "{method}");
        let err = rx.try_recv().expect("on_error ran before the result was ready");
        assert!(matches!(err, TaskError::Failed(_)), "{method}: {err:?}");
        assert!(ok_rx.try_recv().is_err(), "{method}: on_success must not run");
        assert_eq!(r.get(), Err(err));

        let m = pool.map_async(halve, [2, 3]).unwrap();
        m.wait();
        assert_eq!(m.successful(), Ok(false), "{method}: one item failed");
    }
}

#[test]
fn the_star_calls_take_tuples_and_see_errors() {
    let _serial = serial();
    fn div(a: u32, b: u32) -> Result<u32, String> {
        // A `String` error is a value (it is no std::error::Error): see `checked_div`.
        a.checked_div(b).ok_or_else(|| "division by zero".into())
    }
    fn checked_div(a: u32, b: u32) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
        a.checked_div(b).ok_or_else(|| "division by zero".into())
    }
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.apply_star(div, (7, 2)), Ok(Ok(3)));
    assert_eq!(pool.apply_star(div, (7, 0)), Ok(Err("division by zero".to_string())));
    assert_eq!(pool.apply_star(checked_div, (9, 3)), Ok(3));
    let err = pool.apply_star(checked_div, (9, 0)).unwrap_err();
    assert_eq!(err.error().map(|e| e.message()), Some("division by zero"));
    assert_eq!(pool.apply_async_star(checked_div, (8, 2)).unwrap().get(), Ok(4));
    let pairs = [(8, 2), (1, 0), (9, 3)];
    let got: Vec<_> = pool.imap_star(checked_div, pairs).unwrap().collect();
    assert_eq!(got[0], Ok(4));
    assert!(matches!(got[1], Err(TaskError::Failed(_))));
    assert_eq!(got[2], Ok(3));
    let mut got: Vec<_> = pool.imap_unordered_star(checked_div, pairs).unwrap().collect();
    got.sort_by_key(|r| r.as_ref().map_or(u32::MAX, |v| *v));
    assert_eq!((got[0].clone(), got[1].clone()), (Ok(3), Ok(4)));
    assert!(pool.starmap(checked_div, pairs).unwrap_err().error().is_some());
    assert_eq!(pool.chunksize(2).imap_star(checked_div, [(4, 2)]).unwrap().next(), Some(Ok(2)));
}

#[test]
fn a_process_target_that_returns_err_fails_its_join_with_exit_code_1() {
    for method in StartMethod::ALL {
        let mut p = multiproc::Context::new(method).process(file_len, missing());
        p.start().unwrap();
        let err = p.join().unwrap_err();
        let ProcessError::Failed(info) = &err else { panic!("{method}: {err:?}") };
        assert!(info.is::<std::io::Error>(), "{method}");
        assert!(err.to_string().starts_with("the target failed: No such file"), "{err}");
        assert_eq!(p.exit_code(), Some(ExitStatus::Code(1)), "{method}");
    }
    let mut p = Process::new(file_len, std::env::current_exe().unwrap());
    p.start().unwrap();
    assert!(p.join().unwrap() > 0);
}
