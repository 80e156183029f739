//! Shared memory and shared arrays across processes, under every start method, and as a
//! pool initializer's argument: every worker, replacements included, reads one table.
//!
//! Behaviours re-expressed from CPython's `_TestSharedMemory`
//! (`test_shared_memory_basics`, `test_shared_memory_across_processes`,
//! `test_invalid_shared_memory_creation`, `test_shared_memory_name_with_embedded_null`)
//! and `_TestArray` (`test_array`, `test_array_from_size`), rewritten.

use std::io::ErrorKind;
use std::path::Path;

use multiproc::sync::{Array, FrozenArray, Queue, QueueSender, SharedMemory, SyncError};
use multiproc::{Context, Pool, Process, StartMethod};

mod common;

fn io_kind(err: SyncError) -> ErrorKind {
    match err {
        SyncError::Io(e) => e.kind(),
        other => panic!("not an I/O error: {other}"),
    }
}

fn in_dev_shm(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

#[test]
fn create_attach_unlink_and_their_errors() {
    let shm = SharedMemory::new(100).unwrap();
    let name = shm.name().unwrap().to_owned();
    assert!(shm.len() >= 100);
    assert!(in_dev_shm(&name));
    let same = SharedMemory::attach(&name).unwrap();
    shm.write_at(10, b"abc").unwrap();
    let mut buf = [0; 3];
    same.read_at(10, &mut buf).unwrap();
    assert_eq!(&buf, b"abc");
    assert_eq!(io_kind(SharedMemory::create(&name, 10).unwrap_err()), ErrorKind::AlreadyExists);
    assert!(matches!(SharedMemory::create("x", 0), Err(SyncError::Invalid(_))));
    assert!(matches!(SharedMemory::create("a/b", 10), Err(SyncError::Invalid(_))));
    assert!(matches!(SharedMemory::create("a\0b", 10), Err(SyncError::Invalid(_))));
    assert!(matches!(shm.write_at(99, b"ab"), Err(SyncError::Invalid(_))));
    shm.unlink().unwrap();
    assert!(!in_dev_shm(&name));
    assert_eq!(io_kind(shm.unlink().unwrap_err()), ErrorKind::NotFound);
    assert_eq!(io_kind(SharedMemory::attach(&name).unwrap_err()), ErrorKind::NotFound);
    same.read_at(10, &mut buf).unwrap(); // the memory lives while mapped
    assert_eq!(&buf, b"abc");
}

#[test]
fn the_last_handle_to_go_removes_the_name() {
    let shm = SharedMemory::create(&format!("mp_test_last_{}", std::process::id()), 64).unwrap();
    let name = shm.name().unwrap().to_owned();
    let attached = SharedMemory::attach(&name).unwrap();
    drop(shm);
    assert!(in_dev_shm(&name), "another handle still holds it");
    drop(attached);
    assert!(!in_dev_shm(&name));
}

#[test]
fn attaching_refuses_an_object_others_may_open() {
    let name = format!("mp_test_open_{}", std::process::id());
    let path = Path::new("/dev/shm").join(&name);
    std::fs::write(&path, [0u8; 64]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = SharedMemory::attach(&name).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(io_kind(err), ErrorKind::PermissionDenied);
}

fn write_in_child(args: (SharedMemory, String)) -> usize {
    let (shm, attach_by) = args;
    shm.write_at(0, b"from the child").unwrap();
    let other = SharedMemory::attach(&attach_by).unwrap();
    other.write_at(0, b"attached by name").unwrap();
    shm.len()
}

#[test]
fn a_child_writes_what_the_parent_reads() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let (handed, named) =
            (SharedMemory::anonymous(4096).unwrap(), SharedMemory::new(4096).unwrap());
        let name = named.name().unwrap().to_owned();
        let mut p = Context::new(method).process(write_in_child, (handed.clone(), name.clone()));
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 4096, "{method}");
        assert_eq!(&handed.to_vec()[..14], b"from the child", "{method}");
        assert_eq!(&named.to_vec()[..16], b"attached by name", "{method}");
        drop(named);
        assert!(!in_dev_shm(&name), "{method}: left in /dev/shm");
    }
}

/// A checksum of the block, read in a child.
fn sum_in_child(shm: SharedMemory) -> u64 {
    shm.to_vec().iter().map(|&b| u64::from(b)).sum()
}

