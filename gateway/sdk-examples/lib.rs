//! Empty: this crate only carries the SDK's example filters (see `examples/` and README.md).
