//! Varints exactly as postcard 1.x writes and reads them (unsigned LEB128): seven bits a
//! byte, the least significant group first, the high bit set on every byte but the last.
//!
//! Written for speed, measured under callgrind, because every integer, length and enum
//! tag of every item goes through here:
//!
//! - A value below 128 is one byte, settled inline with one comparison on either side.
//! - The encoder builds a longer value (up to 8 bytes, 56 bits) a word at a time: three
//!   shift-and-add steps spread its 7-bit groups over the bytes of a `u64`, a table
//!   lookup gives its length, and one 8-byte store appends it (then the tail is cut off).
//!   No loop, and no copy of variable length (a libc call).
//! - The decoder, with at least the longest varint's bytes left (a field followed by
//!   others), runs a loop unrolled over a block of fixed size: one length check in all,
//!   and per byte a load, a shift, an add and a test (the continuation bits are summed
//!   with the rest and taken off at the end as a constant). Branches on the length, not a
//!   word-at-a-time computation: when lengths repeat, as they do from item to item, the
//!   branches are predicted and the next field's decode starts at once, where a position
//!   computed from the data would make it wait (measured: a struct of six fields, three of
//!   them varints, decoded about 5% slower that way).
//! - Nearer the end of the input (the last field, or a value decoded from a slice of its
//!   own: every item of a frame), where a loop would check the length at every byte, the
//!   decoder reads two or three bytes directly, or up to 8 as one word, finds the end from
//!   the high bits and packs the groups with three steps, whatever the length.
//! - The long paths are out of line and return in registers, so what is inlined into the
//!   loops over items stays small (inlined, the one-byte case doubled in cost).
//!
//! Acceptance follows postcard to the byte: a varint may be longer than needed (postcard
//! accepts non-minimal encodings) but not longer than the most bytes its type can take
//! (3 for 16 bits, 5 for 32, 10 for 64, 19 for 128), and its value must fit the type.

use crate::error::SerdeError;

/// The most bytes a varint of a `u16` takes.
pub(crate) const MAX_LEN_16: usize = 3;
/// The most bytes a varint of a `u32` takes.
pub(crate) const MAX_LEN_32: usize = 5;
/// The most bytes a varint of a `u64` takes.
pub(crate) const MAX_LEN_64: usize = 10;
/// The most bytes a varint of a `u128` takes.
const MAX_LEN_128: usize = 19;

/// The high bit of every byte of a word: the continuation bits of 8 varint bytes.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Values below this take at most 8 bytes: the word-at-a-time paths.
const WORD_LIMIT: u64 = 1 << 56;

/// By the index of a value's highest set bit (`ilog2`): how many bytes its varint takes
/// (less one), and the high bit of every one of those bytes but the last. Tables, because a division
/// by 7 and a variable shift cost more than a load from a line that stays in cache.
const BY_TOP_BIT: ([u8; 64], [u64; 64]) = {
    let mut lens = [0u8; 64];
    let mut continued = [0u64; 64];
    let mut top = 0;
    while top < 64 {
        let len = top / 7 + 1;
        // the length less one: see `push_u64_long`
        lens[top] = (len - 1) as u8;
        if len <= 8 {
            continued[top] = if len == 1 { 0 } else { HIGH_BITS >> (64 - 8 * (len - 1)) };
        }
        top += 1;
    }
    (lens, continued)
};

/// Appends the varint of `value`.
#[inline(always)]
pub(crate) fn push_u64(out: &mut Vec<u8>, value: u64) {
    if value < 0x80 {
        out.push(value as u8);
    } else {
        push_u64_long(out, value);
    }
}

