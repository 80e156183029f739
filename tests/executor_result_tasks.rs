//! Executor futures of tasks that return `Result`: an `Err` fails the future, and every
//! failure path sees it — `result`, `exception`, `.await`, `Debug` ("raised"),
//! `as_completed`, `wait(FirstException)`, the lazy `map` and the star forms (`submit_star`,
//! `map_star`).
//!
//! CPython's twin: `test_wait.py`'s `test_first_exception` and `Future.exception()` of a
//! task that raises, rewritten for returned errors.

use futures::executor::block_on;
use multiproc::{
    Future, MapOptions, ProcessPoolExecutor, ReturnWhen, TaskError, as_completed, wait,
};

mod common;
use common::{Gate, gated};

fn parse(s: String) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

fn ratio(a: u32, b: u32) -> anyhow::Result<u32> {
    anyhow::ensure!(b != 0, "{a}/0");
    Ok(a / b)
}

#[test]
fn an_err_fails_the_future_everywhere_it_is_read() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let good = ex.submit(parse, "42".to_string()).unwrap();
    let bad = ex.submit(parse, "4x2".to_string()).unwrap();
    assert_eq!(good.result(), Ok(42));
    assert_eq!(good.exception(), None);
    let err = bad.exception().expect("a failure");
    let TaskError::Failed(info) = &err else { panic!("{err:?}") };
    assert!(info.is::<std::num::ParseIntError>());
    assert_eq!(info.message(), "invalid digit found in string");
    assert_eq!(bad.result(), Err(err.clone()));
    assert!(bad.done() && !bad.cancelled());
    assert_eq!(
        format!("{bad:?}"),
        "<Future state=finished raised Failed(core::num::error::ParseIntError)>"
    );
    let again = ex.submit(parse, "x".to_string()).unwrap();
    assert!(matches!(block_on(again), Err(TaskError::Failed(_))));
}

#[test]
fn wait_first_exception_returns_at_a_returned_error() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let gate = Gate::new("first-exception");
    let held = ex.submit(|d: String| gated(d).to_string(), gate.arg()).unwrap();
    let failing = ex.submit(|s: String| s.parse::<u64>().map(|n| n.to_string()), "no".into());
    let failing = failing.unwrap();
    let fs: [&Future<String>; 2] = [&held, &failing];
    let (done, not_done) = wait(fs, Some(common::GUARD), ReturnWhen::FirstException);
    assert_eq!(done.len(), 1, "FirstException returns once the error is in");
    assert!(std::ptr::eq(done[0], &failing));
    assert!(std::ptr::eq(not_done[0], &held));
    gate.open();
    assert_eq!(held.result(), Ok("7".to_string()));
}

#[test]
fn as_completed_yields_failed_futures_with_their_error() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let fs: Vec<Future<u32>> =
        ["1", "x", "3"].iter().map(|s| ex.submit(parse, s.to_string()).unwrap()).collect();
    let mut failures = 0;
    for f in as_completed(&fs, Some(common::GUARD)) {
        if let Some(TaskError::Failed(info)) = f.unwrap().exception() {
            assert!(info.is::<std::num::ParseIntError>());
            failures += 1;
        }
    }
    assert_eq!(failures, 1);
}

#[test]
fn map_and_the_star_forms_fail_item_by_item() {
    let ex = ProcessPoolExecutor::new(2).unwrap();
    let got: Vec<_> = ex.map(parse, ["1".into(), "no".into(), "3".into()]).unwrap().collect();
    assert_eq!(got[0], Ok(1));
    assert!(matches!(got[1], Err(TaskError::Failed(_))));
    assert_eq!(got[2], Ok(3));

    assert_eq!(ex.submit_star(ratio, (9, 3)).unwrap().result(), Ok(3));
    let err = ex.submit_star(ratio, (9, 0)).unwrap().exception().expect("a failure");
    let info = err.error().expect("a returned error");
    assert_eq!((info.type_name(), info.message()), ("anyhow::Error", "9/0"));

    let pairs = [(8, 2), (1, 0), (9, 3)];
    let got: Vec<_> = ex.map_star(ratio, pairs).unwrap().collect();
    assert_eq!((&got[0], &got[2]), (&Ok(4), &Ok(3)));
    assert!(matches!(got[1], Err(TaskError::Failed(_))));
    let options = MapOptions::default().chunksize(2);
    let got: Vec<_> = ex.map_star_with(ratio, pairs, options).unwrap().collect();
    assert!(got[1].is_err() && got[0].is_ok() && got[2].is_ok());
}
