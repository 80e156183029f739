//! Micro-benchmarks of the ipc channel against a plain `UnixStream`, between two processes.
//!
//! `cargo bench -p multiproc-ipc --bench ipc_micro -- [--quick] [--sweep] [--ring]`
//!
//! The child is this bench binary, re-executed with `BENCH_CHILD_ENV` set: it echoes small
//! frames and answers each large one with an 8-byte ack, on our `Channel` and on a
//! length-prefixed `UnixStream`. Both receivers touch one byte per 4 KiB page of a large
//! payload (our `Message` is read in place; the stream has to copy it into a buffer).
//! `--sweep` compares the inline and the shared-memory paths around the threshold.
//!
//! Then a `Ring` (child with `BENCH_RING_CHILD_ENV` set; `--ring` runs only these): the
//! cost of a push alone (one process, a ring in cache, records read back untimed); the
//! child pushing 8-byte records as fast as it can while the parent reads and sums them
//! (records/s, and the child's time per push, waits for room included); then a ping-pong,
//! one record up and an 8-byte reply back over the channel, with the parent polling first
//! or sleeping at once.

use std::env;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use multiproc_ipc::{
    Channel, HandoffSender, Ring, RingReader, RingWriter, SPIN, Sender, Wait, duplex, handoff,
};

const BENCH_CHILD_ENV: &str = "MULTIPROC_IPC_BENCH_CHILD";
const BENCH_RING_CHILD_ENV: &str = "MULTIPROC_IPC_BENCH_RING_CHILD";
const RING_CAPACITY_ENV: &str = "MULTIPROC_IPC_BENCH_RING_CAPACITY";
const SOCKET_ENV: &str = "MULTIPROC_IPC_BENCH_SOCKET";
const SMALL: usize = 16;
const MIB: usize = 1 << 20;

fn main() {
    if let Ok(name) = env::var(BENCH_CHILD_ENV) {
        child(&name, &env::var(SOCKET_ENV).expect("socket path"));
        return;
    }
    if let Ok(name) = env::var(BENCH_RING_CHILD_ENV) {
        let capacity = env::var(RING_CAPACITY_ENV).expect("capacity").parse().expect("a number");
        ring_child(&name, capacity);
        return;
    }
    let args: Vec<String> = env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sweep = args.iter().any(|a| a == "--sweep");
    if !args.iter().any(|a| a == "--ring") {
        parent(quick, sweep);
        println!();
    }
    ring_parent(quick);
}

/// Sum of one byte per page: what a reader that uses the data at least pays.
fn touch(bytes: &[u8]) -> u64 {
    bytes.iter().step_by(4096).map(|&b| u64::from(b)).sum()
}

/// The handoff sender this child inherited as the descriptor numbered `fd`.
fn inherited<T: serde::Serialize + serde::de::DeserializeOwned>(fd: &str) -> HandoffSender<T> {
    let fd = fd.parse().expect("a descriptor");
    HandoffSender::from_inherited(fd, std::os::unix::process::parent_id()).expect("the handoff")
}

fn child(fd: &str, socket: &str) {
    let (mine, theirs) = duplex().expect("duplex");
    inherited(fd).send(theirs).expect("send to parent");
    let mut stream = UnixStream::connect(socket).expect("connect socket");
    let streamer = thread::spawn(move || {
        let mut buf = Vec::new();
        let mut len = [0u8; 8];
        while stream.read_exact(&mut len).is_ok() {
            let n = u64::from_le_bytes(len) as usize;
            buf.resize(n, 0);
            stream.read_exact(&mut buf).expect("read payload");
            let reply: &[u8] = if n <= SMALL { &buf } else { &touch(&buf).to_le_bytes() };
            stream.write_all(&(reply.len() as u64).to_le_bytes()).expect("write");
            stream.write_all(reply).expect("write");
        }
    });
    while let Ok(frame) = mine.recv() {
        let sent = if frame.len() <= SMALL {
            mine.send(&frame)
        } else {
            mine.send(&touch(&frame).to_le_bytes())
        };
        if sent.is_err() {
            break;
        }
    }
    streamer.join().expect("stream thread");
}

struct Peer {
    channel: Channel,
    stream: UnixStream,
    child: std::process::Child,
}

