//! [`Value`], [`Array`] and [`FrozenArray`]: plain-old-data in shared memory. Python:
//! `multiprocessing.Value`, `multiprocessing.Array`.
//!
//! A value or an array sits in a sealed memfd behind its own robust lock, and is only
//! ever touched under it (`lock()` gives a guard that dereferences to it; `get`/`set`
//! lock for one copy). A frozen array is sealed read-only for good: every process reads
//! it without a lock and without a copy.

use std::fmt;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{LockError, SyncError};
use crate::handle;
use crate::lock::{Attempt, MUTEX_AT, acquire};
use crate::object::{Held, Kind, Object, type_hash};
use crate::sys::mutex::Kind as MutexKind;
use crate::sys::pod::Pod;

/// Where the data starts: after the header and the lock, aligned for `T`.
fn data_at<T>(page: bool) -> usize {
    let at: usize = if page { 4096 } else { 128 };
    at.next_multiple_of(align_of::<T>())
}

/// Locks `obj`'s value lock, taking it over from a holder that died (get/set copy whole
/// values under it: a torn value can only come from a `lock()` guard's writer).
fn lock_for_copy(obj: &Object) -> Held<'_> {
    match acquire(obj, MUTEX_AT, Attempt::Block) {
        Ok(held) | Err(LockError::OwnerDied(held)) => held,
        Err(e) => panic!("cannot lock a shared value: {e}"),
    }
}

/// A plain-old-data value in shared memory, with its robust lock. Python:
/// `multiprocessing.Value(typecode, v)`.
///
/// [`get`](Self::get) and [`set`](Self::set) copy the value under the lock;
/// [`lock`](Self::lock) holds it for a read-modify-write (`*guard += 1`), which is not
/// atomic otherwise — as in Python. A holder that dies leaves the lock to the next one,
/// with [`LockError::OwnerDied`].
///
/// ```
/// use multiproc::Process;
/// use multiproc::sync::Value;
///
/// fn add(counter: Value<u64>) {
///     for _ in 0..1000 {
///         *counter.lock().unwrap() += 1;
///     }
/// }
///
/// let counter = Value::new(0u64)?;
/// let mut a = Process::new(add, counter.clone());
/// let mut b = Process::new(add, counter.clone());
/// a.start()?;
/// b.start()?;
/// a.join()?;
/// b.join()?;
/// assert_eq!(counter.get(), 2000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Value<T> {
    obj: Arc<Object>,
    _value: PhantomData<T>,
}

/// A held [`Value`]: dereferences to the value; dropping it unlocks. Not `Send`.
pub struct ValueGuard<'a, T> {
    held: Held<'a>,
    obj: &'a Object,
    _value: PhantomData<&'a mut T>,
}

impl<T: Pod> Value<T> {
    /// A new value. Python: `Value(typecode, v)`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Io`] when the system refuses the memory.
    pub fn new(value: T) -> Result<Value<T>, SyncError> {
        let at = data_at::<T>(false);
        let obj = Object::create(Kind::Value, type_hash::<T>(), 0, 0, at + size_of::<T>())?;
        obj.init_mutex(MUTEX_AT, MutexKind::Plain)?;
        let v = Value { obj, _value: PhantomData };
        v.set(value);
        Ok(v)
    }

    /// The value now (locks for the copy). Python: `.value`.
    ///
    /// # Panics
    ///
    /// If this thread holds the value's lock (a [`ValueGuard`]): read through the guard.
    pub fn get(&self) -> T {
        let held = lock_for_copy(&self.obj);
        self.obj.map().locked_ref::<T>(data_at::<T>(false), 1, &held)[0]
    }

    /// Replaces the value (locks for the copy). Python: `.value = v`.
    ///
    /// # Panics
    ///
    /// If this thread holds the value's lock (a [`ValueGuard`]): write through the guard.
    pub fn set(&self, value: T) {
        let mut held = lock_for_copy(&self.obj);
        self.obj.map().locked::<T>(data_at::<T>(false), 1, &mut held)[0] = value;
    }

    fn guard(&self, how: Attempt) -> Result<ValueGuard<'_, T>, LockError<ValueGuard<'_, T>>> {
        let obj = &*self.obj;
        let make = |held| ValueGuard { held, obj, _value: PhantomData };
        acquire(obj, MUTEX_AT, how).map(make).map_err(|e| e.map(make))
    }

    /// Holds the value's lock: the guard dereferences to the value. Python:
    /// `with v.get_lock(): ...`.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (with the guard) when the previous holder died holding
    /// the lock (the value may be half-written); see [`LockError`].
    pub fn lock(&self) -> Result<ValueGuard<'_, T>, LockError<ValueGuard<'_, T>>> {
        self.guard(Attempt::Block)
    }

