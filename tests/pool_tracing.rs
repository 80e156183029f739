//! With the `tracing` feature, a subscriber sees a pool's life: its workers start (in a
//! `worker_start` span, the initializer in its own), one is killed for running past the
//! timeout and replaced (with its exit status and cause), and the pool is closed and
//! joined — each event naming the pool and, for a worker, its pid and name.
//!
//! The subscriber is this file's own (no dependency beyond `tracing`), installed for the
//! whole process: the events come from the pool's threads. One test in this file, so no
//! other test's events mix in.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use multiproc::{Pool, TaskError};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

mod common;

/// An event or a new span: its name (the message of an event) and its fields as text.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    fields: BTreeMap<String, String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

impl Visit for Seen {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.fields.insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.insert(field.name().to_string(), value.to_string());
    }
}

/// Records every span and event it is given in [`SEEN`].
struct Recorder;

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut seen = Seen { name: span.metadata().name().to_string(), fields: BTreeMap::new() };
        span.record(&mut seen);
        SEEN.lock().unwrap().push(seen);
        Id::from_u64(NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut seen = Seen { name: String::new(), fields: BTreeMap::new() };
        event.record(&mut seen);
        seen.name = seen.fields.remove("message").unwrap_or_default();
        SEEN.lock().unwrap().push(seen);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn setup(_: ()) {}

#[test]
fn a_subscriber_sees_the_life_of_a_pool_whose_worker_is_killed() {
    tracing::subscriber::set_global_default(Recorder).expect("the only subscriber");
    let pool = Pool::builder()
        .processes(2)
        .initializer(setup, ())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let id = pool.insights().pool.to_string();
    let out = pool.chunksize(1).map_results(common::sleep_ms, [1, 3_600_000, 1, 1]).unwrap();
    assert!(matches!(out[1], Err(TaskError::TimedOut { .. })), "{out:?}");
    // The killed worker's replacement is up before the pool closes (or it would never
    // start: a closed and joined pool starts no worker).
    common::wait_until("the replacement is up", || pool.worker_pids().len() == 2);
    pool.close();
    pool.join().unwrap();

    let seen = SEEN.lock().unwrap().clone();
    let named = |name: &str| -> Vec<&Seen> { seen.iter().filter(|s| s.name == name).collect() };
    // Every record names this pool.
    for s in &seen {
        assert_eq!(s.field("pool"), Some(id.as_str()), "{s:?}");
    }
    // Two workers, then the replacement of the one killed: each start and initializer in
    // its span, each start with the worker's pid and name.
    assert_eq!(named("worker_start").len(), 3, "{seen:#?}");
    assert_eq!(named("initializer").len(), 3, "{seen:#?}");
    let started = named("worker started");
    assert_eq!(started.len(), 3, "{seen:#?}");
    for s in &started {
        assert!(s.field("pid").is_some_and(|p| p.parse::<u32>().is_ok()), "{s:?}");
        assert!(s.field("worker").is_some_and(|w| w.contains("PoolWorker")), "{s:?}");
    }
    // The kill for the timeout, then the exit of that very worker, replaced.
    let killed = named("task timed out: killing its worker");
    assert_eq!(killed.len(), 1, "{seen:#?}");
    let pid = killed[0].field("pid").expect("the killed worker's pid");
    let exits = named("worker exited");
    let replaced: Vec<_> = exits.iter().filter(|e| e.field("replaced") == Some("true")).collect();
    assert_eq!(replaced.len(), 1, "{seen:#?}");
    assert_eq!(replaced[0].field("pid"), Some(pid));
    assert_eq!(replaced[0].field("cause"), Some("timed out"));
    assert_eq!(replaced[0].field("status"), Some("-9 (SIGKILL)"));
    // The two workers left exit at `join`, not replaced; the pool says it closed and
    // joined.
    assert_eq!(exits.len(), 3, "{seen:#?}");
    assert_eq!(named("pool closed").len(), 1, "{seen:#?}");
    assert_eq!(named("pool joined").len(), 1, "{seen:#?}");
}
