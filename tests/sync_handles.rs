//! The handles of `multiproc::sync` as a user meets them: every re-export of the facade
//! (root, `sync`, `connection`, the prelude), their auto traits, and their `Debug`.

use multiproc::sync::{
    ArrayGuard, BarrierError, ConditionGuard, FrozenArray, GetError, LockError, LockGuard, Pod,
    PutError, PutManyError, QueueReceiver, QueueSender, RLockGuard, RecvError, ReleaseError,
    SemaphoreGuard, SendError, SyncError, ValueGuard, Waitable,
};
use multiproc::{
    Array, Barrier, BoundedSemaphore, Condition, Connection, Event, JoinableQueue, Lock, Queue,
    RLock, Semaphore, Sentinel, SharedMemory, SimpleQueue, Value,
};

fn send_sync<T: Send + Sync>() {}

#[test]
fn every_handle_is_send_and_sync() {
    send_sync::<Queue<String>>();
    send_sync::<QueueSender<std::rc::Rc<u8>>>(); // items are encoded, never shared
    send_sync::<QueueReceiver<u8>>();
    send_sync::<JoinableQueue<u8>>();
    send_sync::<SimpleQueue<u8>>();
    send_sync::<Connection<u8>>();
    send_sync::<Lock>();
    send_sync::<RLock>();
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<Condition>();
    send_sync::<Event>();
    send_sync::<Barrier>();
    send_sync::<Value<u64>>();
    send_sync::<Array<f64>>();
    send_sync::<FrozenArray<u32>>();
    send_sync::<SharedMemory>();
    send_sync::<Sentinel>();
}

#[test]
fn errors_are_errors_and_guards_have_names() {
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    error::<SyncError>();
    error::<PutError<u8>>();
    error::<SendError<u8>>();
    error::<GetError>();
    error::<RecvError>();
    error::<PutManyError>();
    error::<LockError<()>>();
    error::<ReleaseError>();
    error::<BarrierError>();
    fn debug<T: std::fmt::Debug>() {}
    debug::<LockGuard<'_>>();
    debug::<RLockGuard<'_>>();
    debug::<SemaphoreGuard<'_>>();
    debug::<ConditionGuard<'_>>();
    debug::<ValueGuard<'_, u64>>();
    debug::<ArrayGuard<'_, u64>>();
    fn pod<T: Pod>() {}
    pod::<[f32; 3]>();
}

#[test]
fn the_prelude_and_connection_modules_have_the_common_ones() {
    use multiproc::prelude::*;
    let q: Queue<u8> = Queue::new().unwrap();
    let (a, b) = Pipe::<u8>::new().unwrap();
    let (_l, _e) = (Lock::new().unwrap(), Event::new().unwrap());
    let (_v, _x) = (Value::new(1u8).unwrap(), Array::<u8>::new(1).unwrap());
    a.send(1).unwrap();
    let objects: [&dyn Waitable; 2] = [&q, &b];
    assert_eq!(multiproc::connection::wait(&objects, None).unwrap(), [1]);
    let _: Option<multiproc::connection::Connection<u8>> = None;
}

#[test]
fn debug_says_what_a_handle_is() {
    let q = Queue::bounded(3).unwrap();
    q.put(1u8).unwrap();
    assert_eq!(format!("{q:?}"), "Queue { len: 1, maxsize: Some(3) }");
    let e = Event::new().unwrap();
    e.set();
    assert_eq!(format!("{e:?}"), "Event { set: true }");
    assert_eq!(format!("{:?}", Value::new(5i32).unwrap()), "Value(5)");
    assert!(format!("{:?}", SharedMemory::anonymous(8).unwrap()).contains("len: 8"));
    assert!(format!("{:?}", Barrier::new(2).unwrap()).contains("parties: 2"));
}
