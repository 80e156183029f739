//! Everything `unsafe` in this crate: raw access to shared-memory mappings, futexes, and
//! descriptors inherited across `exec`.

pub mod futex;
pub(crate) mod inherit;
mod ring;
mod shm;

pub(crate) use ring::{
    Bell, RECORD_ALIGN, RING_HEADER, ReadCursor, RingMemory, Window, WriteCursor,
};
pub(crate) use shm::{HEADER, Mapping, ReadLease, WriteLease};
