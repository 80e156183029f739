//! No zombies and no leaked descriptors after 200 start/join cycles per start method.
//!
//! This file holds one test: descriptor and zombie counts are process-wide, so no other
//! test may run beside it in the same binary.

use multiproc::{Context, StartMethod};

mod common;
use common::{open_fds, zombies};

#[test]
fn two_hundred_cycles_leave_no_zombie_and_no_descriptor() {
    for method in StartMethod::ALL {
        let ctx = Context::new(method);
        // Warm up: the fork server and launcher thread are started once and kept.
        let mut p = ctx.process(|x: u32| x, 0);
        p.start().unwrap();
        p.join().unwrap();
        let before = open_fds();
        for i in 0..200u32 {
            let mut p = ctx.process(|x: u32| x + 1, i);
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), i + 1);
        }
        assert_eq!(open_fds(), before, "{method}: descriptors leaked");
        assert_eq!(zombies(), Vec::<u32>::new(), "{method}: zombies");
    }
}
