//! How queue handles travel: the queue's memory and the halves the handle holds, as
//! descriptors (see [`travel`](crate::travel)), checked on arrival.

use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Queue, QueueReceiver, QueueSender, lane_of};
use crate::endpoint::{Receiving, Sending};
use crate::lane::Half;
use crate::object::{Kind, Object, type_hash};
use crate::travel::{self, Route};
use crate::wait::{Readiness, Waitable, Watch};

/// Which halves a queue handle holds, as sent.
const SENDS: u8 = 1;
const RECEIVES: u8 = 2;

#[derive(Serialize, Deserialize)]
struct Wire {
    roles: u8,
    route: Route,
}

/// Serializes a handle made of the queue's memory and the given halves.
fn serialize<S: Serializer>(
    s: S,
    tx: Option<&Arc<Sending>>,
    rx: Option<&Arc<Receiving>>,
) -> Result<S::Ok, S::Error> {
    let obj = tx.map(|t| t.lane.object()).or_else(|| rx.map(|r| r.lane.object()));
    let obj = obj.expect("a queue handle holds a half");
    let mut fds: Vec<BorrowedFd<'_>> = vec![obj.map().fd()];
    let mut roles = 0;
    if let Some(t) = tx {
        fds.extend([t.half.bell.as_fd(), t.half.post.as_fd()]);
        roles |= SENDS;
    }
    if let Some(r) = rx {
        fds.extend([r.half.bell.as_fd(), r.half.post.as_fd()]);
        roles |= RECEIVES;
    }
    let keep = Arc::new((tx.cloned(), rx.cloned()));
    let route = travel::send(&fds, keep).map_err(S::Error::custom)?;
    Wire { roles, route }.serialize(s)
}

/// Rebuilds the halves a handle was sent with.
fn deserialize<'de, T, D: Deserializer<'de>>(
    d: D,
    want: u8,
) -> Result<(Option<Sending>, Option<Receiving>), D::Error> {
    let wire = Wire::deserialize(d)?;
    if wire.roles & want != want {
        return Err(D::Error::custom("the handle sent holds other halves of the queue"));
    }
    let fds = travel::receive(&wire.route).map_err(D::Error::custom)?;
    let mut fds = fds.into_iter();
    let memory: OwnedFd = fds.next().ok_or_else(|| D::Error::custom("no queue memory"))?;
    let obj = Object::receive(memory, Kind::Queue, type_hash::<T>()).map_err(D::Error::custom)?;
    let missing = || D::Error::custom("the queue's sockets are missing");
    let tx = if wire.roles & SENDS != 0 {
        Some(Half::from_fds(&mut fds).ok_or_else(missing)?)
    } else {
        None
    };
    let rx = if wire.roles & RECEIVES != 0 {
        Some(Half::from_fds(&mut fds).ok_or_else(missing)?)
    } else {
        None
    };
    let maxsize = obj.param();
    let sending =
        tx.filter(|_| want & SENDS != 0).map(|half| Sending { lane: lane_of(&obj), half, maxsize });
    let receiving =
        rx.filter(|_| want & RECEIVES != 0).map(|half| Receiving::new(lane_of(&obj), half));
    Ok((sending, receiving))
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(s, Some(&self.tx.tx), Some(&self.rx.rx))
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match deserialize::<T, D>(d, SENDS | RECEIVES)? {
            (Some(tx), Some(rx)) => Ok(Queue {
                tx: QueueSender { tx: Arc::new(tx), _items: PhantomData },
                rx: QueueReceiver { rx: Arc::new(rx), _items: PhantomData },
            }),
            _ => Err(D::Error::custom("a queue needs both halves")),
        }
    }
}

impl<T> Serialize for QueueSender<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(s, Some(&self.tx), None)
    }
}

impl<'de, T> Deserialize<'de> for QueueSender<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match deserialize::<T, D>(d, SENDS)? {
            (Some(tx), _) => Ok(QueueSender { tx: Arc::new(tx), _items: PhantomData }),
            _ => Err(D::Error::custom("a queue sender needs the sending half")),
        }
    }
}

impl<T> Serialize for QueueReceiver<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(s, None, Some(&self.rx))
    }
}

impl<'de, T> Deserialize<'de> for QueueReceiver<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match deserialize::<T, D>(d, RECEIVES)? {
            (_, Some(rx)) => Ok(QueueReceiver { rx: Arc::new(rx), _items: PhantomData }),
            _ => Err(D::Error::custom("a queue receiver needs the receiving half")),
        }
    }
}

impl<T> Waitable for QueueReceiver<T> {
    fn readiness(&self) -> Readiness<'_> {
        Readiness(Watch::Lane(&self.rx))
    }
}

impl<T> Waitable for Queue<T> {
    fn readiness(&self) -> Readiness<'_> {
        Readiness(Watch::Lane(&self.rx.rx))
    }
}
