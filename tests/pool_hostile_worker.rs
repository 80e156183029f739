//! A task that attacks its parent through what the pool shares with its worker fails only
//! itself: the parent lives, no task hangs, and the pool goes on. The task truncates or
//! rewrites the shared memory its worker maps (it can rewrite frame regions; it can resize
//! none, answer ring and progress words included), changes a large result after the
//! caller received it, or announces regions of no bytes or of 64 TiB. Under every start
//! method.
//!
//! The tasks play the hostile worker with raw system calls on the worker's descriptors.

use std::mem;
use std::path::Path;

use multiproc::{Bytes, StartMethod, TaskError};

mod common;
#[path = "../crates/ipc/tests/common/sendmsg.rs"]
mod sendmsg;
use common::{GUARD, pool, serial, square, wait_until};

/// The worker's memfds (every shared-memory region it maps), with their sizes.
fn memfds() -> Vec<(libc::c_int, usize)> {
    let fds: Vec<libc::c_int> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.into_iter()
        .filter(|fd| {
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .is_ok_and(|p| p.to_string_lossy().starts_with("/memfd:"))
        })
        .filter_map(|fd| {
            // SAFETY: all zeroes is a valid `stat`, and `fstat` only writes to it.
            let mut st: libc::stat = unsafe { mem::zeroed() };
            // SAFETY: as above.
            (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((fd, st.st_size as usize))
        })
        .collect()
}

/// Overwrites every byte of the frame regions (a 64-byte header and pages) of this worker
/// with `byte`; with `all`, of its answer ring and progress words too.
fn rewrite(byte: u8, all: bool) {
    // Regions are a 64-byte header and whole pages; the 64 bytes of progress words are
    // not one of them (see `rewrite_words` for those).
    fill(byte, usize::MAX, |len| all || (len > 4096 && len % 4096 == 64));
}

/// Overwrites the first `upto` bytes of each of this process's memfds whose size is
/// `chosen` with `byte`.
fn fill(byte: u8, upto: usize, chosen: impl Fn(usize) -> bool) {
    for (fd, len) in memfds().into_iter().filter(|&(_, len)| len > 0 && chosen(len)) {
        // SAFETY: a fresh shared mapping of the region, written and unmapped here; no
        // reference to it is ever made.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            if p != libc::MAP_FAILED {
                std::ptr::write_bytes(p.cast::<u8>(), byte, len.min(upto));
                libc::munmap(p, len);
            }
        }
    }
}

/// Fills its answer ring with garbage and zeroes its progress words' counts of items
/// started and finished ("nothing started"), then returns as if nothing happened.
fn garble(_: u64) -> u64 {
    fill(0xA5, usize::MAX, |len| len == 512 + (256 << 10));
    fill(0, 16, |len| len < 4096);
    7
}

/// Items 37, 151 and 263 write over their worker's progress words (the only memfd under a
/// page): with 0xA5 bytes, with zeroes, and with the claim word's epoch bumped (as a
/// take-back would, though the parent took nothing back). Every item returns its square.
fn rewrite_words(x: u64) -> u64 {
    let small = |len| len < 4096;
    match x {
        37 => fill(0xA5, usize::MAX, small),
        151 => fill(0, usize::MAX, small),
        263 => {
            for (fd, len) in memfds().into_iter().filter(|&(_, len)| small(len)) {
                let mut word = [0u8; 8];
                // SAFETY: reads and writes 8 bytes of a descriptor of this process, at
                // the claim word's offset (word 3), within its `len` bytes.
                unsafe {
                    if len >= 32 && libc::pread(fd, word.as_mut_ptr().cast(), 8, 24) == 8 {
                        let bumped = (u64::from_ne_bytes(word) + (1 << 48)).to_ne_bytes();
                        libc::pwrite(fd, bumped.as_ptr().cast(), 8, 24);
                    }
                }
            }
        }
        _ => {}
    }
    x * x
}

