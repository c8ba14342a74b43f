//! Library side of the `maple` command-line tool: the conformance-script engine
//! ([`replay`]), node pictures ([`dump`]), peer comparisons ([`compare`]) and the
//! fork benchmark over the address-space model ([`spawn`]), and lock-free readers against a
//! writer ([`readers`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compare;
pub mod dump;
pub mod readers;
pub mod replay;
pub mod rng;
pub mod spawn;

/// The workspace README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
