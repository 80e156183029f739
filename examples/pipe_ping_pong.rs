//! A pipe between a parent and a child: ping, pong, a thousand times, timed; then the
//! parent lets go of its end and the child's `recv` says `Disconnected` — it needs no
//! "stop" message to know.
//!
//! Python twin: `multiprocessing.Pipe()` with `send`/`recv` (whose `recv` raises
//! `EOFError` at the end).
//!
//! Run: `cargo run --release --example pipe_ping_pong`

use std::time::Instant;

use multiproc::Process;
use multiproc::sync::{Connection, Pipe, RecvError};

fn pong(conn: Connection<String>) -> u32 {
    let mut answered = 0;
    loop {
        match conn.recv() {
            Ok(ping) => conn.send(ping.replace("ping", "pong")).unwrap(),
            Err(RecvError::Disconnected) => return answered,
            Err(e) => panic!("{e}"),
        }
        answered += 1;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (here, there) = Pipe::new()?;
    let mut child = Process::new(pong, there);
    child.start()?;
    let t = Instant::now();
    for i in 0..1000 {
        here.send(format!("ping {i}"))?;
        assert_eq!(here.recv()?, format!("pong {i}"));
    }
    let per_trip = t.elapsed() / 1000;
    drop(here); // the child's recv now says Disconnected
    let answered = child.join()?;
    println!("{answered} round trips, {per_trip:?} each");
    assert_eq!(answered, 1000);
    Ok(())
}