/// Appends the varint of a `value` of at least 128. Out of line: the one-byte case stays
/// small enough to be inlined everywhere.
#[inline(never)]
fn push_u64_long(out: &mut Vec<u8>, value: u64) {
    if value >> 56 != 0 {
        return push_u64_huge(out, value);
    }
    if out.capacity() - out.len() < 8 {
        // Grown out of line: on this path nothing needs saving across a call.
        return push_u64_after_growing(out, value);
    }
    let top = (value | 0x80).ilog2() as usize;
    // (masked, the compiler knows the length is at most 8: truncating is then one store)
    let len = usize::from(BY_TOP_BIT.0[top] & 7) + 1;
    let continued = BY_TOP_BIT.1[top];
    let start = out.len();
    out.extend_from_slice(&(spread(value) | continued).to_le_bytes());
    out.truncate(start + len);
}

/// [`push_u64_long`] on a full buffer: grows it, then appends. Apart, so that the common
/// path makes no call and saves no registers.
#[cold]
#[inline(never)]
fn push_u64_after_growing(out: &mut Vec<u8>, value: u64) {
    out.reserve(MAX_LEN_64);
    push_u64_long(out, value);
}

/// Appends the varint of a `value` of 2^56 or more: 8 continued bytes, then the top 8 bits
/// in 1 or 2 bytes.
#[cold]
#[inline(never)]
fn push_u64_huge(out: &mut Vec<u8>, value: u64) {
    let mut block = [0u8; MAX_LEN_64];
    block[..8].copy_from_slice(&(spread(value & (WORD_LIMIT - 1)) | HIGH_BITS).to_le_bytes());
    let top = value >> 56;
    let len = if top < 0x80 {
        block[8] = top as u8;
        9
    } else {
        block[8] = top as u8 | 0x80;
        block[9] = 1;
        10
    };
    let start = out.len();
    out.extend_from_slice(&block);
    out.truncate(start + len);
}

/// The 7-bit groups of a `value` below 2^56, one per byte of the result (high bits clear).
///
/// Each step moves the upper half of every lane up, doubling the lane: 28-bit halves into
/// 32-bit lanes, 14-bit quarters into 16-bit lanes, 7-bit groups into bytes. Adding
/// `hi * (2^k - 1)` is the same as moving `hi` up by `k` bits, in fewer instructions.
#[inline(always)]
fn spread(value: u64) -> u64 {
    let x = value + (value & 0x00ff_ffff_f000_0000) * 15;
    let x = x + (x & 0x0fff_c000_0fff_c000) * 3;
    x + (x & 0x3f80_3f80_3f80_3f80)
}

/// The inverse of [`spread`]: packs the 7-bit groups held in the bytes of `groups` (high
/// bits clear) into one number.
#[inline(always)]
fn pack(groups: u64) -> u64 {
    let x = groups - ((groups >> 1) & 0x3f80_3f80_3f80_3f80);
    let x = x - 3 * ((x >> 2) & 0x0fff_c000_0fff_c000);
    (x & 0xffff_ffff) | ((x >> 32) << 28)
}

/// The varint of `value` in a block of fixed size, and how many bytes of it are used: for
/// the rare writes that cannot simply append (a count inserted in front of elements).
pub(crate) fn block_u64(value: u64) -> ([u8; MAX_LEN_64], usize) {
    let mut block = [0u8; MAX_LEN_64];
    let len = fill_block(&mut block, value.into());
    (block, len)
}

/// Writes the varint of `value` at the front of `block` (plainly, a byte at a time) and
/// returns its length. `block` must have room for it.
fn fill_block(block: &mut [u8], value: u128) -> usize {
    let mut rest = value;
    let mut len = 0;
    for slot in block {
        len += 1;
        if rest < 0x80 {
            *slot = rest as u8;
            break;
        }
        *slot = rest as u8 | 0x80;
        rest >>= 7;
    }
    len
}

/// Appends the varint of `value`.
#[inline]
pub(crate) fn push_u128(out: &mut Vec<u8>, value: u128) {
    if let Ok(value) = u64::try_from(value) {
        return push_u64(out, value);
    }
    // More than 64 bits: rare enough for a plain loop over a block of fixed size.
    let mut block = [0u8; MAX_LEN_128];
    let len = fill_block(&mut block, value);
    let start = out.len();
    out.extend_from_slice(&block);
    out.truncate(start + len);
}

