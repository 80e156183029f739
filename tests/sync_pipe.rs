//! Pipes across real processes, under every start method, and `connection::wait` over
//! connections, queues and process sentinels.
//!
//! Behaviours re-expressed from CPython's `_TestConnection` (`test_connection`,
//! `test_duplex_false`, `test_dont_merge`, `test_empty_string`, `test_sendbytes`),
//! `_TestPicklingConnections` and `TestWait` (`test_wait`, `test_wait_timeout`,
//! `test_neg_timeout`), rewritten.

use std::time::{Duration, Instant};

use multiproc::connection::wait;
use multiproc::sync::{Connection, Pipe, Queue, RecvError, SendError};
use multiproc::{Context, StartMethod};

mod common;

/// Echoes every message back until the other end is gone.
fn echo(conn: Connection<Vec<f64>>) -> usize {
    let mut n = 0;
    while let Ok(msg) = conn.recv() {
        conn.send(msg).unwrap();
        n += 1;
    }
    n
}

#[test]
fn ping_pong_then_disconnected_once_the_parent_lets_go() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let (here, there) = Pipe::new().unwrap();
        let mut p = Context::new(method).process(echo, there);
        p.start().unwrap();
        for i in 0..100 {
            let msg = vec![i as f64, 2.25, -1.0];
            here.send(msg.clone()).unwrap();
            assert_eq!(here.recv().unwrap(), msg, "{method}");
        }
        drop(here); // the child's recv now says Disconnected
        assert_eq!(p.join().unwrap(), 100, "{method}");
    }
}

fn exit_after_sending(conn: Connection<String>) {
    conn.send("last words".to_string()).unwrap();
}

#[test]
fn messages_sent_before_the_other_end_exited_are_read_then_disconnected() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let (here, there) = Pipe::new().unwrap();
        let mut p = Context::new(method).process(exit_after_sending, there);
        p.start().unwrap();
        p.join().unwrap();
        assert_eq!(here.recv().unwrap(), "last words");
        assert!(matches!(here.recv(), Err(RecvError::Disconnected)), "{method}");
        assert!(here.poll(Duration::ZERO).unwrap(), "end of file is readable");
    }
}

#[test]
fn message_boundaries_are_kept_and_large_messages_cross() {
    let (a, b) = Pipe::<()>::new().unwrap();
    for msg in [&b"a"[..], b"b", b"", b"cd"] {
        a.send_bytes(msg).unwrap();
    }
    let big = vec![7u8; 16 << 20];
    a.send_bytes(&big).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"a");
    assert_eq!(b.recv_bytes().unwrap(), b"b");
    assert_eq!(b.recv_bytes().unwrap(), b"");
    assert_eq!(b.recv_bytes().unwrap(), b"cd");
    assert_eq!(b.recv_bytes().unwrap(), big);
}

#[test]
fn a_one_way_pipe_refuses_the_wrong_direction() {
    let (reader, writer) = Pipe::<u8>::one_way().unwrap();
    assert!(reader.readable() && !reader.writable());
    assert!(writer.writable() && !writer.readable());
    assert!(matches!(reader.send(1), Err(SendError::ReadOnly(1))));
    assert!(matches!(writer.recv(), Err(RecvError::WriteOnly)));
    assert!(matches!(writer.poll(Duration::ZERO), Err(RecvError::WriteOnly)));
    writer.send(2).unwrap();
    assert_eq!(reader.recv().unwrap(), 2);
    drop(writer);
    assert!(matches!(reader.recv(), Err(RecvError::Disconnected)));
}

#[test]
fn poll_and_recv_timeout_wait_no_longer_than_asked() {
    let (a, b) = Pipe::<u8>::new().unwrap();
    assert!(!b.poll(Duration::ZERO).unwrap());
    let t = Instant::now();
    assert!(!b.poll(Duration::from_millis(30)).unwrap());
    assert!(matches!(b.recv_timeout(Duration::from_millis(30)), Err(RecvError::TimedOut)));
    assert!(matches!(b.try_recv(), Err(RecvError::Empty)));
    assert!(t.elapsed() < common::GUARD);
    a.send(1).unwrap();
    assert!(b.poll(Duration::ZERO).unwrap());
    assert!(b.poll(Duration::ZERO).unwrap(), "poll takes nothing");
    assert_eq!(b.recv_timeout(Duration::from_secs(5)).unwrap(), 1);
}

/// Receives a connection through a connection, and answers on it.
fn answer_on_what_arrives(conn: Connection<Connection<String>>) {
    while let Ok(reply) = conn.recv() {
        reply.send("hello from the child".to_string()).unwrap();
    }
}

#[test]
fn a_connection_travels_through_another() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let (control, there) = Pipe::new().unwrap();
        let mut p = Context::new(method).process(answer_on_what_arrives, there);
        p.start().unwrap();
        let (mine, theirs) = Pipe::new().unwrap();
        control.send(theirs).unwrap();
        assert_eq!(mine.recv().unwrap(), "hello from the child", "{method}");
        drop(control);
        p.join().unwrap();
        assert!(matches!(mine.recv(), Err(RecvError::Disconnected)), "{method}");
    }
}

fn sleep_then_send(args: (Connection<u8>, u64)) {
    std::thread::sleep(Duration::from_millis(args.1));
    args.0.send(9).unwrap();
}

fn quick(x: u8) -> u8 {
    x
}

#[test]
fn wait_returns_whichever_of_pipes_queues_and_sentinels_is_ready() {
    let _serial = common::serial();
    for method in StartMethod::ALL {
        let ctx = Context::new(method);
        let (a, b) = Pipe::new().unwrap();
        let q = Queue::<u8>::new().unwrap();
        let mut sender = ctx.process(sleep_then_send, (b, 50));
        let mut done = ctx.process(quick, 1);
        sender.start().unwrap();
        let pipe_first = wait(&[&q, &a], Some(common::GUARD)).unwrap();
        assert_eq!(pipe_first, [1], "{method}");
        assert_eq!(a.recv().unwrap(), 9);
        done.start().unwrap();
        let sentinel = done.sentinel().unwrap();
        assert_eq!(wait(&[&q, &sentinel], None).unwrap(), [1], "{method}");
        q.put(3).unwrap();
        assert_eq!(wait(&[&q, &sentinel], None).unwrap(), [0, 1]);
        assert_eq!(q.get().unwrap(), 3);
        done.join().unwrap();
        sender.join().unwrap();
        // The sender is gone: its end of the pipe is closed, so `a` is ready (EOF).
        assert_eq!(wait(&[&q, &a], Some(common::GUARD)).unwrap(), [1]);
        assert!(matches!(a.recv(), Err(RecvError::Disconnected)));
    }
}

#[test]
fn wait_times_out_with_nothing_ready() {
    let (_a, b) = Pipe::<u8>::new().unwrap();
    let q = Queue::<u8>::new().unwrap();
    assert!(wait(&[&b, &q], Some(Duration::ZERO)).unwrap().is_empty());
    assert!(wait(&[&b, &q], Some(Duration::from_millis(20))).unwrap().is_empty());
}
