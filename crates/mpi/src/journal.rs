//! The in-flight journal: rank 0 appends a line for every task batch it sends and every
//! result batch it receives, so that when a worker rank dies — and the MPI runtime takes
//! rank 0 down with it — the supervisor can still say which tasks were lost.
//!
//! ```text
//! N <size>                    the job's number of ranks, first thing
//! H <rank>                    a worker rank said hello at start-up
//! W <rank> <pid> <host>       a worker rank, written once at start-up
//! S <rank> <batch> <items> <job>:<start>-<end>...
//!                             a task batch went to <rank>: items start..end of each job
//! R <rank> <batch>            its results came back
//! K <rank>                    the rank's link was dropped (its batches failed in rank 0)
//! P 0 <message>               rank 0 panicked (what was in flight then is what it lost)
//! ```

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use mpi::Rank;

use multiproc_pool::ItemRange;

use crate::world::WorkerRank;

/// The environment variable that names the journal file (set by the supervisor).
pub const JOURNAL_ENV: &str = "MULTIPROC_MPI_JOURNAL";

/// Rank 0's writer: one unbuffered line per event, so that a kill loses nothing.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    line: String,
}

impl Journal {
    /// The journal the supervisor asked for, if any: the file it created (on this host),
    /// or else a new one; never a file another user made or could read.
    pub(crate) fn from_env() -> Option<Journal> {
        let path = std::env::var_os(JOURNAL_ENV)?;
        let file = match create(Path::new(&path)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let file = open(Path::new(&path), OpenOptions::new().append(true)).ok()?;
                private(&file).ok()?;
                file
            }
            Err(_) => return None,
        };
        Some(Journal { file, line: String::new() })
    }

    /// The worker ranks, once, at start-up.
    pub(crate) fn workers(&mut self, workers: &[WorkerRank]) {
        for w in workers {
            self.write(format_args!("W {} {} {}\n", w.rank, w.pid, w.host));
        }
    }

    /// The job has `size` ranks (before the hellos).
    pub(crate) fn size(&mut self, size: usize) {
        self.write(format_args!("N {size}\n"));
    }

    /// Worker rank `rank` said hello at start-up.
    pub(crate) fn hello(&mut self, rank: Rank) {
        self.write(format_args!("H {rank}\n"));
    }

    /// A task batch of `items` items went to `rank`, holding the job items `ranges`.
    pub(crate) fn sent(&mut self, rank: Rank, batch: u64, items: usize, ranges: &[ItemRange]) {
        self.write(format_args!("S {rank} {batch} {items}{}\n", Held(ranges)));
    }

    /// Rank 0 panicked with `message`.
    pub(crate) fn panicked(&mut self, message: &str) {
        self.write(format_args!("P 0 {}\n", message.replace('\n', " ")));
    }

    /// A result batch came back from `rank`.
    pub(crate) fn received(&mut self, rank: Rank, batch: u64) {
        self.write(format_args!("R {rank} {batch}\n"));
    }

    /// `rank`'s link was dropped.
    pub(crate) fn dropped(&mut self, rank: Rank) {
        self.write(format_args!("K {rank}\n"));
    }

    fn write(&mut self, args: std::fmt::Arguments<'_>) {
        use std::fmt::Write as _;
        self.line.clear();
        let _ = self.line.write_fmt(args);
        let _ = self.file.write_all(self.line.as_bytes());
    }
}

/// The job items of a sent batch as a journal line lists them: ` job:start-end` each.
struct Held<'a>(&'a [ItemRange]);

impl std::fmt::Display for Held<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|r| write!(f, " {}:{}-{}", r.job, r.start, r.end))
    }
}

/// A task batch that was sent and never answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// The scheduler's batch number.
    pub batch: u64,
    /// How many tasks it held.
    pub items: usize,
    /// Which items of which jobs they were.
    pub ranges: Vec<ItemRange>,
}

/// Rank 0 panicked: its message, and the batches each rank held at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked {
    /// The panic's message and location.
    pub message: String,
    /// The batches in flight, by rank, when it panicked.
    pub in_flight: Vec<(Rank, Vec<InFlight>)>,
}

/// What a journal says: the worker ranks, and the batches each held when it was written
/// last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Replay {
    pub workers: Vec<WorkerRank>,
    pub in_flight: BTreeMap<Rank, Vec<InFlight>>,
    /// The worker ranks that never said hello, when the journal says how many there are.
    pub silent: Vec<Rank>,
    /// Rank 0's first panic.
    pub panicked: Option<Panicked>,
}

/// Replays the journal at `path`.
pub(crate) fn replay(path: &Path) -> io::Result<Replay> {
    let mut file = open(path, OpenOptions::new().read(true))?;
    private(&file)?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(replay_text(&text))
}

/// Creates a journal file: a new file (`O_EXCL`, never through a symbolic link), readable
/// and writable by this user only.
pub(crate) fn create(path: &Path) -> io::Result<File> {
    open(path, OpenOptions::new().append(true).create_new(true).mode(0o600))
}

/// Opens `path` with `options`, never through a symbolic link.
fn open(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)
}

