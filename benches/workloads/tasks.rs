//! The tasks the workloads send to workers: plain `fn`s, written as users write them.
//! Each has a twin of the same name in `benches/python/workloads.py`.

use std::hint::black_box;
use std::time::Duration;

use multiproc::Bytes;

/// W1, W2, W10: `x * x`, kept from being optimised away.
pub(crate) fn square(x: u64) -> u64 {
    let x = black_box(x);
    black_box(x.wrapping_mul(x))
}

/// W3, W4, W5, W6: the identity, kept from being optimised away.
pub(crate) fn noop(x: u64) -> u64 {
    black_box(x)
}

/// W8: `n` steps of a multiply loop; each step depends on the last and the result is
/// returned, so the optimiser can neither remove nor shorten it.
pub(crate) fn spin(n: u64) -> u64 {
    let multiplier = black_box(6_364_136_223_846_793_005_u64);
    let mut x = black_box(1_u64);
    for i in 0..black_box(n) {
        x = x.wrapping_mul(multiplier).wrapping_add(i);
    }
    black_box(x)
}

/// W9: sleeps `ms` milliseconds.
pub(crate) fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// W7: the payload's length.
pub(crate) fn payload_len(buf: Bytes) -> u64 {
    black_box(buf.len() as u64)
}

/// W7: the payload itself, sent back.
pub(crate) fn payload_echo(buf: Bytes) -> Bytes {
    buf
}

/// W11: item 3 ends its own worker — `exit(1)`, or SIGKILL when `kill` — the others
/// square.
pub(crate) fn die_on_3((i, kill): (u64, bool)) -> u64 {
    if i == 3 {
        if !kill {
            std::process::exit(1);
        }
        // SIGKILL to ourselves without `unsafe`: ask kill(1), then wait for the signal.
        let pid = std::process::id().to_string();
        for kill in ["kill", "/bin/kill", "/usr/bin/kill"] {
            if std::process::Command::new(kill).args(["-KILL", &pid]).status().is_ok() {
                std::thread::sleep(Duration::from_secs(5));
            }
        }
        std::process::abort(); // no kill(1) at all: die anyway (SIGABRT)
    }
    i * i
}

/// W12: a task that panics.
pub(crate) fn fail(i: u64) -> u64 {
    if black_box(true) {
        panic!("boom {i}");
    }
    i
}

/// W13: the tasks' lengths in ms, a fixed lognormal draw (`benches/data/w13_task_ms.txt`,
/// read by the CPython side too).
pub(crate) fn w13_lengths() -> &'static [u64] {
    static LENGTHS: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    LENGTHS.get_or_init(|| {
        include_str!("../data/w13_task_ms.txt")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .flat_map(|l| l.split(','))
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    })
}

/// W13: task `i` sleeps its length, returns `i`.
pub(crate) fn w13_task(i: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(w13_lengths()[i as usize]));
    i
}
