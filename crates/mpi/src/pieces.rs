//! How a frame crosses as MPI messages, with no IO: one message when it is small or in
//! one part, else a head saying its length and then its parts, each cut into pieces no
//! larger than MPI's count limit (an MPI count is an `int`: 2 GiB - 1 bytes), sent from
//! where they lie. The receiver puts each piece where it goes in one buffer
//! ([`Assembly`]).

use std::sync::OnceLock;

use crate::spare::Spare;

/// The environment variable that lowers the largest message this process sends (bytes;
/// larger frames go in pieces). For tests, and for networks that handle huge messages
/// badly.
pub const MAX_MESSAGE_ENV: &str = "MULTIPROC_MPI_MAX_MESSAGE";

/// MPI's count limit for bytes: an `int`.
const COUNT_LIMIT: usize = i32::MAX as usize;

/// Frames up to this size in several parts are copied into one message: a copy this
/// small costs less than a message.
const GATHER: usize = 64 << 10;

/// The largest message this process sends: MPI's count limit, or less when
/// [`MAX_MESSAGE_ENV`] says so.
pub(crate) fn max_message() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        let asked = std::env::var(MAX_MESSAGE_ENV).ok().and_then(|v| v.trim().parse().ok());
        asked.filter(|&n: &usize| n > 0).map_or(COUNT_LIMIT, |n| n.min(COUNT_LIMIT))
    })
}

/// How a frame of these parts crosses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// As one message: the frame's one part as it lies.
    Whole,
    /// As one message: its parts copied together (small).
    Gathered,
    /// As a head with the frame's length, then its [`pieces`].
    Pieces,
}

/// How a frame given as `parts` crosses when messages hold at most `limit` bytes.
pub(crate) fn shape(parts: &[&[u8]], limit: usize) -> Shape {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let non_empty = parts.iter().filter(|p| !p.is_empty()).count();
    match non_empty {
        _ if len > limit => Shape::Pieces,
        0 | 1 => Shape::Whole,
        _ if len <= GATHER => Shape::Gathered,
        _ => Shape::Pieces,
    }
}

/// The messages that carry `parts` after the head: each non-empty part, cut into pieces
/// of at most `limit` bytes, in order.
pub(crate) fn pieces<'a>(
    parts: &'a [&'a [u8]],
    limit: usize,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    parts.iter().flat_map(move |p| p.chunks(limit.max(1)))
}

/// A frame being received in pieces, into one buffer.
#[derive(Debug)]
pub(crate) struct Assembly {
    frame: Spare,
    filled: usize,
}

/// A piece that does not fit the frame its head announced: the peer broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Overflow {
    pub len: usize,
    pub room: usize,
}

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a piece of {} bytes where {} remain of its frame", self.len, self.room)
    }
}

impl Assembly {
    /// A frame of `len` bytes announced by its head.
    pub(crate) fn new(len: usize) -> Assembly {
        Assembly { frame: Spare::for_len(len), filled: 0 }
    }

    /// Where the next piece of `len` bytes goes.
    pub(crate) fn slot(&mut self, len: usize) -> Result<&mut [u8], Overflow> {
        let room = self.frame.len() - self.filled;
        if len > room {
            return Err(Overflow { len, room });
        }
        let at = self.filled;
        self.filled += len;
        Ok(&mut self.frame.bytes_mut()[at..at + len])
    }

    /// The frame once every piece has come.
    pub(crate) fn finished(self) -> Result<Spare, Assembly> {
        if self.filled == self.frame.len() { Ok(self.frame) } else { Err(self) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assemble(parts: &[&[u8]], limit: usize) -> Vec<u8> {
        let total = parts.iter().map(|p| p.len()).sum();
        let mut assembly = Assembly::new(total);
        for piece in pieces(parts, limit) {
            assert!(!piece.is_empty() && piece.len() <= limit, "a piece of {}", piece.len());
            assembly.slot(piece.len()).unwrap().copy_from_slice(piece);
        }
        assembly.finished().expect("every piece came").to_vec()
    }

    proptest! {
        #[test]
        fn pieces_rebuild_the_frame(
            parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..6),
            limit in 1usize..200,
        ) {
            let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let frame = parts.concat();
            let shape = shape(&parts, limit);
            prop_assert_eq!(shape == Shape::Pieces, frame.len() > limit || (
                parts.iter().filter(|p| !p.is_empty()).count() > 1 && frame.len() > GATHER
            ));
            prop_assert_eq!(assemble(&parts, limit), frame);
        }
    }

    #[test]
    fn small_frames_cross_whole_and_large_ones_in_pieces() {
        let big = vec![1u8; GATHER];
        assert_eq!(shape(&[b"head", b"", b"tail"], 1 << 20), Shape::Gathered);
        assert_eq!(shape(&[b"", &big, b""], 1 << 20), Shape::Whole);
        assert_eq!(shape(&[b"head", &big], 1 << 20), Shape::Pieces);
        assert_eq!(shape(&[&big], 1000), Shape::Pieces);
        assert_eq!(pieces(&[&big], 1000).count(), GATHER.div_ceil(1000));
    }

    #[test]
    fn a_piece_past_the_announced_length_is_refused() {
        let mut a = Assembly::new(10);
        a.slot(6).unwrap();
        assert_eq!(a.slot(5).unwrap_err(), Overflow { len: 5, room: 4 });
        let a = a.finished().unwrap_err();
        assert_eq!(a.filled, 6);
    }
}
