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
        // Most writes are a varint of a few bytes: a libc `memmove` call per value costs
        // more than the copy (measured: 12% of a `map` over a million `u64`s).
        if data.len() <= 16 {
            self.0.reserve(data.len());
            for &b in data {
                self.0.push(b);
            }
        } else {
            // Room for the frame's tables too: a large payload left the buffer exactly
            // full, and finishing the frame then reallocated (and copied) all of it.
            self.0.reserve(data.len() + 256);
            self.0.extend_from_slice(data);
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
        CodecError::new(Op::Encode, what, type_name::<T>(), e.to_string())
    })
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
        Ok((_, rest)) => Err(CodecError::new(
            Op::Decode,
            what,
            type_name::<T>(),
            format!("{} trailing bytes after the value", rest.len()),
        )),
        Err(e) => Err(CodecError::new(Op::Decode, what, type_name::<T>(), e.to_string())),
    }
}
