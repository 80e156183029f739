//! The `u32` in front of every record: its length, what it is, and the caller's kind.
//!
//! Bits 0–3: the kind (0..=15). Bits 4–5: the tag ([`Tag`]). Bits 6–31: the length of the
//! bytes that follow (below 64 MiB). A record takes `4 + len` bytes rounded up to
//! [`RECORD_ALIGN`]; a padding record has length 0 and takes the rest of the data area.

use crate::sys::RECORD_ALIGN;

/// The largest kind.
pub(super) const MAX_KIND: u8 = 15;

/// The largest length a header can carry.
pub(super) const MAX_LEN: usize = (1 << 26) - 1;

const TAG_SHIFT: u32 = 4;
const LEN_SHIFT: u32 = 6;

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tag {
    /// The record's bytes.
    Inline = 0,
    /// A notice of the bytes staged in a shared-memory region.
    Staged = 1,
    /// Nothing: the records go on at the start of the data area.
    Padding = 2,
    /// A record still being appended to: its length is what is committed so far. Never
    /// published; read only after the writer is gone (see `RingWriter::open`).
    Open = 3,
}

/// The header of a record. `kind` and `len` must be in range.
#[inline]
pub(super) fn encode(tag: Tag, kind: u8, len: usize) -> u32 {
    debug_assert!(kind <= MAX_KIND && len <= MAX_LEN);
    // `len <= MAX_LEN` fits in 26 bits.
    ((len as u32) << LEN_SHIFT) | ((tag as u32) << TAG_SHIFT) | u32::from(kind)
}

/// Tag, kind and length of a header; `None` for an unknown tag or a padding with a length.
#[inline]
pub(super) fn decode(header: u32) -> Option<(Tag, u8, u64)> {
    let kind = (header & 0xf) as u8;
    let len = u64::from(header >> LEN_SHIFT);
    let tag = match (header >> TAG_SHIFT) & 0b11 {
        0 => Tag::Inline,
        1 => Tag::Staged,
        2 if len == 0 => Tag::Padding,
        2 => return None,
        _ => Tag::Open,
    };
    Some((tag, kind, len))
}

/// Bytes a record of `len` bytes takes in the ring (header and alignment included).
#[inline]
pub(super) fn size(len: u64) -> u64 {
    (len + 4).next_multiple_of(RECORD_ALIGN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        for (tag, kind, len) in [
            (Tag::Inline, 0, 0),
            (Tag::Inline, 15, MAX_LEN),
            (Tag::Staged, 3, 16),
            (Tag::Padding, 0, 0),
            (Tag::Open, 2, 100),
        ] {
            assert_eq!(decode(encode(tag, kind, len)), Some((tag, kind, len as u64)));
        }
    }

    #[test]
    fn bad_headers_are_refused() {
        assert_eq!(decode((2 << TAG_SHIFT) | (8 << LEN_SHIFT)), None, "padding with a length");
    }

    #[test]
    fn sizes_are_aligned() {
        assert_eq!([0, 4, 5, 8, 12, 13].map(size), [8, 8, 16, 16, 16, 24]);
    }
}
