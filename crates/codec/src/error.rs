//! Typed errors: a value that cannot be encoded or decoded, and a frame that is not well formed.
//!
//! [`SerdeError`] is what the value encoder and decoder themselves report; [`CodecError`]
//! wraps its message with the direction, the role and the Rust type.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which way a value was travelling when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Turning a value into bytes.
    Encode,
    /// Turning bytes back into a value.
    Decode,
}

/// What role the value plays, named in error messages ("cannot encode argument of type ...").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum What {
    /// A task's argument (parent to worker).
    Argument,
    /// A task's result (worker to parent).
    Result,
    /// An initializer's argument.
    InitArgument,
    /// A control message of the protocol itself.
    Message,
    /// An item of a queue, or a message on a pipe, between processes.
    Item,
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            What::Argument => "argument",
            What::Result => "result",
            What::InitArgument => "initializer argument",
            What::Message => "message",
            What::Item => "item",
        })
    }
}

/// A value that could not be encoded or decoded.
///
/// The message names the direction, the role and the Rust type:
///
/// ```
/// use multiproc_codec::{decode, What};
///
/// let err = decode::<String>(&[0xff], What::Result).unwrap_err();
/// assert!(err.to_string().starts_with("cannot decode result of type `alloc::string::String`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodecError {
    op: Op,
    what: What,
    type_name: String,
    detail: String,
}

impl CodecError {
    /// Builds an error for a value of type `type_name`.
    pub fn new(op: Op, what: What, type_name: &str, detail: impl Into<String>) -> CodecError {
        CodecError { op, what, type_name: type_name.to_owned(), detail: detail.into() }
    }

    /// Whether encoding or decoding failed.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The role of the value that failed.
    pub fn what(&self) -> What {
        self.what
    }

    /// The Rust type of the value that failed, as `std::any::type_name` spells it.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// What the serializer or deserializer said.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Encode => "encode",
            Op::Decode => "decode",
        };
        write!(f, "cannot {op} {} of type `{}`: {}", self.what, self.type_name, self.detail)
    }
}

impl std::error::Error for CodecError {}

/// Why the encoder or decoder gave up on a value: the error type of both serde impls.
///
/// Small and cheap to return (most variants carry no data and a failure is rare), and
/// turned into text only once, into [`CodecError::detail`]. A custom error raised by a
/// user's `Serialize` or `Deserialize` impl keeps its message: postcard dropped it, and
/// the detail then said nothing about what the impl refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SerdeError {
    /// The input ended inside a value.
    UnexpectedEnd,
    /// An integer written with more bytes than its type has.
    VarintTooLong(&'static str),
    /// An integer's value does not fit its type.
    VarintOutOfRange(&'static str),
    /// An integer written with more bytes than its value needs (the encoding is canonical).
    VarintNotMinimal(&'static str),
    /// A `bool` byte other than 0 or 1.
    InvalidBool(u8),
    /// An `Option` tag other than 0 or 1.
    InvalidOptionTag(u8),
    /// A `char` whose bytes are not exactly one UTF-8 encoded char.
    InvalidChar,
    /// A string whose bytes are not UTF-8.
    InvalidUtf8,
    /// A type asked the decoder to describe the input (`deserialize_any` and friends),
    /// which a format without type tags cannot do; names the serde method.
    NotSelfDescribing(&'static str),
    /// A `Display` impl failed while `collect_str` formatted it.
    DisplayFailed,
    /// A message from a `Serialize` or `Deserialize` impl (serde's `custom`).
    Custom(Box<str>),
}

impl fmt::Display for SerdeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SerdeError::UnexpectedEnd => f.write_str("unexpected end of input"),
            SerdeError::VarintTooLong(ty) => write!(f, "integer too long for {ty}"),
            SerdeError::VarintOutOfRange(ty) => write!(f, "integer out of range for {ty}"),
            SerdeError::VarintNotMinimal(ty) => {
                write!(f, "integer for {ty} written with more bytes than it needs")
            }
            SerdeError::InvalidBool(b) => write!(f, "invalid bool {b}"),
            SerdeError::InvalidOptionTag(b) => write!(f, "invalid option tag {b}"),
            SerdeError::InvalidChar => f.write_str("invalid char: not exactly one utf-8 char"),
            SerdeError::InvalidUtf8 => f.write_str("invalid utf-8 in a string"),
            SerdeError::NotSelfDescribing(method) => write!(
                f,
                "{method} is not supported: the encoding is not self-describing \
                 (untagged or internally tagged enums, #[serde(flatten)] and \
                 serde_json::Value cannot be decoded)"
            ),
            SerdeError::DisplayFailed => {
                f.write_str("a Display implementation returned an error in collect_str")
            }
            SerdeError::Custom(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for SerdeError {}

impl serde::ser::Error for SerdeError {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> SerdeError {
        SerdeError::Custom(msg.to_string().into_boxed_str())
    }
}

impl serde::de::Error for SerdeError {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> SerdeError {
        SerdeError::Custom(msg.to_string().into_boxed_str())
    }
}

/// A frame that is truncated, corrupted or of an unknown kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer bytes than the frame's header or tables require.
    Truncated {
        /// Bytes needed at least.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// The magic number or version does not match this protocol.
    BadMagic,
    /// The kind byte names no known frame kind.
    UnknownKind(u8),
    /// The checksum over the header and item tables does not match.
    Checksum,
    /// The item tables are inconsistent (offsets out of order or past the payload).
    BadTable(&'static str),
    /// A control message could not be decoded.
    Control(CodecError),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Truncated { needed, got } => {
                write!(f, "truncated frame: needed at least {needed} bytes, got {got}")
            }
            FrameError::BadMagic => f.write_str("not a multiproc frame (bad magic or version)"),
            FrameError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            FrameError::Checksum => f.write_str("corrupted frame (checksum mismatch)"),
            FrameError::BadTable(why) => write!(f, "corrupted frame ({why})"),
            FrameError::Control(e) => write!(f, "bad control message: {e}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Control(e) => Some(e),
            _ => None,
        }
    }
}