// What [`read_long`] returns instead of a length when the varint is bad: lengths no slice
// can have, so that the one bounds check on the length catches them.

/// The input ended inside the varint.
const END: usize = usize::MAX;
/// More bytes than the type can take.
const TOO_LONG: usize = usize::MAX - 1;
/// The last byte overflows the type.
const OUT_OF_RANGE: usize = usize::MAX - 2;

/// Reads a varint of at most `MAX` bytes (at most 10) from the front of `input`, and
/// advances `input` past it. `ty` names the integer type in errors.
///
/// The value is not range-checked below 64 bits: a caller decoding a `u16` (`MAX` = 3,
/// up to 21 bits) checks that it fits. With the byte limit that is postcard's rule
/// exactly: at most `MAX` bytes whose last byte does not overflow the type.
#[inline(always)]
pub(crate) fn read<const MAX: usize>(
    input: &mut &[u8],
    ty: &'static str,
) -> Result<u64, SerdeError> {
    if let Some((&first, rest)) = input.split_first()
        && first < 0x80
    {
        *input = rest;
        return Ok(u64::from(first));
    }
    let (value, len) = read_long::<MAX>(input);
    match input.get(len..) {
        Some(rest) => {
            *input = rest;
            Ok(value)
        }
        None => Err(bad_varint(len, ty)),
    }
}

/// The error for a code [`read_long`] returned in place of a length.
#[cold]
#[inline(never)]
fn bad_varint(code: usize, ty: &'static str) -> SerdeError {
    match code {
        TOO_LONG => SerdeError::VarintTooLong(ty),
        OUT_OF_RANGE => SerdeError::VarintOutOfRange(ty),
        _ => SerdeError::UnexpectedEnd,
    }
}

/// [`read`] past its one-byte fast path: `bytes` is empty or starts with a continued byte.
/// Returns the value and the varint's length, or an error code in place of the length:
/// two registers (a `Result` with our error would go through memory).
#[inline(never)]
fn read_long<const MAX: usize>(bytes: &[u8]) -> (u64, usize) {
    const { assert!(MAX <= MAX_LEN_64) };
    // With room for the longest varint: one length check, and a loop the compiler unrolls.
    if let Some(block) = bytes.first_chunk::<MAX>() {
        let mut sum = 0u64;
        for (i, &byte) in block.iter().enumerate() {
            sum = sum.wrapping_add(u64::from(byte).wrapping_shl(7 * i as u32));
            if byte < 0x80 {
                return finish::<MAX>(sum, i, byte);
            }
        }
        return (0, TOO_LONG);
    }
    read_near_end::<MAX>(bytes)
}

