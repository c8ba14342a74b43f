//! Error codes returned by the address-space operations.

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
        match self {
            MmError::NoMem => -12,
            MmError::Inval => -22,
            MmError::Exist => -17,
            MmError::Access => -13,
            MmError::Fault => -14,
            MmError::Perm => -1,
            MmError::Again => -11,
            MmError::Overflow => -75,
            MmError::BadF => -9,
        }
    }

    /// Inverse of [`MmError::errno`] (accepts positive or negative values).
    pub fn from_errno(e: i32) -> Option<MmError> {
        Some(match e.abs() {
            12 => MmError::NoMem,
            22 => MmError::Inval,
            17 => MmError::Exist,
            13 => MmError::Access,
            14 => MmError::Fault,
            1 => MmError::Perm,
            11 => MmError::Again,
            75 => MmError::Overflow,
            9 => MmError::BadF,
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
    /// The SIGSEGV `si_code`.
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
