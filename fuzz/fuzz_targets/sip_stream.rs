//! `sip_stream`: see `session_core_tests::fuzz_support::sip_stream` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    session_core_tests::fuzz_support::sip_stream(data);
});
