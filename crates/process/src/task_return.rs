//! [`TaskReturn`]: what a task may return — a value, or a `Result` whose `Err` fails the
//! task — and [`TaskFailure`]: which errors a task may return.
//!
//! Rust cannot say "any serde type, unless it is a `Result`" in one trait (that needs
//! specialization), so each trait is implemented several times, once per *route*, and the
//! compiler picks the one route that applies to the task's return type. The routes are the
//! marker types in [`via`]; nobody writes them.

use std::ops::Deref;

use multiproc_codec::{ErrorInfo, What, encode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The routes of [`TaskReturn`] and [`TaskFailure`]: marker types the compiler infers,
/// never written by hand.
pub mod via {
    use std::marker::PhantomData;

    /// A serde value: the task's value.
    #[derive(Debug)]
    pub enum Value {}

    /// A `Result` whose error takes route `E` of [`TaskFailure`](super::TaskFailure).
    #[derive(Debug)]
    pub struct Fails<E>(PhantomData<E>);

    /// An error type that implements `std::error::Error` (`io::Error`, a `thiserror` enum).
    #[derive(Debug)]
    pub enum Error {}

    /// A pointer to a `dyn Error` (`anyhow::Error`, `Box<dyn Error + Send + Sync>`).
    #[derive(Debug)]
    pub enum DynError {}

    /// [`Typed`](super::Typed): a serde error that comes back as itself.
    #[derive(Debug)]
    pub enum Serde {}
}

/// What a task may return: any serde value, which is the task's value, or a
/// `Result<T, E>` whose `Ok(t)` is the value and whose `Err(e)` fails the task with
/// `TaskError::Failed` — for any error `E`: an `std::error::Error` (`io::Error`, a
/// `thiserror` enum), `anyhow::Error`, or `Box<dyn Error + Send + Sync>` (see
/// [`TaskFailure`]).
///
/// ```
/// use std::path::PathBuf;
/// use multiproc::{Pool, TaskError};
///
/// fn file_len(path: PathBuf) -> std::io::Result<u64> {
///     Ok(std::fs::metadata(path)?.len())
/// }
///
/// let pool = Pool::new(1)?;
/// let err = pool.apply(file_len, PathBuf::from("/no/such/file")).unwrap_err();
/// let TaskError::Failed(info) = &err else { panic!("{err:?}") };
/// assert!(info.is::<std::io::Error>());
/// assert!(info.message().contains("No such file"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `Via` is a marker the compiler infers (see [`via`]). A `Result` whose error is itself a
/// serde type is also a serde value, so the compiler cannot choose: return
/// `Result<T, Typed<E>>` to have `Err` fail the task and come back typed, or
/// `Result<T, String>` for an error that is a plain value.
///
/// ```compile_fail,E0283
/// #[derive(Debug, serde::Serialize, serde::Deserialize)]
/// struct OutOfStock;
/// impl std::fmt::Display for OutOfStock {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("out of stock") }
/// }
/// impl std::error::Error for OutOfStock {}
///
/// fn order(n: u32) -> Result<u32, OutOfStock> { if n > 3 { Err(OutOfStock) } else { Ok(n) } }
///
/// let pool = multiproc::Pool::new(1).unwrap();
/// pool.apply(order, 5); // error[E0283]: type annotations needed (a value, or a failure?)
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a task",
    label = "a task returns a serde value, or a `Result<T, E>` whose `E` is an error",
    note = "a value must be `Serialize + Deserialize` (derive both), and an `Err` type an `std::error::Error`, `anyhow::Error` or `Box<dyn Error + Send + Sync>`"
)]
pub trait TaskReturn<Via>: 'static {
    /// What the caller gets when the task succeeds.
    type Value: Serialize + DeserializeOwned + Send + 'static;

    /// The task's value, or its failure.
    fn into_value(self) -> Result<Self::Value, ErrorInfo>;
}

impl<R: Serialize + DeserializeOwned + Send + 'static> TaskReturn<via::Value> for R {
    type Value = R;

    #[inline(always)]
    fn into_value(self) -> Result<R, ErrorInfo> {
        Ok(self)
    }
}

impl<T, E, Route> TaskReturn<via::Fails<Route>> for Result<T, E>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    E: TaskFailure<Route> + 'static,
    Route: 'static,
{
    type Value = T;

    #[inline(always)]
    fn into_value(self) -> Result<T, ErrorInfo> {
        self.map_err(TaskFailure::into_info)
    }
}

/// An error a task may return in `Err`: turned into the [`ErrorInfo`] the caller gets in
/// `TaskError::Failed`. Implemented for every `std::error::Error`, for pointers to a
/// `dyn Error` (`anyhow::Error`, `Box<dyn Error + Send + Sync>`), and for [`Typed`]. (A
/// box of a concrete error, `Box<io::Error>`, is both of the first two, so the compiler
/// cannot choose: return the error itself.)
///
/// ```
/// use multiproc::process::TaskFailure;
///
/// let e: Box<dyn std::error::Error + Send + Sync> = "no quorum".into();
/// let info = e.into_info();
/// assert_eq!(info.message(), "no quorum");
/// assert!(info.type_name().starts_with("alloc::boxed::Box<dyn core::error::Error"));
/// ```
pub trait TaskFailure<Via> {
    /// The error as data: type name, message, `source()` chain.
    fn into_info(self) -> ErrorInfo;
}

impl<E: std::error::Error + 'static> TaskFailure<via::Error> for E {
    #[cold]
    fn into_info(self) -> ErrorInfo {
        ErrorInfo::new(std::any::type_name::<E>(), &self)
    }
}

impl<P> TaskFailure<via::DynError> for P
where
    P: Deref + 'static,
    P::Target: std::error::Error,
{
    #[cold]
    fn into_info(self) -> ErrorInfo {
        ErrorInfo::new(std::any::type_name::<P>(), &*self)
    }
}

/// A serde error that comes back to the caller as itself: return `Result<T, Typed<E>>`
/// and read it with [`ErrorInfo::downcast`]. `?` wraps an `E` on its own.
///
/// ```
/// use multiproc::{Pool, TaskError, Typed};
/// use multiproc::serde::{Deserialize, Serialize};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// #[serde(crate = "multiproc::serde")]
/// struct OutOfStock { wanted: u32 }
/// impl std::fmt::Display for OutOfStock {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "{} wanted, none left", self.wanted)
///     }
/// }
/// impl std::error::Error for OutOfStock {}
///
/// fn order(wanted: u32) -> Result<u32, Typed<OutOfStock>> {
///     if wanted > 3 { Err(OutOfStock { wanted })? }
///     Ok(wanted)
/// }
///
/// let pool = Pool::new(1)?;
/// let Err(TaskError::Failed(info)) = pool.apply(order, 5) else { panic!() };
/// assert_eq!(info.downcast::<OutOfStock>(), Some(OutOfStock { wanted: 5 }));
/// assert_eq!(info.message(), "5 wanted, none left");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Typed<E>(pub E);

impl<E> From<E> for Typed<E> {
    fn from(e: E) -> Typed<E> {
        Typed(e)
    }
}

impl<E: std::error::Error + Serialize + 'static> TaskFailure<via::Serde> for Typed<E> {
    #[cold]
    fn into_info(self) -> ErrorInfo {
        let info = ErrorInfo::new(std::any::type_name::<E>(), &self.0);
        let mut bytes = Vec::new();
        match encode(&self.0, What::Result, &mut bytes) {
            Ok(()) => info.with_typed(bytes),
            Err(_) => info,
        }
    }
}
