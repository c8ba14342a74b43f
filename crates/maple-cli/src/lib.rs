//! Library side of the `maple` command-line tool: the conformance-script engine
//! ([`replay`]), node pictures ([`dump`]), peer comparisons ([`compare`]) and the
//! fork benchmark over the address-space model ([`spawn`]), lock-free readers against a
//! writer ([`readers`]), and a long-running checked workload ([`soak`]).
// No unsafe code, except the libc calls of `maple spawn --kernel` (`spawn::kernel`, which
// allows it for itself, each block with its SAFETY argument).
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "tools")]
pub mod compare;
#[cfg(feature = "tools")]
pub mod dump;
pub mod fuzz_checks;
pub mod input;
pub mod maps;
#[cfg(feature = "tools")]
pub mod readers;
pub mod replay;
#[cfg(feature = "tools")]
pub mod soak;
#[cfg(feature = "tools")]
pub mod spawn;
#[cfg(feature = "tools")]
pub mod table;

/// The workspace README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
