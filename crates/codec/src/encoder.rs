//! The value encoder: a serde `Serializer` that appends the format of [`crate::value`] to
//! a caller's `Vec<u8>`.
//!
//! Our own rather than postcard's because it runs per item, millions of times a second:
//! postcard goes through a generic output "flavor" (a varint built byte by byte in a
//! buffer, then copied by length). Here every write goes straight into the vector: a
//! small integer is one `push`, a larger one a fixed-size store (see [`crate::varint`]).
//!
//! The format, in short: `u8`/`i8` raw; other integers as [`crate::varint`] writes them
//! (signed ones zigzagged); floats little-endian; `bool` 0 or 1; `char` as its UTF-8
//! string; strings and bytes a length then the bytes; `Option` 0, or 1 then the value;
//! unit types nothing; an enum its variant index then its content; sequences and maps a
//! count then the elements; tuples and structs their fields in order, nothing else.

use std::fmt::{self, Write as _};

use serde::Serialize;
use serde::ser::{self, SerializeMap, SerializeSeq};

use crate::error::SerdeError;
use crate::out_of_band;
use crate::output::Output;
use crate::varint;

/// Extra room reserved behind a large payload: a frame's tables are appended after the
/// items, and a buffer left exactly full by a large payload was then reallocated (and all
/// of it copied) just to finish the frame.
const TABLE_ROOM: usize = 256;

/// Appends the encoding of values to an [`Output`] (a `Vec<u8>`, or a fixed buffer).
#[derive(Debug)]
pub(crate) struct Encoder<'a, O: Output = Vec<u8>> {
    out: &'a mut O,
}

impl<'a, O: Output> Encoder<'a, O> {
    /// An encoder that appends to `out` (and never touches what is already there).
    #[inline(always)]
    pub(crate) fn new(out: &'a mut O) -> Encoder<'a, O> {
        Encoder { out }
    }

    /// The buffer, to roll it back after a failure.
    #[inline]
    pub(crate) fn into_output(self) -> &'a mut O {
        self.out
    }

    #[inline(always)]
    fn varint(&mut self, value: u64) {
        varint::push_u64(self.out, value);
    }

    /// A length as a varint (`usize` is at most 64 bits on every supported target).
    #[inline(always)]
    fn length(&mut self, len: usize) {
        self.varint(len as u64);
    }

    /// Appends `data` as it is.
    #[inline(always)]
    fn raw(&mut self, data: &[u8]) {
        // Short strings and the like: a copy of variable length is a libc `memmove` call,
        // a copy of fixed length per case a few moves.
        match data.len() {
            0 => {}
            1 => self.out.push(data[0]),
            2 => extend_fixed::<2>(self.out, data),
            3 => extend_fixed::<3>(self.out, data),
            4 => extend_fixed::<4>(self.out, data),
            5 => extend_fixed::<5>(self.out, data),
            6 => extend_fixed::<6>(self.out, data),
            7 => extend_fixed::<7>(self.out, data),
            8 => extend_fixed::<8>(self.out, data),
            9 => extend_fixed::<9>(self.out, data),
            10 => extend_fixed::<10>(self.out, data),
            len => {
                self.out.reserve(len + TABLE_ROOM);
                self.out.extend_from_slice(data);
            }
        }
    }

    /// Inserts the varint of `count` at `at`, in front of what was written since: for the
    /// sequences and maps whose length serde does not know up front. One `memmove` of
    /// the elements, which is why known lengths are written directly.
    #[cold]
    fn insert_count(&mut self, at: usize, count: u64) {
        let (block, n) = varint::block_u64(count);
        let end = self.out.len();
        self.out.extend_from_slice(&block[..n]);
        let written = self.out.written();
        if written.len() != end + n {
            return; // a fixed output that ran out of room: it says so
        }
        written.copy_within(at..end, at + n);
        written[at..at + n].copy_from_slice(&block[..n]);
    }
}

/// Appends `data`, which is `N` bytes long, with moves of a size known at compile time.
#[inline(always)]
fn extend_fixed<const N: usize>(out: &mut impl Output, data: &[u8]) {
    let mut block = [0u8; N];
    block.copy_from_slice(data);
    out.extend_from_slice(&block);
}

/// Zigzag: small magnitudes of either sign become small unsigned numbers.
#[inline(always)]
fn zigzag_64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline(always)]
fn zigzag_128(v: i128) -> u128 {
    ((v << 1) ^ (v >> 127)) as u128
}

/// A sequence or map being written: counts its elements, and when serde gave no length
/// (`serialize_seq(None)`, e.g. `collect_seq` over a filtered iterator) writes the count
/// in front of them at the end. postcard refuses those; the bytes are the same as for a
/// known length.
#[derive(Debug)]
pub(crate) struct Counted<'a, 'b, O: Output> {
    encoder: &'a mut Encoder<'b, O>,
    /// Where the elements begin when the count is still to be written.
    unknown_at: Option<usize>,
    count: u64,
}

impl<'a, 'b, O: Output> Counted<'a, 'b, O> {
    #[inline(always)]
    fn begin(encoder: &'a mut Encoder<'b, O>, len: Option<usize>) -> Counted<'a, 'b, O> {
        let unknown_at = match len {
            Some(len) => {
                encoder.length(len);
                None
            }
            None => Some(encoder.out.len()),
        };
        Counted { encoder, unknown_at, count: 0 }
    }

