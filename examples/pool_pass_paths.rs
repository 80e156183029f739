//! Send file paths, not file contents: workers open four 8 MiB files themselves (timed
//! against a parent that reads them and ships the bytes), and a missing file comes back
//! as its own task's failure — the task returns `io::Result<u64>`.
//!
//! Python twin: "tell the process how to get the data instead of sending it" —
//! `pool.map(digest_file, paths)`, not `pool.map(digest, [open(p).read() for p in paths])`.
//!
//! Run: `cargo run --release --example pool_pass_paths`

use std::path::PathBuf;
use std::time::Instant;

use multiproc::prelude::*;

fn digest(data: &[u8]) -> u64 {
    let words = data.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap()));
    words.fold(0, |h, w| (h.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn digest_file(path: PathBuf) -> std::io::Result<u64> {
    Ok(digest(&std::fs::read(path)?))
}

/// Temp files that remove themselves, even when the example fails half-way.
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        self.0.iter().for_each(|p| _ = std::fs::remove_file(p));
    }
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir();
    let files =
        TempFiles((0..4).map(|i| dir.join(format!("mp-{}-{i}", std::process::id()))).collect());
    for (i, path) in files.0.iter().enumerate() {
        std::fs::write(path, (0..8 << 20).map(|b| (b * 31 + i) as u8).collect::<Vec<u8>>())?;
    }
    let pool = Pool::new(2)?;
    pool.map(|d: Bytes| d.len(), [Bytes::new()])?; // not timed: start the workers

    let t = Instant::now();
    let by_path = pool.map(digest_file, files.0.clone())?;
    println!("workers open the paths:           {:>6.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let contents: Vec<Bytes> =
        files.0.iter().map(|p| Ok(std::fs::read(p)?.into())).collect::<anyhow::Result<_>>()?;
    let by_bytes = pool.map(|d: Bytes| digest(&d), contents)?;
    println!("parent reads, sends 4 x 8 MiB:    {:>6.1} ms", t.elapsed().as_secs_f64() * 1e3);
    anyhow::ensure!(by_path == by_bytes, "the same digests either way");

    let mut paths = files.0.clone();
    paths.insert(1, dir.join("no-such-file"));
    let outcomes = pool.map_results(digest_file, paths)?;
    let Err(TaskError::Failed(missing)) = &outcomes[1] else { anyhow::bail!("{outcomes:?}") };
    anyhow::ensure!(missing.is::<std::io::Error>() && outcomes.iter().flatten().count() == 4);
    println!("a missing file fails its own task: {}: {missing}", missing.type_name());
    Ok(())
}