/// Rewrites its frame regions, then tries to shrink and grow every region (answer ring
/// and progress words too); how many resizes worked.
fn vandal(_: u64) -> u64 {
    rewrite(0xA5, false);
    let mut resized = 0;
    for (fd, _) in memfds() {
        for len in [0, 1 << 30] {
            // SAFETY: ftruncate on a descriptor of this process.
            resized += u64::from(unsafe { libc::ftruncate(fd, len) } == 0);
        }
    }
    resized
}

/// Returns 4 MiB of sevens and, once `<dir>/received` exists, zeroes every region of
/// this worker and creates `<dir>/scribbled`.
fn scribble_later(dir: String) -> Bytes {
    std::thread::spawn(move || {
        let dir = Path::new(&dir);
        while !dir.join("received").exists() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        rewrite(0, true);
        std::fs::write(dir.join("scribbled"), b"").unwrap();
    });
    Bytes::from(vec![7u8; 4 << 20])
}

/// Announces, on every socket of this worker, regions of no bytes and of 64 TiB under
/// the ids its own next regions will have, then returns a result large enough to need
/// a region.
fn announce_bad(_: u64) -> Bytes {
    let pid = u64::from(std::process::id());
    // SAFETY: plain system calls on descriptors this function owns.
    let huge = unsafe {
        let fd = libc::memfd_create(c"huge".as_ptr(), libc::MFD_ALLOW_SEALING);
        assert!(fd >= 0 && libc::ftruncate(fd, 1 << 46) == 0);
        libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW);
        fd
    };
    for socket in sockets() {
        for k in 1..40u64 {
            let mut body = vec![0]; // Side::Add
            varint((pid << 32) | k, &mut body);
            // Region index: u64::MAX is an empty region without a descriptor.
            varint(if k % 2 == 0 { 0 } else { u64::MAX }, &mut body);
            let fds = [huge];
            send_raw(socket, &body, if k % 2 == 0 { &fds } else { &[] });
        }
    }
    Bytes::from(vec![1u8; 1 << 20])
}

fn sockets() -> Vec<libc::c_int> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| {
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .is_ok_and(|p| p.to_string_lossy().starts_with("socket:"))
        })
        .collect()
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One ipc-channel message (fragment size, total size, body) with `fds` attached; errors
/// (a socket of another kind) are ignored.
fn send_raw(socket: libc::c_int, body: &[u8], fds: &[libc::c_int]) {
    let mut bytes = (16 + body.len()).to_ne_bytes().to_vec();
    bytes.extend_from_slice(&body.len().to_ne_bytes());
    bytes.extend_from_slice(body);
    sendmsg::send_with_fds(socket, &mut bytes, fds, libc::MSG_DONTWAIT);
}

/// What `map(square, 0..20)` gives.
fn squares() -> Vec<u64> {
    (0..20u64).map(|x| x * x).collect()
}

/// The pool still answers, on every worker.
fn still_serves(pool: &multiproc::Pool, method: StartMethod) {
    assert_eq!(pool.map(square, 0..20u64).unwrap(), squares(), "{method}");
}

#[test]
fn a_task_that_truncates_or_rewrites_its_shared_memory_fails_only_itself() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        for _ in 0..2 {
            let got = pool.apply_async(vandal, 0).unwrap().get_timeout(GUARD);
            // Its worker may be lost (its ring is garbage) or not; no region resized.
            assert!(matches!(got, Ok(0) | Err(TaskError::WorkerDied { .. })), "{method}: {got:?}");
        }
        still_serves(&pool, method);
    }
}

#[test]
fn a_bytes_result_cannot_change_after_the_caller_received_it() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let dir = std::env::temp_dir()
            .join(format!("multiproc-scribble-{}-{method}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let got = pool.apply(scribble_later, dir.to_str().unwrap().to_owned()).unwrap();
        assert!(got.iter().all(|&b| b == 7), "{method}: changed before it was read");
        std::fs::write(dir.join("received"), b"").unwrap();
        wait_until("the worker scribbled", || dir.join("scribbled").exists());
        assert!(got.iter().all(|&b| b == 7), "{method}: the worker changed a received result");
        drop(pool);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_task_that_announces_empty_or_huge_regions_fails_only_itself() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let got = pool.apply_async(announce_bad, 0).unwrap().get_timeout(GUARD);
        assert!(matches!(got, Err(TaskError::WorkerDied { .. })), "{method}: {got:?}");
        still_serves(&pool, method);
    }
}

