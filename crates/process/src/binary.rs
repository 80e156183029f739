//! This executable's [`BinaryFingerprint`]: the GNU build id the linker wrote, else a hash
//! of the file's identity (device, inode, size, modification time).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use multiproc_codec::{BinaryFingerprint, Hasher64};

/// The fingerprint of the running executable, computed once.
pub(crate) fn fingerprint() -> BinaryFingerprint {
    static FP: OnceLock<BinaryFingerprint> = OnceLock::new();
    *FP.get_or_init(|| {
        let mut h = Hasher64::new();
        match build_id() {
            Some(id) => {
                h.write(b"build-id");
                h.write(&id);
            }
            None => {
                h.write(b"file");
                if let Ok(m) = std::fs::metadata("/proc/self/exe") {
                    for v in [m.dev(), m.ino(), m.size(), m.mtime() as u64, m.mtime_nsec() as u64] {
                        h.write_u64(v);
                    }
                }
            }
        }
        BinaryFingerprint(h.finish())
    })
}

/// Whether the process `pid` runs this very executable file (same device and inode).
pub(crate) fn same_executable(pid: u32) -> bool {
    let theirs = std::fs::metadata(format!("/proc/{pid}/exe"));
    match (std::fs::metadata("/proc/self/exe"), theirs) {
        (Ok(mine), Ok(theirs)) => (mine.dev(), mine.ino()) == (theirs.dev(), theirs.ino()),
        _ => false,
    }
}

fn le_u16(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn le_u32(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the `NT_GNU_BUILD_ID` note of a 64-bit little-endian ELF executable.
fn build_id() -> Option<Vec<u8>> {
    let mut f = File::open("/proc/self/exe").ok()?;
    let mut eh = [0u8; 64];
    f.read_exact(&mut eh).ok()?;
    if &eh[..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return None;
    }
    let phoff = le_u64(&eh, 32)?;
    let phentsize = le_u16(&eh, 54)?;
    let phnum = le_u16(&eh, 56)?;
    let mut ph = vec![0u8; phentsize.checked_mul(phnum)?.min(64 * 1024)];
    f.seek(SeekFrom::Start(phoff)).ok()?;
    f.read_exact(&mut ph).ok()?;
    for i in 0..phnum {
        let p = ph.get(i * phentsize..(i + 1) * phentsize)?;
        if le_u32(p, 0)? != 4 {
            continue; // not PT_NOTE
        }
        let (off, size) = (le_u64(p, 8)?, le_u64(p, 32)? as usize);
        let mut notes = vec![0u8; size.min(64 * 1024)];
        f.seek(SeekFrom::Start(off)).ok()?;
        f.read_exact(&mut notes).ok()?;
        let mut at = 0;
        while at + 12 <= notes.len() {
            let (namesz, descsz, kind) =
                (le_u32(&notes, at)?, le_u32(&notes, at + 4)?, le_u32(&notes, at + 8)?);
            let name_at = at + 12;
            let desc_at = name_at + namesz.div_ceil(4) * 4;
            let next = desc_at + descsz.div_ceil(4) * 4;
            if kind == 3 && notes.get(name_at..name_at + namesz)? == b"GNU\0" {
                return notes.get(desc_at..desc_at + descsz).map(<[u8]>::to_vec);
            }
            at = next;
        }
    }
    None
}