/// Checks that `file` is a regular file of this user that nobody else may read or write.
fn private(file: &File) -> io::Result<()> {
    let meta = file.metadata()?;
    let me = std::fs::metadata("/proc/self")?.uid();
    if !meta.is_file() || meta.uid() != me || meta.mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the journal is not a private file of this user",
        ));
    }
    Ok(())
}

/// `job:start-end` words.
fn ranges(words: &str) -> Vec<ItemRange> {
    let range = |w: &str| {
        let (job, items) = w.split_once(':')?;
        let (start, end) = items.split_once('-')?;
        Some(ItemRange {
            job: job.parse().ok()?,
            start: start.parse().ok()?,
            end: end.parse().ok()?,
        })
    };
    words.split(' ').filter_map(range).collect()
}

fn replay_text(text: &str) -> Replay {
    let mut replay = Replay::default();
    let held = &mut replay.in_flight;
    let mut size = None;
    let mut hellos = std::collections::BTreeSet::new();
    for line in text.lines() {
        // The last field takes the rest of the line: a host name, the job items, a message.
        let fields = if line.starts_with("S ") { 5 } else { 4 };
        let mut words = line.splitn(fields, ' ');
        let kind = words.next();
        let Some(Ok(rank)) = words.next().map(str::parse::<Rank>) else { continue };
        match kind {
            Some("N") => size = Some(rank),
            Some("H") => {
                hellos.insert(rank);
            }
            _ => {}
        }
        let mut number = || words.next().and_then(|w| w.parse::<u64>().ok());
        match kind {
            Some("W") => {
                if let Some(pid) = number() {
                    let host = words.next().unwrap_or("?").to_string();
                    replay.workers.push(WorkerRank { rank, host, pid: pid as u32 });
                }
            }
            Some("S") => {
                if let (Some(batch), Some(items)) = (number(), number()) {
                    let ranges = words.next().map_or_else(Vec::new, ranges);
                    let items = items as usize;
                    held.entry(rank).or_default().push(InFlight { batch, items, ranges });
                }
            }
            Some("P") if replay.panicked.is_none() => {
                let message = words.collect::<Vec<_>>().join(" ");
                let in_flight = held
                    .iter()
                    .filter(|(_, list)| !list.is_empty())
                    .map(|(rank, list)| (*rank, list.clone()))
                    .collect();
                replay.panicked = Some(Panicked { message, in_flight });
            }
            Some("R") => {
                if let (Some(batch), Some(list)) = (number(), held.get_mut(&rank)) {
                    list.retain(|b| b.batch != batch);
                }
            }
            Some("K") => {
                held.remove(&rank);
            }
            _ => {}
        }
    }
    held.retain(|_, list| !list.is_empty());
    replay.silent = (1..size.unwrap_or(0)).filter(|r| !hellos.contains(r)).collect();
    replay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_what_was_sent_and_not_answered() {
        let r = replay_text(
            "W 1 400 h1\nW 2 401 h2 b\nS 1 7 250\nS 2 8 250\nR 1 7\nS 1 9 100\nS 2 10 5\nK 2\n",
        );
        assert_eq!(r.workers[0], WorkerRank { rank: 1, host: "h1".into(), pid: 400 });
        assert_eq!(r.workers[1].host, "h2 b");
        assert_eq!(r.in_flight[&1], [InFlight { batch: 9, items: 100, ranges: vec![] }]);
        assert!(!r.in_flight.contains_key(&2));
    }

    #[test]
    fn replay_names_the_job_items_and_what_was_held_when_rank_0_panicked() {
        let r = replay_text(
            "S 1 7 3 0:4-6 2:9-10\nS 2 8 1 2:11-12\nR 2 8\nP 0 panicked at a.rs:1:1: no\nK 1\n",
        );
        let held =
            vec![ItemRange { job: 0, start: 4, end: 6 }, ItemRange { job: 2, start: 9, end: 10 }];
        assert!(r.in_flight.is_empty(), "the kills after the panic");
        let p = r.panicked.unwrap();
        assert_eq!(p.message, "panicked at a.rs:1:1: no");
        assert_eq!(p.in_flight, [(1, vec![InFlight { batch: 7, items: 3, ranges: held }])]);
    }

    #[test]
    fn a_journal_is_private_and_never_follows_a_link() {
        let dir = std::env::temp_dir().join(format!("multiproc-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("j");
        let file = create(&path).unwrap();
        assert_eq!(file.metadata().unwrap().mode() & 0o777, 0o600);
        assert_eq!(create(&path).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        let link = dir.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(create(&link).is_err(), "created through a link");
        assert!(replay(&link).is_err(), "read through a link");
        std::fs::write(dir.join("open"), "W 1 2 h\n").unwrap();
        assert!(replay(&dir.join("open")).is_err(), "read a file others may write");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ranks_that_never_said_hello_are_named() {
        assert_eq!(replay_text("N 4\nH 3\nH 1\n").silent, [2]);
        assert_eq!(replay_text("N 3\nH 1\nH 2\nW 1 2 h\n").silent, Vec::<Rank>::new());
        assert_eq!(replay_text("H 1\n").silent, Vec::<Rank>::new(), "no size, no guess");
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let r = replay_text("S x 1 2\nS 1\nR\n\nS 1 3 4\nZ 1 2\n");
        assert_eq!(r.in_flight[&1], [InFlight { batch: 3, items: 4, ranges: vec![] }]);
    }
}