    /// As [`lock`](Self::lock), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`LockError::TimedOut`] after the timeout; as [`lock`](Self::lock).
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ValueGuard<'_, T>, LockError<ValueGuard<'_, T>>> {
        self.guard(Attempt::timeout(timeout))
    }

    /// As [`lock`](Self::lock), if the lock is free now.
    ///
    /// # Errors
    ///
    /// [`LockError::WouldBlock`] when it is held; as [`lock`](Self::lock).
    pub fn try_lock(&self) -> Result<ValueGuard<'_, T>, LockError<ValueGuard<'_, T>>> {
        self.guard(Attempt::Try)
    }
}

impl<T: Pod> Deref for ValueGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.obj.map().locked_ref::<T>(data_at::<T>(false), 1, &self.held)[0]
    }
}

impl<T: Pod> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.obj.map().locked::<T>(data_at::<T>(false), 1, &mut self.held)[0]
    }
}

/// A fixed-length array of plain-old-data in shared memory, with its robust lock.
/// Python: `multiprocessing.Array(typecode, size_or_initializer)`.
///
/// [`lock`](Self::lock) gives a guard that dereferences to the slice; [`get`](Self::get),
/// [`set`](Self::set) and [`to_vec`](Self::to_vec) lock for one copy. For a table that
/// many processes read and none writes, [`freeze`](Self::freeze) it: a [`FrozenArray`]
/// is read without a lock, in place, by every process.
///
/// ```
/// use multiproc::sync::Array;
///
/// let a = Array::from_slice(&[1u32, 2, 3])?;
/// a.set(1, 20);
/// a.lock().unwrap()[2] *= 10;
/// assert_eq!(a.to_vec(), [1, 20, 30]);
/// assert_eq!(Array::<f64>::new(4)?.to_vec(), [0.0; 4]); // zero-filled
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Array<T> {
    obj: Arc<Object>,
    len: usize,
    _items: PhantomData<T>,
}

/// A held [`Array`]: dereferences to the slice; dropping it unlocks. Not `Send`.
pub struct ArrayGuard<'a, T> {
    held: Held<'a>,
    obj: &'a Object,
    len: usize,
    _items: PhantomData<&'a mut [T]>,
}

impl<T: Pod> Array<T> {
    /// `len` zeros. Python: `Array(typecode, size)`.
    ///
    /// # Errors
    ///
    /// [`SyncError::Io`] when the system refuses the memory; [`SyncError::Invalid`] when
    /// the size overflows.
    pub fn new(len: usize) -> Result<Array<T>, SyncError> {
        let bytes = len
            .checked_mul(size_of::<T>())
            .and_then(|b| b.checked_add(data_at::<T>(true)))
            .ok_or_else(|| SyncError::Invalid(format!("an array of {len} items is too large")))?;
        let obj = Object::create(Kind::Array, type_hash::<T>(), len as u64, 0, bytes)?;
        obj.init_mutex(MUTEX_AT, MutexKind::Plain)?;
        Ok(Array { obj, len, _items: PhantomData })
    }

    /// A copy of `items`. Python: `Array(typecode, sequence)`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_slice(items: &[T]) -> Result<Array<T>, SyncError> {
        let array = Array::new(items.len())?;
        array.lock_for_copy_mut(|slice| slice.copy_from_slice(items));
        Ok(array)
    }

    fn lock_for_copy_mut<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> R {
        let mut held = lock_for_copy(&self.obj);
        f(self.obj.map().locked::<T>(data_at::<T>(true), self.len, &mut held))
    }

    /// Item `i` (locks for the copy). Python: `a[i]`.
    ///
    /// # Panics
    ///
    /// When `i` is out of bounds, or this thread holds the array's lock.
    pub fn get(&self, i: usize) -> T {
        self.lock_for_copy_mut(|slice| slice[i])
    }

    /// Sets item `i` (locks for the copy). Python: `a[i] = v`.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    pub fn set(&self, i: usize, value: T) {
        self.lock_for_copy_mut(|slice| slice[i] = value);
    }

    /// A copy of every item (locks for the copy). Python: `a[:]`.
    ///
    /// # Panics
    ///
    /// If this thread holds the array's lock.
    pub fn to_vec(&self) -> Vec<T> {
        self.lock_for_copy_mut(|slice| slice.to_vec())
    }

    fn guard(&self, how: Attempt) -> Result<ArrayGuard<'_, T>, LockError<ArrayGuard<'_, T>>> {
        let (obj, len) = (&*self.obj, self.len);
        let make = |held| ArrayGuard { held, obj, len, _items: PhantomData };
        acquire(obj, MUTEX_AT, how).map(make).map_err(|e| e.map(make))
    }

    /// Holds the array's lock: the guard dereferences to the slice. Python:
    /// `with a.get_lock(): ...`.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (with the guard) when the previous holder died holding
    /// the lock; see [`LockError`].
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>, LockError<ArrayGuard<'_, T>>> {
        self.guard(Attempt::Block)
    }

    /// As [`lock`](Self::lock), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`LockError::TimedOut`] after the timeout; as [`lock`](Self::lock).
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ArrayGuard<'_, T>, LockError<ArrayGuard<'_, T>>> {
        self.guard(Attempt::timeout(timeout))
    }

    /// Seals the array read-only for good (the kernel refuses any write, in every
    /// process): a [`FrozenArray`] reads in place, without a lock. Only possible while
    /// no other handle on it exists, here or in another process.
    ///
    /// ```
    /// let table = multiproc::sync::Array::from_slice(&[2u64, 3, 5, 7])?.freeze().map_err(|(_, e)| e)?;
    /// assert_eq!(table.iter().sum::<u64>(), 17);
    /// # Ok::<(), multiproc::sync::SyncError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The array back, with [`SyncError::Io`], when another handle exists.
    pub fn freeze(self) -> Result<FrozenArray<T>, (Array<T>, SyncError)> {
        let len = self.len;
        match self.obj.freeze() {
            Ok(obj) => Ok(FrozenArray { obj, len, _items: PhantomData }),
            Err((obj, e)) => Err((Array { obj, len, _items: PhantomData }, SyncError::Io(e))),
        }
    }
}