/// [`read_long`] within `MAX` bytes of the end of the input (a value decoded from a slice
/// of its own ends there): the bytes cannot be read as a block of `MAX`, and a loop that
/// checks the length at every byte costs 9 to 10 instructions a byte. Two bytes are read
/// directly, three too when that is all there is; otherwise up to 8 bytes are read as one
/// word, the varint's end is found from the high bits and the 7-bit groups are packed with
/// three steps, whatever the length.
///
/// With fewer than `MAX` bytes left, a varint that ends in them is never too long, and a
/// `u64` can have no tenth byte to overflow: the only error is the end of the input.
///
/// Part of [`read_long`]'s body (a call of its own measured slower on this path).
#[inline(always)]
fn read_near_end<const MAX: usize>(bytes: &[u8]) -> (u64, usize) {
    debug_assert!(bytes.len() < MAX);
    let [first, second, ..] = *bytes else {
        // Empty, or one continued byte.
        return (0, END);
    };
    // Two bytes (values below 16384: most lengths and counts) before anything else.
    if second < 0x80 {
        return ((u64::from(second) << 7) + u64::from(first) - 0x80, 2);
    }
    let len = bytes.len();
    // Up to 8 bytes of input as one little-endian word. Past the end of a shorter input the
    // word holds zeros, which read as a varint that ends one byte past the input: the length
    // returned is then longer than the input, and `read`'s bounds check on it reports the
    // end of the input.
    let word = if let Some(block) = bytes.first_chunk::<8>() {
        u64::from_le_bytes(*block)
    } else if let (Some(low), Some(high)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        // 4 to 7 bytes: two overlapping loads.
        let low = u64::from(u32::from_le_bytes(*low));
        let high = u64::from(u32::from_le_bytes(*high));
        low | high << (8 * (len - 4))
    } else {
        // 2 or 3 bytes, the second continued: the third ends the varint or the input ends.
        return match bytes.get(2) {
            Some(&third) if third < 0x80 => {
                let sum = u64::from(first) + (u64::from(second) << 7) + (u64::from(third) << 14);
                (sum - 0x80 - (0x80 << 7), 3)
            }
            _ => (0, END),
        };
    };
    // Flipped, the high bit of a byte is set where a varint byte ends (or is not continued).
    let flipped = word ^ HIGH_BITS;
    let ends = flipped & HIGH_BITS;
    if ends == 0 {
        // None of the first 8 bytes ends the varint: only a u64 with 9 bytes left can.
        return match bytes.get(8) {
            Some(&ninth) if ninth < 0x80 => (pack(flipped) | u64::from(ninth) << 56, 9),
            _ => (0, END),
        };
    }
    let varint_len = ends.trailing_zeros() as usize / 8 + 1;
    // Below the first end bit: the varint's bytes, their high bits clear.
    let below_end = (ends - 1) & !ends;
    (pack(flipped & below_end), varint_len)
}

/// The value of a varint whose last byte, `last`, is byte `i`, from `sum`: the sum of all
/// its bytes shifted into place, continuation bits included (one add per byte instead of
/// a mask, a shift and an or). Those bits add up to a constant per length, taken off here.
#[inline(always)]
fn finish<const MAX: usize>(sum: u64, i: usize, last: u8) -> (u64, usize) {
    // The tenth byte of a u64 holds its top bit only.
    if i == MAX_LEN_64 - 1 && last > 1 {
        return (0, OUT_OF_RANGE);
    }
    (sum.wrapping_sub(CONTINUATION_SUM[i]), i + 1)
}

/// `CONTINUATION_SUM[i]`: what the continuation bits of a varint of `i + 1` bytes add to
/// the sum of its shifted bytes (0x80 shifted by 0, 7, ... for each of the first `i`).
const CONTINUATION_SUM: [u64; MAX_LEN_64] = {
    let mut table = [0u64; MAX_LEN_64];
    let mut i = 1;
    while i < MAX_LEN_64 {
        table[i] = table[i - 1].wrapping_add(0x80u64.wrapping_shl(7 * (i as u32 - 1)));
        i += 1;
    }
    table
};

/// Reads the varint of a `u128` (or of a zigzagged `i128`, named `ty` in errors).
#[inline]
pub(crate) fn read_u128(input: &mut &[u8], ty: &'static str) -> Result<u128, SerdeError> {
    let bytes = *input;
    let mut value = 0u128;
    for (i, &byte) in bytes.iter().enumerate().take(MAX_LEN_128) {
        value |= u128::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            // The nineteenth byte of a u128 holds its top two bits only.
            if i == MAX_LEN_128 - 1 && byte > 0b11 {
                return Err(SerdeError::VarintOutOfRange(ty));
            }
            *input = &bytes[i + 1..];
            return Ok(value);
        }
    }
    if bytes.len() >= MAX_LEN_128 {
        Err(SerdeError::VarintTooLong(ty))
    } else {
        Err(SerdeError::UnexpectedEnd)
    }
}
