//! The launcher: one thread that lives as long as the process and performs every fork and
//! spawn.
//!
//! Linux delivers the parent-death signal when the *thread* that created a child exits,
//! not the process. Creating every child from this thread makes "the parent died" mean
//! the process, whichever thread asked for the child. Forks from one thread are also
//! serialised, so no child inherits another child's freshly made channel ends.

use std::sync::Mutex;
use std::sync::mpsc::{Sender, sync_channel};

use crate::sys::PerProcess;

type Job = Box<dyn FnOnce() + Send>;

/// Per process: a forked child starts its own launcher (its parent's thread is not
/// copied), without waiting for a lock its parent's threads may have held at the fork.
static LAUNCHER: PerProcess<Mutex<Option<Sender<Job>>>> = PerProcess::new();

fn launcher() -> &'static Mutex<Option<Sender<Job>>> {
    LAUNCHER.get(|| Mutex::new(None))
}

/// Runs `job` on the launcher thread and returns its result.
pub(crate) fn run<R: Send + 'static>(job: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(job());
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
