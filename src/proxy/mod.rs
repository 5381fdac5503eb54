//! placeholder until the module lands
pub fn register() {}
