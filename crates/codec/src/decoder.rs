//! The value decoder: a serde `Deserializer` over a byte slice that accepts exactly what
//! the [encoder](crate::encoder) writes.
//!
//! Our own rather than postcard's because it runs per item, millions of times a second:
//! postcard reads through a generic input "flavor", a bounds-checked pop per byte. Here
//! the input is a plain `&[u8]`, and an integer is read with a comparison and one or two
//! loads of fixed size (see [`crate::varint`]).
//!
//! Arbitrary input never panics, and nothing is reserved on the input's word: a length
//! prefix is checked against the bytes that remain before anything is sliced, strings and
//! byte buffers are handed out borrowed from the input (`visit_borrowed_str`,
//! `visit_borrowed_bytes`: a visitor that can keep a borrow copies nothing), and the size
//! hint of a sequence or map never exceeds the bytes left (see [`Elements::hint`]).

use serde::de::value::U32Deserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use crate::error::SerdeError;
use crate::varint::{self, BYTES_16, BYTES_32, BYTES_64};

/// Reads values from the front of a byte slice.
#[derive(Debug)]
pub(crate) struct Decoder<'de> {
    input: &'de [u8],
}

impl<'de> Decoder<'de> {
    /// A decoder reading `input` from its start.
    #[inline(always)]
    pub(crate) fn new(input: &'de [u8]) -> Decoder<'de> {
        Decoder { input }
    }

    /// Bytes not read yet.
    #[inline(always)]
    pub(crate) fn remaining(&self) -> usize {
        self.input.len()
    }

    #[inline(always)]
    fn byte(&mut self) -> Result<u8, SerdeError> {
        let (&byte, rest) = self.input.split_first().ok_or(SerdeError::UnexpectedEnd)?;
        self.input = rest;
        Ok(byte)
    }

    /// The next `len` bytes, borrowed from the input: checked against what remains first.
    #[inline(always)]
    fn take(&mut self, len: usize) -> Result<&'de [u8], SerdeError> {
        let (head, rest) = self.input.split_at_checked(len).ok_or(SerdeError::UnexpectedEnd)?;
        self.input = rest;
        Ok(head)
    }

    #[inline(always)]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], SerdeError> {
        let (head, rest) = self.input.split_first_chunk::<N>().ok_or(SerdeError::UnexpectedEnd)?;
        self.input = rest;
        Ok(*head)
    }

    #[inline(always)]
    fn u16(&mut self, ty: &'static str) -> Result<u16, SerdeError> {
        let value = varint::read::<BYTES_16>(&mut self.input, ty)?;
        u16::try_from(value).map_err(|_| SerdeError::VarintOutOfRange(ty))
    }

    #[inline(always)]
    fn u32(&mut self, ty: &'static str) -> Result<u32, SerdeError> {
        let value = varint::read::<BYTES_32>(&mut self.input, ty)?;
        u32::try_from(value).map_err(|_| SerdeError::VarintOutOfRange(ty))
    }

    #[inline(always)]
    fn u64(&mut self, ty: &'static str) -> Result<u64, SerdeError> {
        varint::read::<BYTES_64>(&mut self.input, ty)
    }

    /// A length prefix: an integer as wide as the target's pointers.
    #[cfg(target_pointer_width = "64")]
    #[inline(always)]
    fn length(&mut self) -> Result<usize, SerdeError> {
        Ok(self.u64("usize")? as usize)
    }

    /// A length prefix: an integer as wide as the target's pointers.
    #[cfg(not(target_pointer_width = "64"))]
    #[inline(always)]
    fn length(&mut self) -> Result<usize, SerdeError> {
        let len = self.u32("usize")?;
        usize::try_from(len).map_err(|_| SerdeError::VarintOutOfRange("usize"))
    }

    #[inline(always)]
    fn bytes(&mut self) -> Result<&'de [u8], SerdeError> {
        let len = self.length()?;
        self.take(len)
    }

    #[inline(always)]
    fn str(&mut self) -> Result<&'de str, SerdeError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| SerdeError::InvalidUtf8)
    }

    /// A char: a string of at most 4 bytes that holds exactly one char.
    #[inline]
    fn char(&mut self) -> Result<char, SerdeError> {
        let len = self.length()?;
        if len > 4 {
            return Err(SerdeError::InvalidChar);
        }
        let text = std::str::from_utf8(self.take(len)?).map_err(|_| SerdeError::InvalidChar)?;
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(SerdeError::InvalidChar),
        }
    }

    #[inline(always)]
    fn elements(&mut self, len: usize) -> Elements<'_, 'de> {
        Elements { decoder: self, left: len }
    }
}

