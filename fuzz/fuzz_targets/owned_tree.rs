//! The owned tree (both kinds, `Value` and counted heap entries) against a reference model,
//! one random operation sequence per input (see maple_cli::fuzz_checks::owned_tree).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maple_cli::fuzz_checks::owned_tree(data));
