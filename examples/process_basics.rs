//! The `Process` API in one sitting: start, join with a value, exit codes, terminate,
//! kill, and what a child knows about itself.
//!
//! Python twin: `Process.start/join/exitcode/terminate/kill`, `current_process().name`.
//!
//! Run: `cargo run --release --example process_basics`

use std::time::Duration;

use multiproc::{ExitStatus, Process, current_process, parent_process};

fn hello(greeting: String) -> String {
    let me = current_process();
    let parent = parent_process().map(|p| p.name).unwrap_or_default();
    format!("{greeting} from {} (pid {}), child of {parent}", me.name, me.pid)
}

fn exit_with(code: i32) {
    std::process::exit(code)
}

fn sleep_forever(_: ()) {
    std::thread::sleep(Duration::from_secs(3600))
}

fn main() -> anyhow::Result<()> {
    println!("I am {} (pid {})", current_process().name, current_process().pid);

    let mut p = Process::new(hello, "hello".to_string());
    p.start()?;
    println!("{}  [exit code {}]", p.join()?, p.exit_code().unwrap());

    let mut p = Process::new(exit_with, 7);
    p.start()?;
    let err = p.join().unwrap_err();
    println!("exit(7)   -> {err}");
    anyhow::ensure!(p.exit_code() == Some(ExitStatus::Code(7)));

    for (how, signal) in [("terminate", 15), ("kill", 9)] {
        let mut p = Process::new(sleep_forever, ());
        p.start()?;
        println!("{how}: pid {} alive = {}", p.pid().unwrap(), p.is_alive());
        if signal == 15 {
            p.terminate()?
        } else {
            p.kill()?
        }
        let err = p.join().unwrap_err();
        println!("{how} -> {err}; exit_code() = {}", p.exit_code().unwrap());
        anyhow::ensure!(p.exit_code() == Some(ExitStatus::Signal(signal)));
    }
    Ok(())
}
