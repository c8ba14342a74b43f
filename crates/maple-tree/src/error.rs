//! Typed errors.

use core::fmt;

/// Why a tree operation failed. A failed write leaves the tree unchanged and valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// Bad arguments: `first > last`, a zero size, a window smaller than the size, a reserved
    /// entry where it is not allowed (`-EINVAL`).
    Invalid,
    /// Some index of the range is already occupied (`-EEXIST`).
    Exists,
    /// No free range fits (`-EBUSY`).
    Busy,
    /// A node allocation failed (`-ENOMEM`).
    NoMemory,
}

impl Error {
    /// The kernel's negative errno for this error.
    pub fn errno(self) -> i32 {
        match self {
            Error::Invalid => -22,
            Error::Exists => -17,
            Error::Busy => -16,
            Error::NoMemory => -12,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Invalid => "invalid argument",
            Error::Exists => "range already occupied",
            Error::Busy => "no free range fits",
            Error::NoMemory => "out of memory",
        })
    }
}

impl core::error::Error for Error {}

/// A failed write that took an entry hands it back here, with the reason.
pub struct InsertError<E> {
    /// Why the write failed.
    pub error: Error,
    /// The entry that was not stored.
    pub entry: E,
}

impl<E: PartialEq> PartialEq for InsertError<E> {
    fn eq(&self, other: &Self) -> bool {
        self.error == other.error && self.entry == other.entry
    }
}
impl<E: Eq> Eq for InsertError<E> {}
impl<E: Clone> Clone for InsertError<E> {
    fn clone(&self) -> Self {
        InsertError {
            error: self.error,
            entry: self.entry.clone(),
        }
    }
}

impl<E> fmt::Debug for InsertError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsertError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<E> fmt::Display for InsertError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<E> core::error::Error for InsertError<E> {}

impl<E> From<InsertError<E>> for Error {
    fn from(e: InsertError<E>) -> Error {
        e.error
    }
}
