//! The replay-script parser and engine on arbitrary bytes (see maple_cli::fuzz_checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maple_cli::fuzz_checks::replay_script(data));
