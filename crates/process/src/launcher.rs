//! The launcher: where every fork and spawn happens — on the main thread when it asks,
//! else on one thread that lives as long as the process.
//!
//! Linux delivers the parent-death signal when the *thread* that created a child exits,
//! not the process. The main thread's end is the process's end (returning from `main`
//! exits the process), so it may create children itself, without the ~100 µs round trip
//! to another thread; any other thread hands the job to the launcher thread, which never
//! exits. Either way jobs run under one lock, so forks are serialised and no child
//! inherits another child's freshly made channel ends.

use std::sync::Mutex;
use std::sync::mpsc::{Sender, sync_channel};

use crate::sys::{self, PerProcess};

type Job = Box<dyn FnOnce() + Send>;

/// Per process: a forked child starts its own launcher (its parent's thread is not
/// copied), without waiting for a lock its parent's threads may have held at the fork.
static LAUNCHER: PerProcess<Mutex<Option<Sender<Job>>>> = PerProcess::new();

/// Held while a job runs. Per process: a child forked by a job starts with it held.
static RUNNING: PerProcess<Mutex<()>> = PerProcess::new();

fn launcher() -> &'static Mutex<Option<Sender<Job>>> {
    LAUNCHER.get(|| Mutex::new(None))
}

/// Runs `job` under the launcher lock, on this thread.
fn run_here<R>(job: impl FnOnce() -> R) -> R {
    let _running = RUNNING.get(|| Mutex::new(())).lock().unwrap_or_else(|e| e.into_inner());
    // A forked child inherits the lazy state of libraries as it is: completed here first.
    multiproc_ipc::before_fork();
    job()
}

/// Runs `job` where children may be created (see the module documentation) and returns
/// its result.
pub(crate) fn run<R: Send + 'static>(job: impl FnOnce() -> R + Send + 'static) -> R {
    if sys::is_main_thread() {
        return run_here(job);
    }
    let (tx, rx) = sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(run_here(job));
    });
    let mut job = Some(job);
    loop {
        let jobs = {
            let mut guard = launcher().lock().unwrap_or_else(|e| e.into_inner());
            match guard.as_ref() {
                Some(jobs) => jobs.clone(),
                None => {
                    let (jobs, queue) = std::sync::mpsc::channel::<Job>();
                    std::thread::Builder::new()
                        .name("multiproc-launcher".into())
                        .spawn(move || {
                            while let Ok(job) = queue.recv() {
                                job();
                            }
                        })
                        .expect("cannot start the multiproc launcher thread");
                    *guard = Some(jobs.clone());
                    jobs
                }
            }
        };
        match jobs.send(job.take().expect("job is sent once")) {
            Ok(()) => break,
            Err(back) => {
                // The thread is gone (a job panicked): forget it and start another.
                *launcher().lock().unwrap_or_else(|e| e.into_inner()) = None;
                job = Some(back.0);
            }
        }
    }
    rx.recv().expect("the launcher thread ran the job")
}
