//! Fingerprints as data: which build a process runs, which types a function takes, and
//! how a function is named across the boundary.

use std::any::{TypeId, type_name};
use std::fmt;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::hash::Hasher64;

/// Identifies the executable a process runs (its build id where the linker wrote one).
///
/// Parent and worker exchange it at the handshake: offsets into the code are only
/// meaningful between processes running the very same binary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BinaryFingerprint(pub u64);

impl fmt::Debug for BinaryFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BinaryFingerprint({:016x})", self.0)
    }
}

impl fmt::Display for BinaryFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Identifies the argument and result types of a task function.
///
/// A worker compares it with its own before every call, so bytes meant for one type are
/// never decoded as another.
///
/// ```
/// use multiproc_codec::TypeFingerprint;
///
/// let a = TypeFingerprint::of::<u64, String>();
/// assert_eq!(a, TypeFingerprint::of::<u64, String>());
/// assert_ne!(a, TypeFingerprint::of::<String, u64>());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TypeFingerprint(pub u64);

impl TypeFingerprint {
    /// The fingerprint of a function from `A` to `R`.
    pub fn of<A: 'static, R: 'static>() -> TypeFingerprint {
        let mut h = Hasher64::new();
        TypeId::of::<A>().hash(&mut h);
        TypeId::of::<R>().hash(&mut h);
        h.write(type_name::<A>().as_bytes());
        h.write(b"->");
        h.write(type_name::<R>().as_bytes());
        TypeFingerprint(h.finish())
    }
}

impl fmt::Debug for TypeFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypeFingerprint({:016x})", self.0)
    }
}

impl fmt::Display for TypeFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// How a task function is named across the boundary: offsets from an anchor symbol of
/// the binary, for the user's function and for the monomorphised trampoline that
/// decodes, calls and encodes, the type fingerprint the trampoline must match, and a tag
/// that ties the three together (a keyed hash by the process that made the identity: a
/// worker calls nothing whose tag it cannot reproduce with its parent's key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FnId {
    /// Offset of the user's `fn(A) -> R` from the anchor.
    pub target: i64,
    /// Offset of the trampoline from the anchor.
    pub trampoline: i64,
    /// Argument and result types.
    pub types: TypeFingerprint,
    /// The keyed hash of the three fields above.
    pub tag: u64,
}
