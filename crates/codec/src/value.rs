//! Encoding and decoding of user values: serde, in postcard 1.x's wire format, appended to
//! a reusable buffer.
//!
//! postcard's format was chosen by measurement: it is the format ipc-channel itself moved
//! to, and its varint integers keep small items small (a `u64` below 128 is one byte).
//! postcard's own serializer and deserializer are not used, by measurement too: through
//! their generic "flavors" a single `u64` cost 28 to 128 instructions to decode and 35 to
//! 95 to encode on the pool's per-item paths (callgrind). The [`Encoder`] and [`Decoder`]
//! here write and read the same bytes straight from a `Vec<u8>` and a `&[u8]`, in a quarter
//! to three quarters of that (see their modules), and postcard stays as the oracle of the
//! tests that check they agree to the byte (`tests/codec_postcard_compat.rs`). Where they
//! differ from postcard they do better: a sequence of unknown length is encoded (postcard
//! refuses it), and a custom error's message is kept (postcard dropped it).

use std::any::type_name;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::decoder::Decoder;
use crate::encoder::Encoder;
use crate::error::{CodecError, Op, What};

/// Appends the encoding of `value` to `out`.
///
/// On error `out` is left exactly as it was.
///
/// ```
/// use multiproc_codec::{encode, What};
///
/// let mut buf = vec![0xAA];
/// encode(&300u32, What::Argument, &mut buf)?;
/// assert_eq!(buf, [0xAA, 0xAC, 0x02]); // varint 300, appended
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
/// assert_eq!(decode::<u32>(&[0xAC, 0x02], What::Result)?, 300);
/// assert!(decode::<u32>(&[0xAC, 0x02, 0x00], What::Result).is_err()); // trailing byte
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
