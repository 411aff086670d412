//! The inputs.

use sluice_core::plugin::{BuildInput, Spec};

/// Every input plugin, in the order `-h` lists them.
pub fn specs() -> Vec<Spec<BuildInput>> {
    vec![]
}
