//! [`Bar`]: a progress bar on stderr for one job (cargo feature `progress`), drawn with
//! indicatif as the job's results arrive — a run of answers at a time, failures counted
//! apart. Nothing is drawn when stderr is not a terminal.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::answers::Answers;
use crate::backend::Answer;
use crate::error::TaskError;
use crate::sink::Sink;

/// A job's sink that moves a progress bar as outcomes pass through it.
pub(crate) struct Bar {
    inner: Arc<dyn Sink>,
    bar: ProgressBar,
    failed: AtomicU64,
}

impl Bar {
    /// A bar on stderr over the outcomes of `inner`'s job of `len` items (`None`:
    /// unknown).
    pub(crate) fn stderr(inner: Arc<dyn Sink>, len: Option<usize>) -> Bar {
        Bar::new(inner, len, ProgressDrawTarget::stderr())
    }

    fn new(inner: Arc<dyn Sink>, len: Option<usize>, target: ProgressDrawTarget) -> Bar {
        let (bar, template) = match len {
            Some(n) => (
                ProgressBar::with_draw_target(Some(n as u64), target),
                "{wide_bar} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}] {msg}",
            ),
            None => (
                ProgressBar::with_draw_target(None, target),
                "{spinner} {pos} [{elapsed_precise}, {per_sec}] {msg}",
            ),
        };
        // The templates above are valid: a failure here is a bug caught by the tests.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        Bar { inner, bar, failed: AtomicU64::new(0) }
    }

    /// `n` more items ended, `failed` of them failures.
    fn advance(&self, n: usize, failed: usize) {
        if failed > 0 {
            let all = self.failed.fetch_add(failed as u64, Ordering::Relaxed) + failed as u64;
            self.bar.set_message(format!("{all} failed"));
        }
        self.bar.inc(n as u64);
        if self.bar.length().is_some_and(|len| self.bar.position() >= len) {
            self.bar.finish();
        }
    }
}

impl Sink for Bar {
    fn deliver(&self, first: usize, answers: &mut Answers<'_>) {
        let n = answers.len();
        let failed = answers.clone().filter(|a| matches!(a, Answer::Failed(_))).count();
        self.inner.deliver(first, answers);
        self.advance(n, failed);
    }

    fn fail(&self, index: usize, error: TaskError) {
        self.inner.fail(index, error);
        self.advance(1, 1);
    }
}

impl Drop for Bar {
    /// A job that ends without every item (cancelled, input of unknown length) leaves its
    /// bar where it stopped.
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use multiproc_codec::{FailedItem, What, encode};

    use super::*;

    /// Records what reaches it: (first index, failures).
    #[derive(Default)]
    struct Record(Mutex<Vec<(usize, usize)>>);

    impl Sink for Record {
        fn deliver(&self, first: usize, answers: &mut Answers<'_>) {
            let failed = answers.filter(|a| matches!(a, Answer::Failed(_))).count();
            self.0.lock().unwrap().push((first, failed));
        }
        fn fail(&self, index: usize, _error: TaskError) {
            self.0.lock().unwrap().push((index, 1));
        }
    }

    #[test]
    fn the_bar_counts_every_outcome_and_failures_apart() {
        let record = Arc::new(Record::default());
        let bar = Bar::new(record.clone(), Some(4), ProgressDrawTarget::hidden());
        let mut value = Vec::new();
        encode(&7u32, What::Result, &mut value).unwrap();
        let answers = [Answer::Value(&value), Answer::Failed(FailedItem::new(b"x"))];
        bar.deliver(0, &mut Answers::list(&answers));
        assert_eq!((bar.bar.position(), bar.bar.message()), (2, "1 failed".to_string()));
        bar.fail(2, TaskError::Cancelled);
        assert_eq!((bar.bar.position(), bar.bar.message()), (3, "2 failed".to_string()));
        assert!(!bar.bar.is_finished());
        bar.deliver(3, &mut Answers::list(&answers[..1]));
        assert!(bar.bar.is_finished(), "the bar ends with the job's last item");
        assert_eq!(*record.0.lock().unwrap(), [(0, 1), (2, 1), (3, 0)]);
    }
}
