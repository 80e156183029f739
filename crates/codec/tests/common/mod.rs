//! Strategies and types shared by the codec's property tests.
#![allow(dead_code)] // each test file uses part of this module

use multiproc_codec::What;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// An `f64` compared by bit pattern, so NaN payloads and signed zeros must survive too.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct F64Bits(pub f64);

impl PartialEq for F64Bits {
    fn eq(&self, other: &F64Bits) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

/// An `f32` compared by bit pattern.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct F32Bits(pub f32);

impl PartialEq for F32Bits {
    fn eq(&self, other: &F32Bits) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

/// Any direction a value can be encoded for.
pub fn what() -> impl Strategy<Value = What> {
    prop_oneof![
        Just(What::Argument),
        Just(What::Result),
        Just(What::InitArgument),
        Just(What::Message),
    ]
}
