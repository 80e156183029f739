//! Two producers and two consumers share one queue; each producer ends its work with a
//! sentinel, and each consumer stops at one. The queue is shared memory: a `put` is done
//! when it returns, so a producer may exit at once (no feeder thread to flush).
//!
//! Python twin: `multiprocessing.Queue` with `put(None)` as the sentinel.
//!
//! Run: `cargo run --release --example queue_producer_consumer`

use multiproc::Process;
use multiproc::sync::{Queue, QueueReceiver, QueueSender};

/// A job, or the sentinel that stops one consumer.
type Job = Option<u64>;

fn produce(args: (QueueSender<Job>, u64)) {
    let (jobs, first) = args;
    for n in first..first + 500 {
        jobs.put(Some(n)).unwrap();
    }
    jobs.put(None).unwrap(); // one sentinel per producer: one consumer stops per producer
}

fn consume(args: (QueueReceiver<Job>, QueueSender<u64>)) -> usize {
    let (jobs, results) = args;
    let mut done = 0;
    while let Some(n) = jobs.get().unwrap() {
        results.put(n * n).unwrap();
        done += 1;
    }
    done
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (jobs_tx, jobs_rx) = Queue::new()?.split();
    let (results_tx, results_rx) = Queue::new()?.split();
    let mut producers: Vec<_> =
        (0..2).map(|i| Process::new(produce, (jobs_tx.clone(), i * 500))).collect();
    let mut consumers: Vec<_> =
        (0..2).map(|_| Process::new(consume, (jobs_rx.clone(), results_tx.clone()))).collect();
    drop((jobs_tx, results_tx)); // the children hold the only senders now
    producers.iter_mut().try_for_each(|p| p.start())?;
    consumers.iter_mut().try_for_each(|p| p.start())?;
    // Every result, until both consumers are gone (the queue says `Disconnected`).
    let total: u64 = std::iter::from_fn(|| results_rx.get().ok()).sum();
    for p in &mut producers {
        p.join()?;
    }
    let handled: usize = consumers.iter_mut().map(|c| c.join()).sum::<Result<_, _>>()?;
    println!("{handled} jobs over 2 consumers; the sum of their squares is {total}");
    assert_eq!((handled, total), (1000, (0..1000u64).map(|n| n * n).sum()));
    Ok(())
}