/// Zigzag back: the inverse of the encoder's.
#[inline(always)]
fn unzigzag_64(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

#[inline(always)]
fn unzigzag_128(n: u128) -> i128 {
    ((n >> 1) as i128) ^ -((n & 1) as i128)
}

/// The elements of a sequence, tuple or map: a known number of values back to back.
#[derive(Debug)]
pub(crate) struct Elements<'a, 'de> {
    decoder: &'a mut Decoder<'de>,
    left: usize,
}

impl Elements<'_, '_> {
    /// The declared count, but never more than the bytes that remain: serde's impls
    /// preallocate from this hint (capped at about 1 MiB), and a forged count behind a
    /// few bytes then reserves a few bytes' worth, not a megabyte per nested level.
    /// Every element of a valid input takes at least one byte unless its type encodes to
    /// nothing (`()`), so for valid input this is the declared count.
    #[inline(always)]
    fn hint(&self) -> usize {
        self.left.min(self.decoder.remaining())
    }
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = SerdeError;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, SerdeError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.decoder).map(Some)
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        Some(self.hint())
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = SerdeError;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, SerdeError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.decoder).map(Some)
    }

    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, SerdeError> {
        seed.deserialize(&mut *self.decoder)
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        Some(self.hint())
    }
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = SerdeError;

    #[inline]
    fn is_human_readable(&self) -> bool {
        false
    }

    /// The bytes say nothing about their type: a type that asks what it got (an untagged
    /// enum, `#[serde(flatten)]`, `serde_json::Value`) cannot be decoded (nor with postcard).
    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, SerdeError> {
        Err(SerdeError::NotSelfDescribing("deserialize_any"))
    }

    #[inline]
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        match self.byte()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            other => Err(SerdeError::InvalidBool(other)),
        }
    }

    #[inline]
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_i8(self.byte()? as i8)
    }

    #[inline]
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        let n = self.u16("i16")?;
        visitor.visit_i16(unzigzag_64(n.into()) as i16)
    }

    #[inline]
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        let n = self.u32("i32")?;
        visitor.visit_i32(unzigzag_64(n.into()) as i32)
    }

    #[inline]
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        let n = self.u64("i64")?;
        visitor.visit_i64(unzigzag_64(n))
    }

    #[inline]
    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        let n = varint::read_u128(&mut self.input, "i128")?;
        visitor.visit_i128(unzigzag_128(n))
    }

    #[inline]
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_u8(self.byte()?)
    }

    #[inline]
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_u16(self.u16("u16")?)
    }

    #[inline]
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_u32(self.u32("u32")?)
    }

    #[inline]
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_u64(self.u64("u64")?)
    }

    #[inline]
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_u128(varint::read_u128(&mut self.input, "u128")?)
    }

    #[inline]
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_f32(f32::from_le_bytes(self.array()?))
    }

    #[inline]
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_f64(f64::from_le_bytes(self.array()?))
    }

    #[inline]
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_char(self.char()?)
    }

    #[inline]
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_borrowed_str(self.str()?)
    }

    #[inline]
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_borrowed_str(self.str()?)
    }

    #[inline]
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_borrowed_bytes(self.bytes()?)
    }

    /// Borrowed too: a visitor that wants its own buffer copies in `visit_bytes` (serde's
    /// default for `visit_borrowed_bytes`), and one that can share the input does not.
    #[inline]
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_borrowed_bytes(self.bytes()?)
    }

    #[inline]
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        match self.byte()? {
            0 => visitor.visit_none(),
            1 => visitor.visit_some(self),
            other => Err(SerdeError::InvalidOptionTag(other)),
        }
    }

    #[inline]
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        visitor.visit_unit()
    }

    #[inline]
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, SerdeError> {
        visitor.visit_unit()
    }

    #[inline]
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, SerdeError> {
        visitor.visit_newtype_struct(self)
    }

    #[inline]
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        let len = self.length()?;
        visitor.visit_seq(self.elements(len))
    }

    #[inline]
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, SerdeError> {
        visitor.visit_seq(self.elements(len))
    }

    #[inline]
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, SerdeError> {
        visitor.visit_seq(self.elements(len))
    }

    #[inline]
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SerdeError> {
        let len = self.length()?;
        visitor.visit_map(self.elements(len))
    }

    /// A struct is its fields in order, like a tuple: no names on the wire.
    #[inline]
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, SerdeError> {
        visitor.visit_seq(self.elements(fields.len()))
    }

    #[inline]
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, SerdeError> {
        visitor.visit_enum(self)
    }

    /// No names on the wire: variants are identified by index in
    /// [`EnumAccess::variant_seed`](de::EnumAccess::variant_seed), and a field identifier
    /// is never asked for (postcard refuses this too).
    fn deserialize_identifier<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, SerdeError> {
        Err(SerdeError::NotSelfDescribing("deserialize_identifier"))
    }

    /// Skipping a value needs to know its type from the bytes, which they do not say.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, SerdeError> {
        Err(SerdeError::NotSelfDescribing("deserialize_ignored_any"))
    }
}

impl<'de> de::EnumAccess<'de> for &mut Decoder<'de> {
    type Error = SerdeError;
    type Variant = Self;

    /// The variant index as a varint `u32`, handed to the seed as a number.
    #[inline]
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), SerdeError> {
        let index: U32Deserializer<SerdeError> = self.u32("variant index")?.into_deserializer();
        Ok((seed.deserialize(index)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Decoder<'de> {
    type Error = SerdeError;

    #[inline]
    fn unit_variant(self) -> Result<(), SerdeError> {
        Ok(())
    }

    #[inline]
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, SerdeError> {
        seed.deserialize(self)
    }

    #[inline]
    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, SerdeError> {
        visitor.visit_seq(self.elements(len))
    }

    #[inline]
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, SerdeError> {
        visitor.visit_seq(self.elements(fields.len()))
    }
}
