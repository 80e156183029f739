//! Everything `unsafe` in this crate: raw access to shared-memory mappings.

mod shm;

pub(crate) use shm::{HEADER, Mapping, ReadLease, WriteLease};
