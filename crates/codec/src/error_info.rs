//! [`ErrorInfo`]: an error a task returned on the far side, as data.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::What;
use crate::value::decode;

/// An error a task returned (`Err(e)`) in another process: the error's type, its message
/// (`Display`), the messages of its `source()` chain, and the error itself when its type is
/// serde (see [`downcast`](Self::downcast)).
///
/// Its `source()` chain is the original's, as text; `Display` is the error's own message.
///
/// ```
/// use multiproc_codec::ErrorInfo;
///
/// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
/// let info = ErrorInfo::new("std::io::error::Error", &io);
/// assert_eq!(info.to_string(), "no such file");
/// assert!(info.is::<std::io::Error>());
/// assert_eq!(info.sources().count(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    type_name: String,
    message: String,
    source: Option<Box<Cause>>,
    typed: Option<Vec<u8>>,
}

/// One link of an [`ErrorInfo`]'s `source()` chain: its message, and the next link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cause {
    message: String,
    source: Option<Box<Cause>>,
}

impl ErrorInfo {
    /// The error `error` of type `type_name` (as `std::any::type_name` spells it), with its
    /// `source()` chain as text.
    pub fn new<E: std::error::Error + ?Sized>(type_name: &str, error: &E) -> ErrorInfo {
        let mut messages = Vec::new();
        let mut next = error.source();
        while let Some(e) = next {
            messages.push(e.to_string());
            next = e.source();
        }
        let source = messages
            .into_iter()
            .rev()
            .fold(None, |source, message| Some(Box::new(Cause { message, source })));
        ErrorInfo {
            type_name: type_name.to_owned(),
            message: error.to_string(),
            source,
            typed: None,
        }
    }

    /// The same, carrying the error itself encoded (for [`downcast`](Self::downcast)).
    pub fn with_typed(mut self, encoded: Vec<u8>) -> ErrorInfo {
        self.typed = Some(encoded);
        self
    }

    /// The Rust type of the error, as `std::any::type_name` spells it
    /// (`std::io::error::Error`, `anyhow::Error`).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The error's message: what its `Display` printed.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The messages of the error's `source()` chain, the nearest cause first.
    ///
    /// ```
    /// use multiproc_codec::ErrorInfo;
    ///
    /// #[derive(Debug)]
    /// struct Outer(std::io::Error);
    /// impl std::fmt::Display for Outer {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str("cannot load the table")
    ///     }
    /// }
    /// impl std::error::Error for Outer {
    ///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) }
    /// }
    ///
    /// let info = ErrorInfo::new("Outer", &Outer(std::io::Error::other("disk on fire")));
    /// assert_eq!(info.sources().collect::<Vec<_>>(), ["disk on fire"]);
    /// assert_eq!(std::error::Error::source(&info).unwrap().to_string(), "disk on fire");
    /// ```
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        std::iter::successors(self.source.as_deref(), |c| c.source.as_deref())
            .map(|c| c.message.as_str())
    }

    /// Whether the error is of type `E` (by its type name: both processes run one binary).
    ///
    /// ```
    /// use multiproc_codec::ErrorInfo;
    ///
    /// let info = ErrorInfo::new(std::any::type_name::<std::fmt::Error>(), &std::fmt::Error);
    /// assert!(info.is::<std::fmt::Error>() && !info.is::<std::io::Error>());
    /// ```
    pub fn is<E: ?Sized + 'static>(&self) -> bool {
        self.type_name == std::any::type_name::<E>()
    }

    /// The error itself, when it is of type `E` and crossed typed (its type is serde and
    /// the task returned it as `Result<T, Typed<E>>`); `None` otherwise.
    ///
    /// ```
    /// use multiproc_codec::{encode, ErrorInfo, What};
    ///
    /// let mut bytes = Vec::new();
    /// encode(&"out of stock".to_string(), What::Result, &mut bytes)?;
    /// let info = ErrorInfo::new("alloc::string::String", &std::fmt::Error).with_typed(bytes);
    /// assert_eq!(info.downcast::<String>().as_deref(), Some("out of stock"));
    /// assert_eq!(info.downcast::<u32>(), None);
    /// # Ok::<(), multiproc_codec::CodecError>(())
    /// ```
    pub fn downcast<E: DeserializeOwned + 'static>(&self) -> Option<E> {
        match &self.typed {
            Some(bytes) if self.is::<E>() => decode(bytes, What::Result).ok(),
            _ => None,
        }
    }

    /// Whether the error itself crossed (see [`downcast`](Self::downcast)).
    pub fn is_typed(&self) -> bool {
        self.typed.is_some()
    }
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ErrorInfo {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|c| c as &(dyn std::error::Error + 'static))
    }
}
