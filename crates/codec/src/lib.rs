//! What crosses a process boundary in multiproc.
//!
//! This crate owns the bytes: how a user's arguments and results become bytes
//! ([`encode`] / [`decode`]: serde in postcard's layout with faster integers, written and
//! read by our own encoder and decoder because postcard's measured too slow per item),
//! the frames the scheduler moves between a parent and its workers ([`FrameBuf`] builds
//! them, [`parse`] reads them), the wire form of everything that can go wrong on the far side
//! ([`RemoteFailure`], [`PanicInfo`], [`ErrorInfo`], [`Limit`]), how a large payload is read in place
//! where it arrived ([`Bytes`], [`SharedFrame`]), what encoded bytes must keep alive until
//! they are decoded ([`Pins`]), and the fingerprints that keep a worker from
//! calling into the unknown ([`BinaryFingerprint`], [`TypeFingerprint`], [`FnId`]).
//!
//! It knows nothing about processes, channels, descriptors or scheduling: it turns
//! values into bytes and bytes back into values, and every failure is a typed error
//! that names the Rust type and the direction. Decoding arbitrary bytes never panics.
//!
//! ```
//! use multiproc_codec::{decode, encode, What};
//!
//! let mut buf = Vec::new();
//! encode(&(7u64, String::from("seven")), What::Argument, &mut buf)?;
//! let back: (u64, String) = decode(&buf, What::Argument)?;
//! assert_eq!(back, (7, "seven".to_string()));
//! # Ok::<(), multiproc_codec::CodecError>(())
//! ```
#![forbid(unsafe_code)]

mod bytes;
mod decoder;
mod encoder;
mod error;
mod error_info;
mod fingerprint;
mod frame;
mod hash;
mod limit;
mod out_of_band;
mod output;
mod panic_info;
mod pin;
mod shared;
mod value;
mod varint;

pub use bytes::Bytes;
pub use error::{CodecError, FrameError, Op, What};
pub use error_info::ErrorInfo;
pub use fingerprint::{BinaryFingerprint, FnId, TypeFingerprint};
pub use frame::{
    Args, ArgsBuf, Control, FRAME_LIMIT, FailedItem, Frame, FrameBuf, FrameParts, ItemBuf,
    ItemOutcome, OwnedFrame, Parts, RemoteFailure, ResultFrame, TaskFrame, TaskFramer, TooLarge,
    Values, parse, task_header,
};
pub use hash::Hasher64;
pub use limit::Limit;
pub use panic_info::{Location, PanicInfo};
pub use pin::{Pin, Pins, encode_pinned, pin};
pub use shared::SharedFrame;
pub use value::{decode, encode, encode_into};
