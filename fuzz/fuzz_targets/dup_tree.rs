//! dup/clone/try_dup/rebuild and dup_map/try_dup_map against element-wise copies (see
//! maple_cli::fuzz_checks::dup_tree).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maple_cli::fuzz_checks::dup_tree(data));