/// A large write (it goes through the file, not the mapping) at an odd offset is what the
/// block holds, read here and in a child, for a handed and a named block; the bytes
/// around it are untouched.
#[test]
fn a_large_write_is_read_back_whole_here_and_in_a_child() {
    let _serial = common::serial();
    let len = 8 << 20;
    let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8 + 1).collect();
    let expected: u64 = data.iter().map(|&b| u64::from(b)).sum::<u64>() + 2 * 9;
    for shm in [SharedMemory::anonymous(len).unwrap(), SharedMemory::new(len).unwrap()] {
        shm.write_at(1000, &[9]).unwrap();
        shm.write_at(1001 + data.len(), &[9]).unwrap();
        shm.write_at(1001, &data).unwrap();
        let mut back = vec![0; data.len() + 2];
        shm.read_at(1000, &mut back).unwrap();
        assert_eq!((back[0], back[back.len() - 1]), (9, 9));
        assert!(back[1..=data.len()] == data[..], "the large write reads back");
        let mut p = Process::new(sum_in_child, shm.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), expected, "the child reads what was written");
    }
}

fn double_in_child(a: Array<i64>) {
    let mut guard = a.lock().unwrap();
    for x in guard.iter_mut() {
        *x *= 2;
    }
}

#[test]
fn a_child_changes_an_array_in_place() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let a = Array::from_slice(&[1i64, -2, 3]).unwrap();
        let mut p = Context::new(method).process(double_in_child, a.clone());
        p.start().unwrap();
        p.join().unwrap();
        assert_eq!(a.to_vec(), [2, -4, 6], "{method}");
        assert_eq!(Array::<u8>::new(5).unwrap().to_vec(), [0; 5]);
    }
}

static TABLE: std::sync::OnceLock<(FrozenArray<u64>, SharedMemory)> = std::sync::OnceLock::new();

/// The pool's initializer: keeps the tables, and tells the test which worker got them.
fn keep_table(args: (FrozenArray<u64>, SharedMemory, QueueSender<u32>)) {
    let (table, bytes, started) = args;
    started.put(std::process::id()).unwrap();
    let _ = TABLE.set((table, bytes));
}

/// The square of `i` from the frozen array, plus byte `i % 4096` of the shared memory.
fn lookup(i: usize) -> u64 {
    let (table, bytes) = TABLE.get().expect("the initializer ran");
    let mut b = [0u8];
    bytes.read_at(i % 4096, &mut b).unwrap();
    table[i] + u64::from(b[0])
}

#[test]
fn every_pool_worker_reads_one_frozen_table_and_shared_memory_replacements_included() {
    let _serial = common::serial();
    let squares: Vec<u64> = (0..100_000u64).map(|i| i * i).collect();
    let table = Array::from_slice(&squares).unwrap().freeze().map_err(|(_, e)| e).unwrap();
    let bytes = SharedMemory::new(4096).unwrap();
    bytes.write_at(0, &(0..4096).map(|i| (i % 7) as u8).collect::<Vec<_>>()).unwrap();
    for method in StartMethod::ALL {
        let (started_tx, started_rx) = Queue::new().unwrap().split();
        let pool = Pool::builder()
            .processes(2)
            .start_method(method)
            .max_tasks_per_child(10)
            .initializer(keep_table, (table.clone(), bytes.clone(), started_tx))
            .build()
            .unwrap();
        let got = pool.chunksize(1).map(lookup, (0..100).map(|i| i * 997)).unwrap();
        let expected: Vec<u64> =
            (0..100).map(|i| squares[i * 997] + ((i * 997) % 4096 % 7) as u64).collect();
        assert_eq!(got, expected, "{method}");
        drop(pool);
        let workers: Vec<u32> = std::iter::from_fn(|| started_rx.get().ok()).collect();
        assert!(workers.len() >= 10, "{method}: replacement workers got the table too");
    }
    assert_eq!(table.len(), 100_000);
}

#[test]
fn a_frozen_array_cannot_be_frozen_while_shared() {
    let a = Array::from_slice(&[1u8, 2]).unwrap();
    let other = a.clone();
    let (back, err) = a.freeze().map(drop).unwrap_err();
    assert!(matches!(err, SyncError::Io(_)));
    drop(other);
    assert_eq!(&*back.freeze().map_err(|(_, e)| e).unwrap(), &[1, 2]);
}
