//! How a handle made of one object's memory crosses to another process (locks, events,
//! barriers, values, arrays): its memfd travels (see [`travel`](crate::travel)) and the
//! receiving side checks what it got.

use std::sync::Arc;

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::object::{Kind, Object};
use crate::travel::{self, Route};

/// Serializes a handle on `obj` (kept alive by the message or export until it is taken).
pub(crate) fn serialize<S: Serializer>(obj: &Arc<Object>, s: S) -> Result<S::Ok, S::Error> {
    let route = travel::send(&[obj.map().fd()], Arc::clone(obj) as _).map_err(S::Error::custom)?;
    route.serialize(s)
}

/// Deserializes a handle on an object of `kind` holding elements of fingerprint `elem`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    d: D,
    kind: Kind,
    elem: u64,
) -> Result<Arc<Object>, D::Error> {
    deserialize_as(d, kind, elem, false)
}

/// As [`deserialize`], for an object sealed read-only.
pub(crate) fn deserialize_frozen<'de, D: Deserializer<'de>>(
    d: D,
    kind: Kind,
    elem: u64,
) -> Result<Arc<Object>, D::Error> {
    deserialize_as(d, kind, elem, true)
}

fn deserialize_as<'de, D: Deserializer<'de>>(
    d: D,
    kind: Kind,
    elem: u64,
    frozen: bool,
) -> Result<Arc<Object>, D::Error> {
    let route = Route::deserialize(d)?;
    let mut fds = travel::receive(&route).map_err(D::Error::custom)?;
    let fd = fds
        .pop()
        .filter(|_| fds.is_empty())
        .ok_or_else(|| D::Error::custom("one descriptor expected"))?;
    Object::receive_as(fd, kind, elem, frozen).map_err(D::Error::custom)
}
