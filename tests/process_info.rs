//! What a process knows about itself and its family, under every start method:
//! `current_process`, `parent_process`, `Process-N:M` names for children of children,
//! `active_children`, `cpu_count`.
//!
//! Re-expressed from CPython's `_TestProcess.test_current`, `test_parent_process` and
//! `test_active_children`, rewritten.

use std::time::Duration;

use multiproc::{
    Context, Process, StartMethod, active_children, cpu_count, current_process, parent_process,
};

type Family = (String, u32, Option<(String, u32)>);

fn who_am_i(_: ()) -> Family {
    let me = current_process();
    (me.name, me.pid, parent_process().map(|p| (p.name, p.pid)))
}

fn grandchild(method: StartMethod) -> (Family, Family) {
    let mine = who_am_i(());
    let mut p = Context::new(method).process(who_am_i, ());
    p.start().unwrap();
    (mine, p.join().unwrap())
}

#[test]
fn main_process_identity() {
    let me = current_process();
    assert_eq!(me.name, "MainProcess");
    assert_eq!(me.pid, std::process::id());
    assert_eq!(parent_process(), None);
    assert!(cpu_count() >= 1 && cpu_count() <= std::thread::available_parallelism().unwrap().get());
}

#[test]
fn child_knows_its_name_pid_and_parent() {
    for method in StartMethod::ALL {
        let mut p = Context::new(method).process(who_am_i, ()).with_name("Kid").unwrap();
        p.start().unwrap();
        let pid = p.pid().unwrap();
        let (name, child_pid, parent) = p.join().unwrap();
        assert_eq!((name.as_str(), child_pid), ("Kid", pid), "{method}");
        assert_eq!(parent, Some(("MainProcess".to_string(), std::process::id())), "{method}");
    }
}

#[test]
fn children_of_children_are_named_n_colon_m() {
    for method in StartMethod::ALL {
        let mut p = Context::new(method).process(grandchild, method);
        let n: u32 = p.name().strip_prefix("Process-").unwrap().parse().unwrap();
        p.start().unwrap();
        let ((child_name, child_pid, _), (grand_name, _, grand_parent)) = p.join().unwrap();
        assert_eq!(child_name, format!("Process-{n}"), "{method}");
        assert_eq!(grand_name, format!("Process-{n}:1"), "{method}");
        assert_eq!(grand_parent, Some((child_name, child_pid)), "{method}");
    }
}

#[test]
fn active_children_lists_running_children_only() {
    for method in StartMethod::ALL {
        let mut p = Context::new(method)
            .process(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 400);
        p.start().unwrap();
        let pid = p.pid().unwrap();
        let active = active_children();
        assert!(active.iter().any(|c| c.pid == pid && c.name == p.name()), "{method}: {active:?}");
        p.join().unwrap();
        assert!(active_children().iter().all(|c| c.pid != pid), "{method}");
    }
}

#[test]
fn a_daemonic_process_cannot_have_children() {
    fn try_child(_: ()) -> String {
        let mut p = Process::new(|x: u8| x, 1);
        p.start().map(|()| "started".to_string()).unwrap_or_else(|e| e.to_string())
    }
    let mut p = Process::new(try_child, ()).with_daemon(true).unwrap();
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), "daemonic processes are not allowed to have children");
}
