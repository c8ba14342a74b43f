//! Library side of the `maple` command-line tool: the conformance-script engine
//! ([`replay`]), node pictures ([`dump`]), peer comparisons ([`compare`]) and the
//! fork benchmark over the address-space model ([`spawn`]), lock-free readers against a
//! writer ([`readers`]), and a long-running checked workload ([`soak`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compare;
pub mod dump;
pub mod input;
pub mod maps;
pub mod readers;
pub mod replay;
pub mod soak;
pub mod spawn;
pub mod table;
