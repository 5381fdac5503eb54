//! Fuzz target: see `openid_connect::fuzzing::jwt` for what the input is and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openid_connect::fuzzing::jwt(data));