impl<T> Array<T> {
    /// Number of items. Python: `len(a)`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T: Pod> Deref for ArrayGuard<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.obj.map().locked_ref::<T>(data_at::<T>(true), self.len, &self.held)
    }
}

impl<T: Pod> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.obj.map().locked::<T>(data_at::<T>(true), self.len, &mut self.held)
    }
}

/// An [`Array`] sealed read-only: every process reads it in place, with no lock and no
/// copy, and none can write it. Dereferences to `[T]`. Made by [`Array::freeze`].
///
/// The table a pool's workers share: pass it to the pool's initializer and every worker
/// maps the same pages.
pub struct FrozenArray<T> {
    obj: Arc<Object>,
    len: usize,
    _items: PhantomData<T>,
}

impl<T: Pod> Deref for FrozenArray<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.obj.map().frozen_values::<T>(data_at::<T>(true), self.len)
    }
}

impl<T> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value { obj: Arc::clone(&self.obj), _value: PhantomData }
    }
}

impl<T> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array { obj: Arc::clone(&self.obj), len: self.len, _items: PhantomData }
    }
}

impl<T> Clone for FrozenArray<T> {
    fn clone(&self) -> Self {
        FrozenArray { obj: Arc::clone(&self.obj), len: self.len, _items: PhantomData }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for Value<T> {
    /// `Value(5)`; Python's repr is `<Synchronized wrapper for c_int(5)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.try_lock(MUTEX_AT) {
            Ok(Ok((held, _))) => {
                let v = self.obj.map().locked_ref::<T>(data_at::<T>(false), 1, &held)[0];
                f.debug_tuple("Value").field(&v).finish()
            }
            _ => f.write_str("Value(<locked>)"),
        }
    }
}

impl<T> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array").field("len", &self.len).finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for FrozenArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrozenArray").field("len", &self.len).finish_non_exhaustive()
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValueGuard").field(&**self).finish()
    }
}

impl<T> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayGuard").field("len", &self.len).finish_non_exhaustive()
    }
}

impl<T> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        handle::serialize(&self.obj, s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let obj = handle::deserialize(d, Kind::Value, type_hash::<T>())?;
        Ok(Value { obj, _value: PhantomData })
    }
}

impl<T> Serialize for Array<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        handle::serialize(&self.obj, s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let obj = handle::deserialize(d, Kind::Array, type_hash::<T>())?;
        let len = obj.param() as usize;
        check_len::<T, D>(&obj, len)?;
        Ok(Array { obj, len, _items: PhantomData })
    }
}

impl<T> Serialize for FrozenArray<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        handle::serialize(&self.obj, s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for FrozenArray<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let obj = handle::deserialize_frozen(d, Kind::Array, type_hash::<T>())?;
        let len = obj.param() as usize;
        check_len::<T, D>(&obj, len)?;
        Ok(FrozenArray { obj, len, _items: PhantomData })
    }
}

/// Refuses an array whose announced length does not fit its memory.
fn check_len<'de, T, D: Deserializer<'de>>(obj: &Object, len: usize) -> Result<(), D::Error> {
    let fits = len
        .checked_mul(size_of::<T>())
        .and_then(|b| b.checked_add(data_at::<T>(true)))
        .is_some_and(|end| end <= obj.map().len());
    if fits {
        Ok(())
    } else {
        Err(serde::de::Error::custom("the array received is larger than its memory"))
    }
}
