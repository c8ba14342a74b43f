//! The /proc/PID/maps parsers (maple-mm's and the command's loader) on arbitrary bytes (see
//! maple_cli::fuzz_checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maple_cli::fuzz_checks::maps(data));
