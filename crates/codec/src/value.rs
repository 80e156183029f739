//! Encoding and decoding of user values: serde, in a compact binary format, appended to a
//! reusable buffer.
//!
//! The layout is postcard 1.x's (ipc-channel's own choice): no type tags, fields in order,
//! lengths and enum indices as integers, strings and bytes as length then bytes. Integers
//! differ (see [`crate::varint`]): one byte below 240, else a length tag and the value's
//! own bytes, instead of postcard's LEB128, which every item paid for 7 bits at a time.
//! The format is private to one binary talking to itself (parent and workers), so it can
//! be chosen for speed.
//!
//! postcard's serializer and deserializer are not used either: through their generic
//! "flavors" a single `u64` cost 28 to 128 instructions to decode and 35 to 95 to encode
//! on the pool's per-item paths (callgrind). The [`Encoder`] and [`Decoder`] here write
//! straight into a `Vec<u8>` and read straight from a `&[u8]`; with the integer format, a
//! `u64` costs about 15 instructions either way. The encoding is canonical: the decoder
//! accepts exactly the bytes the encoder writes (tests/codec_format.rs checks it on
//! arbitrary bytes). A sequence of unknown length is encoded (postcard refuses it), and a
//! custom error's message is kept (postcard dropped it).

use std::any::type_name;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::decoder::Decoder;
use crate::encoder::Encoder;
use crate::error::{CodecError, Op, What};
use crate::output::{Fixed, Output};

/// Appends the encoding of `value` to `out`.
///
/// On error `out` is left exactly as it was.
///
/// ```
/// use multiproc_codec::{encode, What};
///
/// let mut buf = vec![0xAA];
/// encode(&300u32, What::Argument, &mut buf)?;
/// assert_eq!(buf, [0xAA, 0xF1, 0x2C, 0x01]); // 300 (two bytes, tag 0xF1), appended
/// # Ok::<(), multiproc_codec::CodecError>(())
/// ```
///
/// (Always inlined, as [`decode`].)
#[inline(always)]
pub fn encode<T: Serialize + ?Sized>(
    value: &T,
    what: What,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let start = out.len();
    let mut encoder = Encoder::new(out);
    value.serialize(&mut encoder).map_err(|e| {
        encoder.into_output().truncate(start);
        failed(Op::Encode, what, type_name::<T>(), &e)
    })
}

/// Writes the encoding of `value` at the start of `buf`, a buffer of fixed size (a slot of
/// shared memory the value is read from, with no copy in between): `Ok(Some(len))` for the
/// `len` bytes written, `Ok(None)` when the encoding does not fit (what `buf` then holds
/// means nothing). The bytes are the ones [`encode`] appends.
///
/// ```
/// use multiproc_codec::{encode_into, What};
///
/// let mut slot = [0u8; 8];
/// assert_eq!(encode_into(&300u32, What::Result, &mut slot)?, Some(3));
/// assert_eq!(slot[..3], [0xF1, 0x2C, 0x01]);
/// assert_eq!(encode_into(&"far too long for the slot", What::Result, &mut slot)?, None);
/// # Ok::<(), multiproc_codec::CodecError>(())
/// ```
#[inline(always)]
pub fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    what: What,
    buf: &mut [u8],
) -> Result<Option<usize>, CodecError> {
    let mut out = Fixed::new(buf);
    let mut encoder = Encoder::new(&mut out);
    value.serialize(&mut encoder).map_err(|e| failed(Op::Encode, what, type_name::<T>(), &e))?;
    Ok((!out.overflowed()).then_some(out.len()))
}

/// The error of a failed encode or decode: out of line, so that the hot paths stay small
/// enough to be inlined into the loops over items.
#[cold]
#[inline(never)]
fn failed(op: Op, what: What, type_name: &str, detail: &dyn std::fmt::Display) -> CodecError {
    CodecError::new(op, what, type_name, detail.to_string())
}

/// Decodes a `T` that must fill `bytes` exactly.
///
/// Arbitrary input never panics: too few bytes, trailing bytes or invalid contents are a
/// [`CodecError`] naming `T`. Allocation is bounded by the input: strings and byte
/// buffers are checked against the bytes that remain before anything is reserved, and a
/// declared sequence or map length preallocates for at most as many elements as bytes
/// remain (and at most about 1 MiB, serde's cautious size hint) before the missing bytes
/// end the decode.
///
/// ```
/// use multiproc_codec::{decode, What};
///
/// assert_eq!(decode::<u32>(&[0xF1, 0x2C, 0x01], What::Result)?, 300);
/// assert!(decode::<u32>(&[0xF1, 0x2C, 0x01, 0x00], What::Result).is_err()); // trailing byte
/// # Ok::<(), multiproc_codec::CodecError>(())
/// ```
/// (Always inlined: the wrapper is a few instructions around `T::deserialize`, and a
/// call per item cost more than decoding a small value.)
#[inline(always)]
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: What) -> Result<T, CodecError> {
    let mut decoder = Decoder::new(bytes);
    match T::deserialize(&mut decoder) {
        Ok(value) if decoder.remaining() == 0 => Ok(value),
        Ok(_) => Err(failed(
            Op::Decode,
            what,
            type_name::<T>(),
            &format_args!("{} trailing bytes after the value", decoder.remaining()),
        )),
        Err(e) => Err(failed(Op::Decode, what, type_name::<T>(), &e)),
    }
}