/// A task that writes garbage into its worker's answer ring and says, in its progress
/// words, that it never started: when the parent sees the garbage (the worker's own next
/// answer may also overwrite it first: then the task just succeeds), the worker is lost
/// (killed, replaced) and the task fails as the one that worker was running, whatever
/// the words say; no other task fails, and nothing hangs though the pool has no timeout.
/// (Trusting the words, the parent queued the task again, for the next worker to break,
/// until the pool gave up starting workers and failed everything.)
///
/// Under fork a worker is a copy of its parent: it may hold, for a moment after its start,
/// the descriptor of the ring of a worker started beside it, and the garbage can land in
/// that ring too (the README's Security section: fork trusts every task as the parent).
/// Then that worker is lost as well when its parent next reads the garbage (whenever it is
/// next given work), and the task it was running then fails, once; the pool goes on.
#[test]
fn a_task_that_garbles_its_answer_ring_and_progress_fails_only_itself() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        still_serves(&pool, method); // every worker has answered: its ring is in use
        let got = pool.apply_async(garble, 0).unwrap().get_timeout(GUARD);
        assert!(matches!(got, Ok(7) | Err(TaskError::WorkerDied { .. })), "{method}: {got:?}");
        if method == StartMethod::Fork {
            // The sibling's garbage is read whenever that worker is next given work: its
            // worker is lost once (and so is the garbler's, if its garbage is read late).
            let mut lost = 0;
            for _ in 0..6 {
                match pool.map_async(square, 0..20u64).unwrap().get_timeout(GUARD) {
                    Ok(got) => assert_eq!(got, squares(), "{method}"),
                    Err(TaskError::WorkerDied { .. }) => lost += 1,
                    Err(e) => panic!("{method}: {e:?}"),
                }
            }
            assert!(lost <= 2, "{method}: {lost} jobs lost a worker");
            continue;
        }
        still_serves(&pool, method);
    }
}

/// Tasks that write over their worker's progress words, its claim word among them, amid
/// 300 others in batches: the worker then finds every later batch's items "taken back"
/// and skips them. It says so, the parent sees that it took nothing back, and the worker
/// is replaced; the skipped items run on the next worker. Every other item returns its
/// own value, nothing hangs (the pool has no timeout), and the pool goes on. (Before,
/// the skipped items waited for ever.)
#[test]
fn tasks_that_rewrite_their_progress_words_fail_only_themselves() {
    let _serial = serial();
    for method in StartMethod::ALL {
        let pool = pool(method);
        let mut results = pool.chunksize(5).imap(rewrite_words, 0..300u64).unwrap();
        for x in 0..300u64 {
            let got = results.next_timeout(GUARD).expect("one result per item");
            match x {
                37 | 151 | 263 => assert!(
                    matches!(got, Ok(v) if v == x * x)
                        || matches!(got, Err(TaskError::WorkerDied { .. })),
                    "{method}: item {x}: {got:?}"
                ),
                _ => assert_eq!(got, Ok(x * x), "{method}: item {x}"),
            }
        }
        assert!(results.next_timeout(GUARD).is_none(), "{method}");
        still_serves(&pool, method);
        // What the words said of failures and busy time is bounded by what the parent saw.
        let insights = pool.insights();
        let failed: u64 = insights.workers.iter().map(|w| w.tasks_failed).sum();
        assert!(failed <= 3, "{method}: {insights:?}");
        assert!(insights.outside_task_code.is_none_or(|s| (0.0..=1.0).contains(&s)));
    }
}
