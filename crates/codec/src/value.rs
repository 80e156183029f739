//! Encoding and decoding of user values: serde over postcard, appended to a reusable buffer.
//!
//! postcard was chosen by measurement: it is the format ipc-channel itself moved to, its
//! varint integers keep small items small (a `u64` below 128 is one byte), and writing
//! through our own flavor appends straight into a caller's `Vec<u8>` with no allocation
//! per value.

use std::any::type_name;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{CodecError, Op, What};

/// A postcard flavor that appends to a borrowed `Vec<u8>`.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        // Most writes are a varint of a few bytes. A copy of variable length is a libc
        // `memmove` call, and a loop pushing byte by byte stores the length at every byte:
        // a copy of fixed length per case is a few moves (a third of the instructions
        // of that loop for a `u64`).
        match data.len() {
            0 => {}
            1 => self.0.push(data[0]),
            2 => extend_fixed::<2>(self.0, data),
            3 => extend_fixed::<3>(self.0, data),
            4 => extend_fixed::<4>(self.0, data),
            5 => extend_fixed::<5>(self.0, data),
            6 => extend_fixed::<6>(self.0, data),
            7 => extend_fixed::<7>(self.0, data),
            8 => extend_fixed::<8>(self.0, data),
            9 => extend_fixed::<9>(self.0, data),
            10 => extend_fixed::<10>(self.0, data),
            len => {
                // Room for the frame's tables too: a large payload left the buffer exactly
                // full, and finishing the frame then reallocated (and copied) all of it.
                self.0.reserve(len + 256);
                self.0.extend_from_slice(data);
            }
        }
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Appends `data`, which is `N` bytes long, with moves of a size known at compile time.
#[inline(always)]
fn extend_fixed<const N: usize>(out: &mut Vec<u8>, data: &[u8]) {
    let mut block = [0u8; N];
    block.copy_from_slice(data);
    out.extend_from_slice(&block);
}

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
#[inline]
pub fn encode<T: Serialize + ?Sized>(
    value: &T,
    what: What,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let start = out.len();
    // The serializer itself, not `serialize_with_flavor`: that wrapper is not inlined, and
    // a call per value cost as much as the encoding of a small one.
    let mut serializer = postcard::Serializer { output: Append(out) };
    value.serialize(&mut serializer).map_err(|e| {
        serializer.output.0.truncate(start);
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
/// declared sequence or map length reserves at most about 1 MiB up front (serde's
/// cautious size hint) before the missing bytes end the decode.
///
/// ```
/// use multiproc_codec::{decode, What};
///
/// assert_eq!(decode::<u32>(&[0xAC, 0x02], What::Result)?, 300);
/// assert!(decode::<u32>(&[0xAC, 0x02, 0x00], What::Result).is_err()); // trailing byte
/// # Ok::<(), multiproc_codec::CodecError>(())
/// ```
#[inline]
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: What) -> Result<T, CodecError> {
    // The deserializer itself, not `take_from_bytes` (not inlined: a call per value).
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    match T::deserialize(&mut deserializer).and_then(|value| Ok((value, deserializer.finalize()?)))
    {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(failed(
            Op::Decode,
            what,
            type_name::<T>(),
            &format_args!("{} trailing bytes after the value", rest.len()),
        )),
        Err(e) => Err(failed(Op::Decode, what, type_name::<T>(), &e)),
    }
}
