//! Integers on the wire, and every length and enum tag: one byte for a value below
//! [`SMALL`] (240), else a tag byte `0xF0 + (n - 1)` followed by the value's `n` bytes,
//! little-endian, `n` as small as it can be.
//!
//! Why not postcard's LEB128 (7 bits a byte, a continuation bit in each): every integer
//! of every item goes through here, millions of times a second, and LEB128 has to be
//! taken apart and put together 7 bits at a time. Measured under callgrind, a six-byte
//! LEB128 `u64` cost about 40 instructions to write and 60 to read even written a word at
//! a time; here the length is in the first byte, the bytes are the value's own, and a
//! value takes a comparison, a fixed-size store and a truncation to write, and a
//! comparison and one or two fixed-size loads to read. Small values stay one byte, as
//! in LEB128; larger ones take about the same room (a `u64` at most 9 bytes, not 10). The
//! format is private to one binary talking to itself, so nothing else has to read it.
//!
//! The encoding is canonical: the decoder refuses a value written with more bytes than
//! it needs, or in more bytes than its type has, so every accepted input is exactly what
//! the encoder writes for the value it decodes to.

use crate::error::SerdeError;
use crate::output::Output;

/// Values below this are one byte: themselves.
pub(crate) const SMALL: u8 = 0xF0;

/// The most bytes after the tag of a `u16`, `u32`, `u64`.
pub(crate) const BYTES_16: usize = 2;
/// See [`BYTES_16`].
pub(crate) const BYTES_32: usize = 4;
/// See [`BYTES_16`].
pub(crate) const BYTES_64: usize = 8;
/// The most bytes after the tag of a `u128`.
const BYTES_128: usize = 16;

/// Appends `value`.
#[inline(always)]
pub(crate) fn push_u64(out: &mut impl Output, value: u64) {
    if value < u64::from(SMALL) {
        out.push(value as u8);
    } else {
        push_u64_tagged(out, value);
    }
}

/// Appends a `value` of at least [`SMALL`]: its tag and little-endian bytes, built in a
/// register as one word (tag in the low byte, the value's low 7 bytes above it) and stored
/// whole, then cut to length. (A block built in memory a byte and a word at a time, then
/// read back as one word, stalls the load on the two stores it spans: a third of the
/// encoder's time on the pool's per-item path.)
#[inline]
fn push_u64_tagged(out: &mut impl Output, value: u64) {
    let n = bytes_of(u64::BITS - value.leading_zeros());
    let word = (value << 8) | u64::from(SMALL + (n as u8 - 1));
    let start = out.len();
    out.extend_from_slice(&word.to_le_bytes());
    if n == BYTES_64 {
        out.push((value >> 56) as u8);
    } else {
        out.truncate(start + 1 + n);
    }
}

/// How many bytes `value` needs (at least 1).
#[inline(always)]
fn bytes_of(bits: u32) -> usize {
    (bits as usize).div_ceil(8).max(1)
}

/// The encoding of `value` at the front of a block of fixed size, and its length.
#[inline(always)]
pub(crate) fn block_u64(value: u64) -> ([u8; 1 + BYTES_64], usize) {
    let mut block = [0u8; 1 + BYTES_64];
    if value < u64::from(SMALL) {
        block[0] = value as u8;
        return (block, 1);
    }
    let n = bytes_of(u64::BITS - value.leading_zeros());
    block[0] = SMALL + (n as u8 - 1);
    block[1..].copy_from_slice(&value.to_le_bytes());
    (block, 1 + n)
}

/// Appends `value`.
#[inline]
pub(crate) fn push_u128(out: &mut impl Output, value: u128) {
    if let Ok(value) = u64::try_from(value) {
        return push_u64(out, value);
    }
    // More than 64 bits: rare, one block of the longest size.
    let n = bytes_of(u128::BITS - value.leading_zeros());
    let mut block = [0u8; 1 + BYTES_128];
    block[0] = SMALL + (n as u8 - 1);
    block[1..].copy_from_slice(&value.to_le_bytes());
    let start = out.len();
    out.extend_from_slice(&block);
    out.truncate(start + 1 + n);
}

/// Reads an integer of at most `MAX` bytes after its tag (at most 8) from the front of
/// `input`, and advances `input` past it. `ty` names the integer type in errors.
#[inline(always)]
pub(crate) fn read<const MAX: usize>(
    input: &mut &[u8],
    ty: &'static str,
) -> Result<u64, SerdeError> {
    match input.split_first() {
        Some((&first, rest)) if first < SMALL => {
            *input = rest;
            Ok(u64::from(first))
        }
        Some((&tag, rest)) => read_tagged::<MAX>(input, tag, rest, ty),
        None => Err(SerdeError::UnexpectedEnd),
    }
}

/// [`read`] past its one-byte case: `tag` says how many of `rest`'s bytes hold the value.
#[inline]
fn read_tagged<'a, const MAX: usize>(
    input: &mut &'a [u8],
    tag: u8,
    rest: &'a [u8],
    ty: &'static str,
) -> Result<u64, SerdeError> {
    const { assert!(MAX <= BYTES_64) };
    let n = usize::from(tag - SMALL) + 1;
    if n > MAX {
        return Err(SerdeError::VarintTooLong(ty));
    }
    let (bytes, after) = rest.split_at_checked(n).ok_or(SerdeError::UnexpectedEnd)?;
    let value = if let Some(word) = rest.first_chunk::<8>() {
        // Within a larger input: one load, the bytes past the value masked off.
        u64::from_le_bytes(*word) & (u64::MAX >> (64 - 8 * n))
    } else {
        le_bytes(bytes)
    };
    if value < minimum(n) {
        return Err(SerdeError::VarintNotMinimal(ty));
    }
    *input = after;
    Ok(value)
}

