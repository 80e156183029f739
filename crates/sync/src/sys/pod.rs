//! [`Pod`]: types that shared memory can hold as they are.

/// Plain old data: a `Copy` type every bit pattern of which is a valid value, with no
/// pointers and no padding that matters — what [`Value`](crate::Value) and
/// [`Array`](crate::Array) keep in shared memory, where another process may have written
/// any bytes. Python: the ctypes types of `multiprocessing.Value` and `Array`.
///
/// Implemented for the integers, `f32`, `f64` and arrays of them. Not for `bool` or
/// `char` (not every bit pattern is one), nor for anything holding a pointer.
///
/// # Safety
///
/// Implement it only for a `#[repr(C)]` or `#[repr(transparent)]` type made of `Pod`
/// fields, every bit pattern of which is a valid value.
pub unsafe trait Pod: Copy + Send + Sync + 'static {}

macro_rules! pod {
    ($($t:ty),*) => {
        // SAFETY: every bit pattern of a primitive integer or float is a valid value, and
        // none holds a pointer.
        $(unsafe impl Pod for $t {})*
    };
}

pod!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);

// SAFETY: an array of `Pod` has no padding between elements and every bit pattern of
// each element is valid.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}
