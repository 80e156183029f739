//! Send file paths, not file contents: four 8 MiB files digested by workers that open
//! them themselves, timed against a parent that reads the files and ships the bytes.
//!
//! Python twin: the programming guideline "tell the process how to get the data instead
//! of sending it" — `pool.map(digest_file, paths)` rather than
//! `pool.map(digest, [open(p, "rb").read() for p in paths])`.
//!
//! Run: `cargo run --release --example pool_pass_paths`

use std::path::PathBuf;
use std::time::Instant;

use multiproc::Bytes;
use multiproc::pool::Pool;

const MIB: usize = 1 << 20;

fn digest(data: &[u8]) -> u64 {
    let words = data.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap()));
    words.fold(0, |h, w| (h.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn digest_file(path: PathBuf) -> u64 {
    digest(&std::fs::read(path).expect("the worker reads its own file"))
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
    let files = TempFiles(
        (0..4).map(|i| dir.join(format!("multiproc-{}-{i}.bin", std::process::id()))).collect(),
    );
    for (i, path) in files.0.iter().enumerate() {
        std::fs::write(path, (0..8 * MIB).map(|b| (b * 31 + i) as u8).collect::<Vec<u8>>())?;
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
    println!("digests agree: {:016x?}", by_path);
    Ok(())
}