/// The smallest value written with `n` bytes after the tag, for `n` of 1 to 8 (looked up:
/// this is on the path of every value read).
#[inline(always)]
fn minimum(n: usize) -> u64 {
    const MINIMUM: [u64; BYTES_64 + 1] = {
        let mut table = [0; BYTES_64 + 1];
        table[1] = SMALL as u64;
        let mut n = 2;
        while n <= BYTES_64 {
            table[n] = 1 << (8 * (n - 1));
            n += 1;
        }
        table
    };
    MINIMUM[n]
}

/// The little-endian value of 1 to 8 bytes, read with one or two loads of fixed size.
#[inline(always)]
fn le_bytes(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    if let (Some(low), Some(high)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        // 4 to 8 bytes: two loads that overlap.
        let (low, high) = (u32::from_le_bytes(*low), u32::from_le_bytes(*high));
        u64::from(low) | u64::from(high) << (8 * (len - 4))
    } else if let (Some(low), Some(high)) = (bytes.first_chunk::<2>(), bytes.last_chunk::<2>()) {
        // 2 or 3 bytes.
        let (low, high) = (u16::from_le_bytes(*low), u16::from_le_bytes(*high));
        u64::from(low) | u64::from(high) << (8 * (len - 2))
    } else {
        bytes.first().map_or(0, |&b| u64::from(b))
    }
}

/// Reads a `u128` (or a zigzagged `i128`, named `ty` in errors).
#[inline]
pub(crate) fn read_u128(input: &mut &[u8], ty: &'static str) -> Result<u128, SerdeError> {
    let (&tag, rest) = input.split_first().ok_or(SerdeError::UnexpectedEnd)?;
    if tag < SMALL || usize::from(tag - SMALL) < BYTES_64 {
        return read::<BYTES_64>(input, ty).map(u128::from);
    }
    let n = usize::from(tag - SMALL) + 1;
    let (bytes, after) = rest.split_at_checked(n).ok_or(SerdeError::UnexpectedEnd)?;
    let mut word = [0u8; BYTES_128];
    word[..n].copy_from_slice(bytes);
    let value = u128::from_le_bytes(word);
    if value >> (8 * (n - 1)) == 0 {
        return Err(SerdeError::VarintNotMinimal(ty));
    }
    *input = after;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(value: u64) -> Vec<u8> {
        let mut out = vec![0xAA];
        push_u64(&mut out, value);
        out.remove(0);
        out
    }

    #[test]
    fn layout() {
        assert_eq!(written(0), [0]);
        assert_eq!(written(239), [239]);
        assert_eq!(written(240), [0xF0, 240]);
        assert_eq!(written(255), [0xF0, 255]);
        assert_eq!(written(256), [0xF1, 0, 1]);
        assert_eq!(written(300), [0xF1, 0x2C, 0x01]);
        assert_eq!(written(u64::MAX), [0xF7, 255, 255, 255, 255, 255, 255, 255, 255]);
    }

    #[test]
    fn every_length_round_trips_at_its_edges_in_any_surroundings() {
        let mut edges = vec![0, 1, 239, 240, 255];
        for bits in 8..64 {
            edges.extend([(1u64 << bits) - 1, 1 << bits, (1 << bits) + 1]);
        }
        edges.push(u64::MAX);
        for value in edges {
            let bytes = written(value);
            // Alone (the exact slice) and followed by other bytes (the one-load path).
            for tail in [&[][..], &[7; 9][..]] {
                let mut input = [&bytes[..], tail].concat();
                let mut view = &input[..];
                assert_eq!(read::<BYTES_64>(&mut view, "u64"), Ok(value), "{value}");
                assert_eq!(view, tail);
                input.truncate(bytes.len() - 1);
                let mut short = &input[..];
                assert_eq!(read::<BYTES_64>(&mut short, "u64"), Err(SerdeError::UnexpectedEnd));
            }
        }
    }

    #[test]
    fn longer_than_needed_or_than_the_type_is_refused() {
        let mut input: &[u8] = &[0xF0, 5];
        assert_eq!(read::<BYTES_64>(&mut input, "u64"), Err(SerdeError::VarintNotMinimal("u64")));
        let mut input: &[u8] = &[0xF1, 5, 0];
        assert_eq!(read::<BYTES_64>(&mut input, "u64"), Err(SerdeError::VarintNotMinimal("u64")));
        let mut input: &[u8] = &[0xF2, 0, 0, 1];
        assert_eq!(read::<BYTES_16>(&mut input, "u16"), Err(SerdeError::VarintTooLong("u16")));
        let mut input: &[u8] = &[0xF8, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(read::<BYTES_64>(&mut input, "u64"), Err(SerdeError::VarintTooLong("u64")));
    }

    #[test]
    fn u128_round_trips_at_its_edges() {
        let mut edges = vec![0u128, 239, 240, u128::from(u64::MAX), u128::MAX];
        for bits in 64..128 {
            edges.extend([(1u128 << bits) - 1, 1 << bits]);
        }
        for value in edges {
            let mut out = Vec::new();
            push_u128(&mut out, value);
            let mut view = &out[..];
            assert_eq!(read_u128(&mut view, "u128"), Ok(value), "{value}");
            assert!(view.is_empty());
        }
        let mut padded: &[u8] = &[0xF8, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(read_u128(&mut padded, "u128"), Err(SerdeError::VarintNotMinimal("u128")));
    }
}
