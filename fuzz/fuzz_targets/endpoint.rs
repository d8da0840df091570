//! `endpoint`: see `session_core_tests::fuzz_support::endpoint` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    session_core_tests::fuzz_support::endpoint(data);
});
