//! Tests of the whole codec: the real library's vectors, round trips, tampering, and
//! property tests that `open` never panics.

mod props;
mod roundtrip;
mod support;
mod tamper;
mod vectors;
mod verified;
