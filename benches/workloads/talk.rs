//! W15 to W19: processes that talk — queues, a pipe, a shared value under its lock, shared
//! memory. Each measures from a `go` given to children that are already started and
//! waiting (process start-up is W5's business), the same way as its CPython twin in
//! `benches/python/workloads.py`, with `multiprocessing`'s forkserver context (the
//! default start method of multiproc).

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use multiproc::sync::{Connection, Event, Pipe, Queue, QueueSender, SharedMemory, Value};
use multiproc::{Bytes, Process};

use crate::cases::{Outcome, Value as Figure};
use crate::measure::percentile;

fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok { Ok(()) } else { Err(what.into()) }
}

/// W15: puts `n` small integers once told to go (one at a time, or in batches of 1 000).
fn put_ints(args: (QueueSender<u64>, Event, u64, bool)) {
    let (tx, go, n, batched) = args;
    tx.put(u64::MAX).unwrap(); // ready
    go.wait();
    if batched {
        let mut i = 0;
        while i < n {
            let end = (i + 1000).min(n);
            tx.put_many(i..end).unwrap();
            i = end;
        }
    } else {
        for i in 0..n {
            tx.put(i).unwrap();
        }
    }
}

/// W16: puts `n` payloads of 1 KiB once told to go.
fn put_kib(args: (QueueSender<Bytes>, Event, u64)) {
    let (tx, go, n) = args;
    let payload = Bytes::from(vec![0x5a; 1024]);
    tx.put(Bytes::new()).unwrap(); // ready
    go.wait();
    for _ in 0..n {
        tx.put(payload.clone()).unwrap();
    }
}

/// W15: items per second, a producer process to the parent.
pub(crate) fn w15(batched: bool, quick: bool) -> Outcome {
    let n: u64 = if quick { 20_000 } else { 200_000 };
    let (tx, rx) = Queue::new()?.split();
    let go = Event::new()?;
    let mut p = Process::new(put_ints, (tx, go.clone(), n, batched));
    p.start()?;
    check(rx.get()? == u64::MAX, "W15: no ready item")?;
    let t = Instant::now();
    go.set();
    let mut sum = 0u64;
    let mut got = 0;
    if batched {
        while got < n {
            for x in rx.get_many(4096)? {
                sum = sum.wrapping_add(x);
                got += 1;
            }
        }
    } else {
        for _ in 0..n {
            sum = sum.wrapping_add(rx.get()?);
        }
        got = n;
    }
    let took = t.elapsed();
    p.join()?;
    check(got == n && sum == n * (n - 1) / 2, "W15: wrong items")?;
    Ok(vec![Figure::Num(n as f64 / took.as_secs_f64())])
}

pub(crate) fn w15_queue(quick: bool) -> Outcome {
    w15(false, quick)
}

pub(crate) fn w15_queue_many(quick: bool) -> Outcome {
    w15(true, quick)
}

/// W16: MB/s of 1 KiB payloads, a producer process to the parent.
pub(crate) fn w16_queue_kib(quick: bool) -> Outcome {
    let n: u64 = if quick { 5_000 } else { 50_000 };
    let (tx, rx) = Queue::new()?.split();
    let go = Event::new()?;
    let mut p = Process::new(put_kib, (tx, go.clone(), n));
    p.start()?;
    check(rx.get()?.is_empty(), "W16: no ready item")?;
    let t = Instant::now();
    go.set();
    let mut bytes = 0;
    for _ in 0..n {
        bytes += black_box(rx.get()?).len();
    }
    let took = t.elapsed();
    p.join()?;
    check(bytes == 1024 * n as usize, "W16: wrong payloads")?;
    Ok(vec![Figure::Num(bytes as f64 / took.as_secs_f64() / 1e6)])
}

/// W17: echoes every message until the other end is gone.
fn echo(conn: Connection<u64>) {
    while let Ok(msg) = conn.recv() {
        conn.send(msg).unwrap();
    }
}

/// W17: median µs of a small message's round trip through a pipe, to an echoing child.
pub(crate) fn w17_pipe_rtt(quick: bool) -> Outcome {
    let n = if quick { 500 } else { 5_000 };
    let (here, there) = Pipe::new()?;
    let mut p = Process::new(echo, there);
    p.start()?;
    for i in 0..200 {
        here.send(i)?;
        check(here.recv()? == i, "W17: wrong echo")?;
    }
    let mut micros = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let t = Instant::now();
        here.send(i)?;
        let back = here.recv()?;
        micros.push(t.elapsed().as_secs_f64() * 1e6);
        check(back == i, "W17: wrong echo")?;
    }
    drop(here);
    p.join()?;
    micros.sort_by(f64::total_cmp);
    Ok(vec![Figure::Num(percentile(&micros, 50.0))])
}

/// W18: increments the shared value `n` times under its lock, once told to go.
fn increment(args: (Value<u64>, Event, QueueSender<u8>, u64)) {
    let (value, go, done, n) = args;
    done.put(0).unwrap(); // ready
    go.wait();
    for _ in 0..n {
        *value.lock().unwrap() += 1;
    }
    done.put(1).unwrap();
}

/// W18: increments per second of a shared value under its lock, by two processes.
pub(crate) fn w18_value_lock(quick: bool) -> Outcome {
    let n: u64 = if quick { 10_000 } else { 100_000 };
    let value = Value::new(0u64)?;
    let go = Event::new()?;
    let (done_tx, done_rx) = Queue::new()?.split();
    let mut children: Vec<_> = (0..2)
        .map(|_| Process::new(increment, (value.clone(), go.clone(), done_tx.clone(), n)))
        .collect();
    for p in &mut children {
        p.start()?;
    }
    for _ in 0..2 {
        check(done_rx.get()? == 0, "W18: no ready message")?;
    }
    let t = Instant::now();
    go.set();
    for _ in 0..2 {
        check(done_rx.get()? == 1, "W18: no done message")?;
    }
    let took = t.elapsed();
    for mut p in children {
        p.join()?;
    }
    check(value.get() == 2 * n, "W18: the final value is not exact")?;
    Ok(vec![Figure::Num((2 * n) as f64 / took.as_secs_f64())])
}

/// W19: reads the whole block; a checksum of it.
fn read_all(shm: SharedMemory) -> u64 {
    let mut buf = vec![0u8; 1 << 20];
    let mut sum = 0u64;
    for off in (0..shm.len()).step_by(buf.len()) {
        let len = buf.len().min(shm.len() - off);
        shm.read_at(off, &mut buf[..len]).unwrap();
        sum = buf[..len].iter().fold(sum, |s, &b| s.wrapping_add(u64::from(b)));
    }
    sum
}

/// W19: GB/s of creating a 64 MiB shared-memory block and filling it in the parent; a
/// child then reads it all (checked, not timed).
pub(crate) fn w19_shared_memory(quick: bool) -> Outcome {
    let size = if quick { 8 << 20 } else { 64 << 20 };
    let data = vec![0x5a_u8; size];
    let t = Instant::now();
    let shm = SharedMemory::new(size)?;
    shm.write_at(0, &data)?;
    let took = t.elapsed();
    let mut p = Process::new(read_all, shm);
    p.start()?;
    check(p.join()? == 0x5a * size as u64, "W19: the child read other bytes")?;
    Ok(vec![Figure::Num(size as f64 / took.as_secs_f64() / 1e9)])
}
