//! Error codes returned by the address-space operations.
//!
//! ```
//! use maple_mm::MmError;
//! assert_eq!(MmError::NoMem.errno(), -libc::ENOMEM);
//! assert_eq!(MmError::from_errno(libc::EEXIST), Some(MmError::Exist));
//! assert_eq!(MmError::NoMem.to_string(), "ENOMEM (-12)");
//! ```

use std::fmt;

/// An errno-style error of an mm operation (`MmError::errno` gives the negative errno).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MmError {
    /// -ENOMEM: out of memory, map count limit, commit limit, hole in mprotect/madvise range.
    NoMem,
    /// -EINVAL: bad argument (alignment, zero length, bad flags).
    Inval,
    /// -EEXIST: MAP_FIXED_NOREPLACE over an existing mapping.
    Exist,
    /// -EACCES: protection not allowed by the VM_MAY* bits or the file's mode.
    Access,
    /// -EFAULT: the access faulted (SIGSEGV in user space).
    Fault,
    /// -EPERM: address below mmap_min_addr.
    Perm,
    /// -EAGAIN: mlock limit.
    Again,
    /// -EOVERFLOW: file offset overflow.
    Overflow,
    /// -EBADF: file mapping without a file.
    BadF,
}

impl MmError {
    /// The negative errno the kernel returns.
    pub fn errno(self) -> i32 {
        -match self {
            MmError::NoMem => libc::ENOMEM,
            MmError::Inval => libc::EINVAL,
            MmError::Exist => libc::EEXIST,
            MmError::Access => libc::EACCES,
            MmError::Fault => libc::EFAULT,
            MmError::Perm => libc::EPERM,
            MmError::Again => libc::EAGAIN,
            MmError::Overflow => libc::EOVERFLOW,
            MmError::BadF => libc::EBADF,
        }
    }

    /// Inverse of [`MmError::errno`] (accepts positive or negative values).
    pub fn from_errno(e: i32) -> Option<MmError> {
        Some(match e.abs() {
            libc::ENOMEM => MmError::NoMem,
            libc::EINVAL => MmError::Inval,
            libc::EEXIST => MmError::Exist,
            libc::EACCES => MmError::Access,
            libc::EFAULT => MmError::Fault,
            libc::EPERM => MmError::Perm,
            libc::EAGAIN => MmError::Again,
            libc::EOVERFLOW => MmError::Overflow,
            libc::EBADF => MmError::BadF,
            _ => return None,
        })
    }
}

impl fmt::Display for MmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            MmError::NoMem => "ENOMEM",
            MmError::Inval => "EINVAL",
            MmError::Exist => "EEXIST",
            MmError::Access => "EACCES",
            MmError::Fault => "EFAULT",
            MmError::Perm => "EPERM",
            MmError::Again => "EAGAIN",
            MmError::Overflow => "EOVERFLOW",
            MmError::BadF => "EBADF",
        };
        write!(f, "{s} ({})", self.errno())
    }
}

impl std::error::Error for MmError {}

impl From<maple_tree::Error> for MmError {
    fn from(e: maple_tree::Error) -> Self {
        match e {
            maple_tree::Error::NoMemory => MmError::NoMem,
            maple_tree::Error::Exists => MmError::Exist,
            _ => MmError::Inval,
        }
    }
}

/// Why a fault is delivered as SIGSEGV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultError {
    /// No VMA covers the address (`SEGV_MAPERR`, si_code 1).
    MapErr,
    /// A VMA covers it but does not allow the access (`SEGV_ACCERR`, si_code 2).
    AccErr,
}

impl FaultError {
    /// The SIGSEGV `si_code`. (The `libc` crate does not define `SEGV_*` for Linux; the
    /// values are the kernel's `include/uapi/asm-generic/siginfo.h`.)
    pub fn si_code(self) -> i32 {
        match self {
            FaultError::MapErr => 1,
            FaultError::AccErr => 2,
        }
    }
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultError::MapErr => write!(f, "SIGSEGV (SEGV_MAPERR)"),
            FaultError::AccErr => write!(f, "SIGSEGV (SEGV_ACCERR)"),
        }
    }
}

impl std::error::Error for FaultError {}
