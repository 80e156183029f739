//! Queues across real processes, under every start method.

use multiproc::sync::{GetError, Queue, QueueSender};
use multiproc::{Context, StartMethod};

mod common;

fn produce(tx: QueueSender<u64>) -> u64 {
    for i in 0..1000 {
        tx.put(i).unwrap();
    }
    1000
}

#[test]
fn a_child_produces_and_the_parent_drains_to_disconnected() {
    for method in StartMethod::ALL {
        let (tx, rx) = Queue::<u64>::new().unwrap().split();
        let mut p = Context::new(method).process(produce, tx);
        p.start().unwrap();
        let mut got = Vec::new();
        loop {
            match rx.get() {
                Ok(x) => got.push(x),
                Err(GetError::Disconnected) => break,
                Err(e) => panic!("{method}: {e}"),
            }
        }
        assert_eq!(p.join().unwrap(), 1000);
        assert_eq!(got, (0..1000).collect::<Vec<_>>(), "{method}");
    }
}
