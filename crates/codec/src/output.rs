//! [`Output`]: where the value encoder writes — a growing `Vec<u8>`, or a fixed buffer
//! ([`Fixed`]: a slot of a ring in shared memory) that notes when it ran out of room.

/// The subset of `Vec<u8>`'s API the encoder writes through.
pub(crate) trait Output {
    fn len(&self) -> usize;
    fn push(&mut self, byte: u8);
    fn extend_from_slice(&mut self, bytes: &[u8]);
    fn truncate(&mut self, len: usize);
    fn reserve(&mut self, additional: usize);
    /// The bytes written.
    fn written(&mut self) -> &mut [u8];
    /// The vector, for a large `Bytes` to be kept by reference (see `out_of_band`).
    fn vec(&self) -> Option<&Vec<u8>>;
}

impl Output for Vec<u8> {
    #[inline(always)]
    fn len(&self) -> usize {
        Vec::len(self)
    }

    #[inline(always)]
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }

    #[inline(always)]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }

    #[inline(always)]
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }

    #[inline(always)]
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }

    #[inline(always)]
    fn written(&mut self) -> &mut [u8] {
        self
    }

    #[inline(always)]
    fn vec(&self) -> Option<&Vec<u8>> {
        Some(self)
    }
}

/// A buffer of fixed size. Writes past its end are dropped but counted: the value fits if
/// what is left once it is encoded does (the integer writer writes a fixed-size block and
/// cuts it back, which may reach past the end of a value that fits).
#[derive(Debug)]
pub(crate) struct Fixed<'a> {
    buf: &'a mut [u8],
    /// Bytes written, counting those dropped.
    len: usize,
}

impl<'a> Fixed<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Fixed<'a> {
        Fixed { buf, len: 0 }
    }

    /// Whether what was written does not fit.
    pub(crate) fn overflowed(&self) -> bool {
        self.len > self.buf.len()
    }
}

impl Output for Fixed<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
        }
        self.len += 1;
    }

    #[inline(always)]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let end = self.len + n;
        match self.buf.get_mut(self.len..end) {
            // Short writes (integers, small strings) as two moves of a fixed size that
            // overlap: a copy of variable length is a call to `memcpy`.
            Some(slots) if (8..=16).contains(&n) => {
                slots[..8].copy_from_slice(&bytes[..8]);
                slots[n - 8..].copy_from_slice(&bytes[n - 8..]);
            }
            Some(slots) if (4..8).contains(&n) => {
                slots[..4].copy_from_slice(&bytes[..4]);
                slots[n - 4..].copy_from_slice(&bytes[n - 4..]);
            }
            Some(slots) => slots.copy_from_slice(bytes),
            None => {
                let room = self.buf.len().saturating_sub(self.len);
                if room > 0 {
                    self.buf[self.len..].copy_from_slice(&bytes[..room]);
                }
            }
        }
        self.len = end;
    }

    #[inline(always)]
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    #[inline(always)]
    fn reserve(&mut self, _additional: usize) {}

    #[inline(always)]
    fn written(&mut self) -> &mut [u8] {
        let len = self.len.min(self.buf.len());
        &mut self.buf[..len]
    }

    #[inline(always)]
    fn vec(&self) -> Option<&Vec<u8>> {
        None
    }
}
