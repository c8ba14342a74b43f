//! The shared tree's writer and lock-free readers against a reference model (see
//! maple_cli::fuzz_checks::shared_tree).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maple_cli::fuzz_checks::shared_tree(data));
