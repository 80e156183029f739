//! The facade reaches everything a program names: each layer as a module, every public
//! type and function of the error story at the root, a prelude with what the tour uses
//! (a pool, an executor, their futures and errors), and serde, whose derives work
//! through `multiproc::serde` with no serde dependency of the program's own.

use multiproc::serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiproc::serde")]
struct Point {
    x: i32,
    y: i32,
}

fn flip(p: Point) -> Point {
    Point { x: p.y, y: p.x }
}

#[test]
fn the_prelude_holds_what_the_tour_uses() {
    use multiproc::prelude::*;

    let pool: Pool = Pool::new(1).unwrap();
    let r: AsyncResult<u64> = pool.apply_async(|x: u64| x + 1, 1).unwrap();
    let outcome: Result<u64, TaskError> = r.get();
    assert_eq!(outcome, Ok(2));
    let ex: ProcessPoolExecutor = ProcessPoolExecutor::new(1).unwrap();
    let f: Future<u64> = ex.submit(|x: u64| x * 2, 4).unwrap();
    let (done, _) = wait([&f], None, ReturnWhen::AllCompleted);
    assert_eq!(done.len(), 1);
    assert_eq!(as_completed([&f], None).count(), 1);
    let _: fn(u64) -> MapOptions = |_| MapOptions::default();
    let _: Option<PoolError> = None;
    let _: Option<ErrorInfo> = None;
    let _: Option<Typed<std::fmt::Error>> = None;
    let mut p = Process::new(|x: u8| x, 3);
    p.start().unwrap();
    let joined: Result<u8, ProcessError> = p.join();
    assert_eq!(joined.unwrap(), 3);
    let _ = (Context::new(StartMethod::Fork), cpu_count(), current_process(), Bytes::new());
    let _: Option<ExitStatus> = p.exit_code();
}

#[test]
fn serde_derives_work_through_the_reexport() {
    let pool = multiproc::Pool::new(1).unwrap();
    assert_eq!(pool.apply(flip, Point { x: 1, y: 2 }), Ok(Point { x: 2, y: 1 }));
}

#[test]
fn every_error_type_is_reachable_from_the_root() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<multiproc::TaskError>();
    is_error::<multiproc::PoolError>();
    is_error::<multiproc::ProcessError>();
    is_error::<multiproc::StartError>();
    is_error::<multiproc::NotReady>();
    is_error::<multiproc::TimeoutError>();
    is_error::<multiproc::ErrorInfo>();
    is_error::<multiproc::CodecError>();
    // The data inside them too.
    let _: Option<(multiproc::PanicInfo, multiproc::TooLarge, multiproc::ExitStatus)> = None;
    // And the calls' handles and traits.
    type Items = std::ops::Range<u8>;
    let _: Option<multiproc::Chunked<'static>> = None;
    let _: Option<multiproc::Map<u8, u8, Items>> = None;
    let _: Option<multiproc::IMap<u8, u8, Items>> = None;
    let _: Option<multiproc::Insights> = None;
    let _: Option<(multiproc::pool::WorkerInsights, multiproc::pool::SlowTask)> = None;
    let _: Option<multiproc::pool::RestartCause> = None;
    fn returns<R: multiproc::TaskReturn<V>, V>(_: fn(u8) -> R) {}
    returns(|x: u8| x);
    returns(|x: u8| -> std::io::Result<u8> { Ok(x) });
    fn fails<E: multiproc::TaskFailure<V>, V>(_: E) {}
    fails(std::fmt::Error);
    let _: Option<multiproc::process::via::Value> = None;
}

#[test]
fn each_layer_is_a_module() {
    let _ = multiproc::codec::What::Argument;
    let _ = multiproc::ipc::SPIN;
    let _ = multiproc::process::monotonic_ns();
    let _ = multiproc::pool::default_chunksize(10, 2);
    let _ = multiproc::executor::ReturnWhen::AllCompleted;
}
