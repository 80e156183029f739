//! [`Pins`]: what encoded bytes refer to and must keep alive until they are decoded.
//!
//! Some values cannot be turned into bytes alone: a handle on an object shared between
//! processes (a queue, a lock) encodes as a key, and the object's descriptors are handed
//! to the decoding process by the process that encoded it, on request. The encoding
//! process must keep the object alive for as long as its bytes may still be decoded —
//! beyond the value itself, which the caller may drop at once.
//!
//! So a caller that keeps encoded bytes around for a while (a `Process` until its child
//! has started, a pool for as long as it starts workers) encodes with [`encode_pinned`]
//! and holds the [`Pins`] it returns beside the bytes. A `Serialize` impl that needs this
//! calls [`pin`] during the encode; when nobody collects pins ([`encode`](crate::encode)),
//! `pin` says so and the impl reports an encode error — a typed error at the call, never
//! bytes that cannot be decoded later. `pin` also tells the impl what the bytes are for
//! ([`What`]): a process's argument is decoded once, an initializer's argument by every
//! worker a pool starts, so a pinned thing may be let go after its first use or not.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::error::{CodecError, What};
use crate::value::encode;

/// Something kept alive for as long as encoded bytes that refer to it.
pub type Pin = Arc<dyn Any + Send + Sync>;

thread_local! {
    /// The encodes collecting pins on this thread, innermost last: what each encodes, and
    /// its pins so far.
    static COLLECTING: RefCell<Vec<(What, Vec<Pin>)>> = const { RefCell::new(Vec::new()) };
}

/// The pins of one encode: keep them as long as its bytes may be decoded.
///
/// ```
/// use multiproc_codec::{Pins, What, encode_pinned};
///
/// let mut buf = Vec::new();
/// let pins: Pins = encode_pinned(&7u32, What::Argument, &mut buf)?;
/// assert!(pins.is_empty()); // plain values pin nothing
/// # Ok::<(), multiproc_codec::CodecError>(())
/// ```
#[derive(Clone, Default)]
pub struct Pins(Vec<Pin>);

impl Pins {
    /// Whether nothing was pinned.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many things were pinned.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for Pins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pins({})", self.0.len())
    }
}

/// Appends the encoding of `value` to `out`, as [`encode`](crate::encode) does, and
/// returns what its `Serialize` impls pinned (see the module docs).
///
/// # Errors
///
/// As [`encode`](crate::encode); then nothing stays pinned.
pub fn encode_pinned<T: Serialize + ?Sized>(
    value: &T,
    what: What,
    out: &mut Vec<u8>,
) -> Result<Pins, CodecError> {
    /// Pops this encode's collector, also when a `Serialize` impl panics.
    struct Collector;
    impl Drop for Collector {
        fn drop(&mut self) {
            COLLECTING.with_borrow_mut(|stack| stack.pop());
        }
    }
    COLLECTING.with_borrow_mut(|stack| stack.push((what, Vec::new())));
    let collector = Collector;
    let encoded = encode(value, what, out);
    let pins = COLLECTING.with_borrow_mut(|stack| stack.last_mut().map(|(_, p)| std::mem::take(p)));
    drop(collector);
    encoded.map(|()| Pins(pins.unwrap_or_default()))
}

/// Keeps `thing` alive as long as the bytes being encoded on this thread, if an
/// [`encode_pinned`] is collecting, and returns what those bytes are for; `None` when
/// nothing collects (the caller's `Serialize` impl should then fail: its bytes could not
/// be decoded).
pub fn pin(thing: Pin) -> Option<What> {
    COLLECTING.with_borrow_mut(|stack| {
        let (what, pins) = stack.last_mut()?;
        pins.push(thing);
        Some(*what)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serializer;
    use serde::ser::Error;

    struct NeedsPin(Arc<u8>);

    impl Serialize for NeedsPin {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if pin(self.0.clone()) != Some(What::Argument) {
                return Err(S::Error::custom("cannot travel outside a pinned encode"));
            }
            s.serialize_u8(*self.0)
        }
    }

    #[test]
    fn pins_are_collected_and_a_plain_encode_refuses() {
        let value = NeedsPin(Arc::new(9));
        let mut buf = Vec::new();
        let pins = encode_pinned(&(1u8, &value, &value), What::Argument, &mut buf).unwrap();
        assert_eq!((pins.len(), Arc::strong_count(&value.0)), (2, 3));
        drop(pins);
        assert_eq!(Arc::strong_count(&value.0), 1);
        let err = encode(&value, What::Argument, &mut buf).unwrap_err();
        assert!(err.detail().contains("pinned"), "{err}");
    }

    #[test]
    fn a_failed_encode_pins_nothing() {
        let value = NeedsPin(Arc::new(9));
        let mut buf = Vec::new();
        let bad = (value, NeedsPinFails);
        assert!(encode_pinned(&bad, What::Argument, &mut buf).is_err());
        assert_eq!(Arc::strong_count(&bad.0.0), 1);
    }

    struct NeedsPinFails;

    impl Serialize for NeedsPinFails {
        fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(S::Error::custom("no"))
        }
    }
}
