//! A finished frame as it is sent: [`FrameParts`] (borrowed) and [`OwnedFrame`], its own
//! bytes with large payloads kept by reference between them.

use crate::out_of_band::Segment;

/// A finished frame as it is sent: its own bytes, with large payloads kept by reference
/// between them (see [`FrameBuf::by_reference`](crate::FrameBuf::by_reference)). The parts, in order, are the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameParts<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) segments: &'a [Segment],
}

impl<'a> FrameParts<'a> {
    /// A frame in one piece.
    pub fn whole(bytes: &'a [u8]) -> FrameParts<'a> {
        FrameParts { bytes, segments: &[] }
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.segments.iter().map(|(_, b)| b.len()).sum::<usize>()
    }

    /// Whether the frame has no bytes (never true of a finished frame).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame's bytes, if it is in one piece.
    pub fn contiguous(&self) -> Option<&'a [u8]> {
        self.segments.is_empty().then_some(self.bytes)
    }

    /// The parts in order; empty ones left out.
    pub fn iter(&self) -> Parts<'a> {
        Parts { bytes: self.bytes, segments: self.segments, at: 0, next: 0, payload: None }
    }

    /// The frame in one piece (a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for part in self.iter() {
            out.extend_from_slice(part);
        }
        out
    }
}

/// The parts of a [`FrameParts`], in order.
#[derive(Debug, Clone)]
pub struct Parts<'a> {
    bytes: &'a [u8],
    segments: &'a [Segment],
    /// Where the frame's own bytes not yet given out start.
    at: usize,
    /// The next segment.
    next: usize,
    /// A payload to give out before going on.
    payload: Option<&'a [u8]>,
}

impl<'a> Iterator for Parts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let part = if let Some(payload) = self.payload.take() {
                payload
            } else if let Some((end, payload)) = self.segments.get(self.next) {
                self.next += 1;
                self.payload = Some(payload);
                let own = &self.bytes[self.at..*end];
                self.at = *end;
                own
            } else if self.at < self.bytes.len() {
                let own = &self.bytes[self.at..];
                self.at = self.bytes.len();
                own
            } else {
                return None;
            };
            if !part.is_empty() {
                return Some(part);
            }
        }
    }
}

/// A finished frame that owns its bytes and holds its large payloads by reference (see
/// [`FrameBuf::finish_owned`](crate::FrameBuf::finish_owned)).
#[derive(Debug, Default)]
pub struct OwnedFrame {
    bytes: Vec<u8>,
    segments: Vec<Segment>,
    len: usize,
}

impl OwnedFrame {
    pub(super) fn new(bytes: Vec<u8>, segments: Vec<Segment>) -> OwnedFrame {
        let len = FrameParts { bytes: &bytes, segments: &segments }.len();
        OwnedFrame { bytes, segments, len }
    }

    /// The frame as parts to send.
    pub fn parts(&self) -> FrameParts<'_> {
        FrameParts { bytes: &self.bytes, segments: &self.segments }
    }

    /// The frame in one piece: borrowed when it is, else copied.
    pub fn to_contiguous(&self) -> std::borrow::Cow<'_, [u8]> {
        let parts = self.parts();
        parts.contiguous().map_or_else(|| parts.to_vec().into(), Into::into)
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame has no bytes (never true of a finished frame).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer that held the frame's own bytes, to build another frame in (see
    /// [`FrameBuf::with_buffer`](crate::FrameBuf::with_buffer)); the payloads held by reference are let go.
    pub fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }
}

impl From<Vec<u8>> for OwnedFrame {
    /// A frame in one piece.
    fn from(bytes: Vec<u8>) -> OwnedFrame {
        OwnedFrame::new(bytes, Vec::new())
    }
}