fn start_child() -> Peer {
    let dir = env::temp_dir().join(format!("multiproc-ipc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("stream.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind");
    let (tx, rx) = handoff::<Channel>().expect("handoff");
    let mut cmd = Command::new(env::current_exe().expect("current exe"));
    let fd = tx.pass_to(&mut cmd).expect("pass the handoff");
    let mut child = cmd
        .env(BENCH_CHILD_ENV, fd.to_string())
        .env(SOCKET_ENV, &path)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child");
    drop(tx);
    let channel = rx
        .accept(Duration::from_secs(30), || matches!(child.try_wait(), Ok(None)))
        .expect("child connects");
    let (stream, _) = listener.accept().expect("accept stream");
    let _ = std::fs::remove_dir_all(&dir);
    Peer { channel, stream, child }
}

fn stream_call(stream: &mut UnixStream, payload: &[u8], reply: &mut Vec<u8>) {
    stream.write_all(&(payload.len() as u64).to_le_bytes()).expect("write");
    stream.write_all(payload).expect("write");
    let mut len = [0u8; 8];
    stream.read_exact(&mut len).expect("read");
    reply.resize(u64::from_le_bytes(len) as usize, 0);
    stream.read_exact(reply).expect("read");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// Median and p99 in µs of `runs` calls of `f` after `warmup` calls.
fn latency(warmup: usize, runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..warmup {
        f();
    }
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f();
        t.push(start.elapsed().as_secs_f64() * 1e6);
    }
    t.sort_by(f64::total_cmp);
    (percentile(&t, 0.5), percentile(&t, 0.99))
}

/// Median GB/s over `reps` repetitions of `count` calls moving `size` bytes each.
fn throughput(size: usize, count: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let rates = (0..reps)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..count {
                f();
            }
            (size * count) as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    median(rates)
}

fn channel_call(channel: &Channel, payload: &[u8]) {
    channel.send(payload).expect("send");
    let reply = channel.recv().expect("recv");
    assert!(reply.len() <= SMALL);
}

fn parent(quick: bool, sweep: bool) {
    let mut peer = start_child();
    let (warmup, runs) = if quick { (200, 2000) } else { (2000, 20_000) };
    let reps = if quick { 3 } else { 5 };
    println!(
        "multiproc-ipc micro-benchmarks ({} mode; GB = 1e9 B/s; ratio = Channel / UnixStream)",
        if quick { "quick" } else { "full" }
    );
    println!();

    let small = [7u8; SMALL];
    let (c_med, c_p99) = latency(warmup, runs, || channel_call(&peer.channel, &small));
    let mut reply = Vec::new();
    let stream = &mut peer.stream;
    let (u_med, u_p99) = latency(warmup, runs, || stream_call(stream, &small, &mut reply));
    println!("{:<28} {:>12} {:>12} {:>8}", "16-byte round trip", "Channel", "UnixStream", "ratio");
    println!("{:<28} {:>12.2} {:>12.2} {:>8.2}", "  median (µs)", c_med, u_med, c_med / u_med);
    println!("{:<28} {:>12.2} {:>12.2} {:>8.2}", "  p99 (µs)", c_p99, u_p99, c_p99 / u_p99);
    println!();

    let sizes: &[(usize, usize)] = if quick {
        &[(MIB, 20), (16 * MIB, 4)]
    } else {
        &[(MIB, 300), (16 * MIB, 32), (128 * MIB, 4)]
    };
    println!("{:<28} {:>12} {:>12} {:>8}", "throughput (GB/s)", "Channel", "UnixStream", "ratio");
    for &(size, count) in sizes {
        let payload = vec![0x5au8; size];
        let c = throughput(size, count, reps, || channel_call(&peer.channel, &payload));
        let stream = &mut peer.stream;
        let u = throughput(size, count, reps, || stream_call(stream, &payload, &mut reply));
        let label = format!("  {} MiB", size / MIB);
        println!("{label:<28} {c:>12.2} {u:>12.2} {:>8.2}", c / u);
    }

    if sweep {
        println!();
        println!(
            "{:<28} {:>12} {:>12} {:>8}",
            "threshold sweep (µs/frame)", "inline", "shm", "shm/inl"
        );
        let sender = peer.channel.sender().clone();
        for kib in [4usize, 16, 32, 64, 128, 256, 512, 1024, 4096] {
            let size = kib << 10;
            let payload = vec![0x33u8; size];
            let count = (256 * MIB / size).clamp(50, 2000);
            let per = |threshold: usize| {
                sender.set_shm_threshold(threshold);
                let gbps = throughput(size, count, reps, || channel_call(&peer.channel, &payload));
                size as f64 / gbps / 1e3
            };
            let inline = per(usize::MAX);
            let shm = per(0);
            let label = format!("  {kib} KiB");
            println!("{label:<28} {inline:>12.2} {shm:>12.2} {:>8.2}", shm / inline);
        }
        sender.set_shm_threshold(multiproc_ipc::DEFAULT_SHM_THRESHOLD);
    }

    drop(peer.channel);
    drop(peer.stream);
    let _ = peer.child.wait();
}

/// Ring child: on `s` + count, pushes that many 8-byte records and replies with its ns;
/// on `p`, pushes a record per frame received until `stop`.
fn ring_child(fd: &str, capacity: usize) {
    let (mine, theirs) = duplex().expect("duplex");
    let ring = Ring::new(capacity).expect("ring");
    inherited(fd).send((theirs, ring.clone())).expect("send to parent");
    let (tx, rx) = mine.split();
    let mut writer = RingWriter::new(ring, tx.clone());
    while let Ok(command) = rx.recv() {
        match &command[..] {
            [b's', count @ ..] => {
                let count = u64::from_le_bytes(count.try_into().expect("a count"));
                let start = Instant::now();
                for i in 0..count {
                    writer.push(0, std::iter::once(&i.to_le_bytes()[..])).expect("push");
                }
                let ns = start.elapsed().as_nanos() as u64;
                tx.send(&ns.to_le_bytes()).expect("send");
            }
            b"p" => {
                writer.push(0, std::iter::once(&[0u8; 8][..])).expect("push");
                loop {
                    let reply = rx.recv().expect("recv");
                    if &*reply == b"stop" {
                        break;
                    }
                    writer.push(0, std::iter::once(&*reply)).expect("push");
                }
            }
            other => panic!("unknown command {other:?}"),
        }
    }
}

fn start_ring_child(capacity: usize) -> (Sender, RingReader, std::process::Child) {
    let (tx, rx) = handoff::<(Channel, Ring)>().expect("handoff");
    let mut cmd = Command::new(env::current_exe().expect("current exe"));
    let fd = tx.pass_to(&mut cmd).expect("pass the handoff");
    let mut child = cmd
        .env(BENCH_RING_CHILD_ENV, fd.to_string())
        .env(RING_CAPACITY_ENV, capacity.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child");
    drop(tx);
    let (channel, ring) = rx
        .accept(Duration::from_secs(30), || matches!(child.try_wait(), Ok(None)))
        .expect("child connects");
    let (tx, rx) = channel.split();
    (tx, RingReader::new(ring, rx), child)
}

/// Reads `count` 8-byte records, summing them (what a reader that uses them pays).
fn read_records(reader: &mut RingReader, count: u64, spin: Duration) -> u64 {
    let (mut read, mut sum) = (0, 0u64);
    while read < count {
        assert_eq!(reader.wait(spin, None), Wait::Ready);
        for record in reader.records() {
            let bytes = record.expect("record").bytes().try_into().expect("8 bytes");
            sum = sum.wrapping_add(u64::from_le_bytes(bytes));
            read += 1;
        }
    }
    sum
}

/// ns per push of an 8-byte record, the ring in cache and no reader running.
fn push_alone(rounds: usize) -> f64 {
    let ring = Ring::new(1 << 20).expect("ring");
    let (a, b) = duplex().expect("duplex");
    let mut writer = RingWriter::new(ring.clone(), b.split().0);
    let mut reader = RingReader::new(ring, a.split().1);
    let per_round = 15_000u64; // 240 KiB: under the quarter (256 KiB) a `records` run reads
    let mut times = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        for i in 0..per_round {
            writer.push(0, std::iter::once(&i.to_le_bytes()[..])).expect("push");
        }
        times.push(start.elapsed().as_secs_f64() * 1e9 / per_round as f64);
        assert_eq!(reader.records().count() as u64, per_round);
    }
    median(times)
}

fn ring_parent(quick: bool) {
    let count: u64 = if quick { 2_000_000 } else { 20_000_000 };
    let reps = if quick { 3 } else { 7 };
    let alone = push_alone(if quick { 50 } else { 500 });
    println!("{:<28} {:>12.2}", "ring push alone (ns)", alone);
    println!();
    println!("{:<28} {:>12} {:>12}", "ring, 8-byte records", "M records/s", "child ns/rec");
    for capacity in [64usize << 10, 1 << 20] {
        let (channel, mut reader, mut child) = start_ring_child(capacity);
        let mut rates = Vec::new();
        let mut push_ns = Vec::new();
        for rep in 0..=reps {
            let mut command = b"s".to_vec();
            command.extend_from_slice(&count.to_le_bytes());
            let start = Instant::now();
            channel.send(&command).expect("send");
            let sum = read_records(&mut reader, count, SPIN);
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(sum, count * (count - 1) / 2);
            let ns = reader.receiver().recv().expect("the child's time").into_vec();
            let ns = u64::from_le_bytes(ns.try_into().expect("8 bytes"));
            if rep > 0 {
                rates.push(count as f64 / secs / 1e6);
                push_ns.push(ns as f64 / count as f64);
            }
        }
        let label = format!("  ring of {} KiB", capacity >> 10);
        println!("{label:<28} {:>12.1} {:>12.2}", median(rates), median(push_ns));
        drop(channel);
        drop(reader);
        let _ = child.wait();
    }
    println!();

    let (warmup, runs) = if quick { (200, 2000) } else { (2000, 20_000) };
    println!("{:<28} {:>12} {:>12}", "ring ping-pong (µs)", "median", "p99");
    for (label, spin) in
        [("  reader polls (SPIN)", SPIN), ("  reader sleeps at once", Duration::ZERO)]
    {
        let (channel, mut reader, mut child) = start_ring_child(64 << 10);
        channel.send(b"p").expect("send");
        read_records(&mut reader, 1, spin);
        let (med, p99) = latency(warmup, runs, || {
            channel.send(&[1u8; 8]).expect("send");
            read_records(&mut reader, 1, spin);
        });
        println!("{label:<28} {med:>12.2} {p99:>12.2}");
        channel.send(b"stop").expect("send");
        drop(channel);
        drop(reader);
        let _ = child.wait();
    }
}
