//! Strategies shared by the codec's property tests.

use multiproc_codec::What;
use proptest::prelude::*;

/// Any direction a value can be encoded for.
pub fn what() -> impl Strategy<Value = What> {
    prop_oneof![
        Just(What::Argument),
        Just(What::Result),
        Just(What::InitArgument),
        Just(What::Message),
    ]
}
