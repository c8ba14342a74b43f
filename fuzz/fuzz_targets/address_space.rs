//! maple-mm's address space under random mmap/munmap/mprotect/madvise/brk/fork/exit against
//! its invariants (see maple_cli::fuzz_checks::address_space).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maple_cli::fuzz_checks::address_space(data));
