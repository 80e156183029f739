//! No descriptor, no shared-memory file and no zombie left after 100 create / use in a
//! child / drop cycles of each primitive (start methods in turn).
//!
//! This file holds one test: descriptor and zombie counts are process-wide, so no other
//! test may run beside it in the same binary.

use multiproc::sync::{
    Array, Barrier, BoundedSemaphore, Condition, Connection, Event, JoinableQueue, Lock, Pipe,
    Queue, QueueSender, RLock, Semaphore, SharedMemory, SimpleQueue, Value,
};
use multiproc::{Context, StartMethod};

mod common;
use common::{open_fds, zombies};

/// Everything a child gets, used once each.
type Kit = (
    (QueueSender<u32>, JoinableQueue<u32>, SimpleQueue<u32>, Connection<u32>),
    (Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier),
    (Value<u64>, Array<u8>, SharedMemory, SharedMemory),
);

fn use_everything(kit: Kit) -> u32 {
    let ((q, jq, sq, conn), (lock, rlock, sem, bsem, cond, event, barrier), (v, a, named, anon)) =
        kit;
    q.put(1).unwrap();
    jq.put(2).unwrap();
    sq.put(3).unwrap();
    conn.send(4).unwrap();
    drop(lock.lock().unwrap());
    drop(rlock.lock().unwrap());
    drop(sem.acquire().unwrap());
    drop(bsem.acquire().unwrap());
    cond.lock().unwrap().notify_all();
    event.set();
    barrier.wait().unwrap();
    *v.lock().unwrap() += 1;
    a.set(0, 7);
    named.write_at(0, b"n").unwrap();
    anon.write_at(0, b"a").unwrap();
    conn.recv().unwrap()
}

fn shm_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("mpsm_"))
        .collect();
    names.sort();
    names
}

fn cycle(i: usize) {
    let method = StartMethod::ALL[i % 3];
    let (q, rx) = Queue::new().unwrap().split();
    let jq = JoinableQueue::new().unwrap();
    let sq = SimpleQueue::new().unwrap();
    let (here, there) = Pipe::new().unwrap();
    let kit: Kit = (
        (q, jq.clone(), sq.clone(), there),
        (
            Lock::new().unwrap(),
            RLock::new().unwrap(),
            Semaphore::new(1).unwrap(),
            BoundedSemaphore::new(1).unwrap(),
            Condition::new().unwrap(),
            Event::new().unwrap(),
            Barrier::new(1).unwrap(),
        ),
        (
            Value::new(0).unwrap(),
            Array::new(4).unwrap(),
            SharedMemory::new(4096).unwrap(),
            SharedMemory::anonymous(4096).unwrap(),
        ),
    );
    let value = kit.2.0.clone();
    let mut p = Context::new(method).process(use_everything, kit);
    p.start().unwrap();
    assert_eq!(here.recv().unwrap(), 4);
    here.send(5).unwrap();
    assert_eq!(p.join().unwrap(), 5, "{method}");
    assert_eq!((rx.get().unwrap(), jq.get().unwrap(), sq.get().unwrap()), (1, 2, 3));
    assert_eq!(value.get(), 1);
}

#[test]
fn a_hundred_cycles_of_every_primitive_leave_nothing_behind() {
    // Warm up: the fork server, the launcher thread and the sharer are made once and kept.
    for i in 0..3 {
        cycle(i);
    }
    let (fds, files) = (open_fds(), shm_files());
    for i in 0..100 {
        cycle(i);
    }
    assert_eq!(open_fds(), fds, "descriptors leaked");
    assert_eq!(shm_files(), files, "shared memory left in /dev/shm");
    assert_eq!(zombies(), Vec::<u32>::new(), "zombies");
}
