//! [`Hasher64`]: a small, fast, deterministic 64-bit hash for checksums and fingerprints.

/// A deterministic 64-bit hash, eight bytes per step.
///
/// Not cryptographic: it detects corruption and tells types and builds apart. The same
/// input gives the same value in every process and on every run, unlike std's
/// `RandomState`.
///
/// ```
/// use multiproc_codec::Hasher64;
///
/// let mut h = Hasher64::new();
/// h.write(b"multiproc");
/// let a = h.finish();
/// let mut h = Hasher64::new();
/// h.write(b"multiproc");
/// assert_eq!(a, h.finish());
/// ```
#[derive(Debug, Clone)]
pub struct Hasher64 {
    state: u64,
    len: u64,
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher64 {
    /// A hasher with the fixed starting state.
    pub fn new() -> Hasher64 {
        Hasher64 { state: 0x243F_6A88_85A3_08D3, len: 0 }
    }

    #[inline]
    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word).wrapping_mul(K).rotate_left(29);
    }

    /// Feeds bytes: four independent lanes of eight bytes per step, folded at the end,
    /// so long tables hash at several bytes per cycle.
    #[inline]
    pub fn write(&mut self, bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u64);
        let mut blocks = bytes.chunks_exact(32);
        if bytes.len() >= 32 {
            let mut lanes = [self.state, self.state ^ K, self.state.rotate_left(17), !self.state];
            for b in &mut blocks {
                for (lane, w) in lanes.iter_mut().zip(b.chunks_exact(8)) {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(w);
                    *lane = (*lane ^ u64::from_le_bytes(word)).wrapping_mul(K).rotate_left(29);
                }
            }
            for lane in lanes {
                self.mix(lane);
            }
        }
        let mut chunks = blocks.remainder().chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ 0xFF);
        }
    }

    /// Feeds one integer.
    #[inline]
    pub fn write_u64(&mut self, v: u64) {
        self.len = self.len.wrapping_add(8);
        self.mix(v);
    }

    /// The hash of everything fed so far.
    pub fn finish(&self) -> u64 {
        let mut h = self.state ^ self.len.wrapping_mul(K);
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^ (h >> 33)
    }
}

impl Default for Hasher64 {
    fn default() -> Hasher64 {
        Hasher64::new()
    }
}

impl std::hash::Hasher for Hasher64 {
    fn finish(&self) -> u64 {
        Hasher64::finish(self)
    }
    fn write(&mut self, bytes: &[u8]) {
        Hasher64::write(self, bytes)
    }
    // A key of integers (a job's number, a function's identity) is one step per field
    // instead of going through the byte path.
    fn write_u64(&mut self, v: u64) {
        Hasher64::write_u64(self, v)
    }
}