    #[inline(always)]
    fn end(self) {
        if let Some(at) = self.unknown_at {
            self.encoder.insert_count(at, self.count);
        }
    }
}

/// `fmt::Write` into the output, for `collect_str`.
struct FmtAppend<'a, O: Output>(&'a mut O);

impl<O: Output> fmt::Write for FmtAppend<'_, O> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl<'a, 'b, O: Output> ser::Serializer for &'a mut Encoder<'b, O> {
    type Ok = ();
    type Error = SerdeError;
    type SerializeSeq = Counted<'a, 'b, O>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Counted<'a, 'b, O>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    #[inline]
    fn is_human_readable(&self) -> bool {
        false
    }

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), SerdeError> {
        self.out.push(u8::from(v));
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, v: i8) -> Result<(), SerdeError> {
        self.out.push(v as u8);
        Ok(())
    }

    #[inline]
    fn serialize_i16(self, v: i16) -> Result<(), SerdeError> {
        self.varint(zigzag_64(v.into()));
        Ok(())
    }

    #[inline]
    fn serialize_i32(self, v: i32) -> Result<(), SerdeError> {
        self.varint(zigzag_64(v.into()));
        Ok(())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), SerdeError> {
        self.varint(zigzag_64(v));
        Ok(())
    }

    #[inline]
    fn serialize_i128(self, v: i128) -> Result<(), SerdeError> {
        varint::push_u128(self.out, zigzag_128(v));
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), SerdeError> {
        self.out.push(v);
        Ok(())
    }

    #[inline]
    fn serialize_u16(self, v: u16) -> Result<(), SerdeError> {
        self.varint(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_u32(self, v: u32) -> Result<(), SerdeError> {
        self.varint(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), SerdeError> {
        self.varint(v);
        Ok(())
    }

    #[inline]
    fn serialize_u128(self, v: u128) -> Result<(), SerdeError> {
        varint::push_u128(self.out, v);
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<(), SerdeError> {
        self.out.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), SerdeError> {
        self.out.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_char(self, v: char) -> Result<(), SerdeError> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), SerdeError> {
        self.length(v.len());
        self.raw(v.as_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<(), SerdeError> {
        self.length(v.len());
        // A large `Bytes` encoded into a frame that takes segments: kept by reference.
        if !self.out.vec().is_some_and(|out| out_of_band::take(v, out)) {
            self.raw(v);
        }
        Ok(())
    }

    #[inline]
    fn serialize_none(self) -> Result<(), SerdeError> {
        self.out.push(0);
        Ok(())
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), SerdeError> {
        self.out.push(1);
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Result<(), SerdeError> {
        Ok(())
    }

    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), SerdeError> {
        Ok(())
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
    ) -> Result<(), SerdeError> {
        self.varint(variant_index.into());
        Ok(())
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), SerdeError> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), SerdeError> {
        self.varint(variant_index.into());
        value.serialize(self)
    }

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Counted<'a, 'b, O>, SerdeError> {
        Ok(Counted::begin(self, len))
    }

    #[inline]
    fn serialize_tuple(self, _len: usize) -> Result<Self, SerdeError> {
        Ok(self)
    }

    #[inline]
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, SerdeError> {
        Ok(self)
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, SerdeError> {
        self.varint(variant_index.into());
        Ok(self)
    }

    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Counted<'a, 'b, O>, SerdeError> {
        Ok(Counted::begin(self, len))
    }

    #[inline]
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, SerdeError> {
        Ok(self)
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, SerdeError> {
        self.varint(variant_index.into());
        Ok(self)
    }

    /// Formats straight into the output, then inserts the length in front: the same bytes
    /// as `serialize_str(&value.to_string())`, without the `String`. (postcard formats
    /// twice, once to count.)
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), SerdeError> {
        let start = self.out.len();
        write!(FmtAppend(self.out), "{value}").map_err(|_| SerdeError::DisplayFailed)?;
        let len = self.out.len() - start;
        self.insert_count(start, len as u64);
        Ok(())
    }
}

impl<O: Output> SerializeSeq for Counted<'_, '_, O> {
    type Ok = ();
    type Error = SerdeError;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerdeError> {
        self.count += 1;
        value.serialize(&mut *self.encoder)
    }

    #[inline]
    fn end(self) -> Result<(), SerdeError> {
        Counted::end(self);
        Ok(())
    }
}

impl<O: Output> SerializeMap for Counted<'_, '_, O> {
    type Ok = ();
    type Error = SerdeError;

    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerdeError> {
        self.count += 1;
        key.serialize(&mut *self.encoder)
    }

    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerdeError> {
        value.serialize(&mut *self.encoder)
    }

    #[inline]
    fn end(self) -> Result<(), SerdeError> {
        Counted::end(self);
        Ok(())
    }
}

/// Tuples, structs and their enum variants: the fields in order, nothing around them.
macro_rules! fields_in_order {
    ($($trait:ident :: $method:ident ($($key:ident)?)),* $(,)?) => {$(
        impl<O: Output> ser::$trait for &mut Encoder<'_, O> {
            type Ok = ();
            type Error = SerdeError;

            #[inline]
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($key: &'static str,)?
                value: &T,
            ) -> Result<(), SerdeError> {
                value.serialize(&mut **self)
            }

            #[inline]
            fn end(self) -> Result<(), SerdeError> {
                Ok(())
            }
        }
    )*};
}

fields_in_order! {
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    SerializeStruct::serialize_field(_key),
    SerializeStructVariant::serialize_field(_key),
}
