//! The outputs.

use sluice_core::plugin::{BuildOutput, Spec};

/// Every output plugin, in the order `-h` lists them.
pub fn specs() -> Vec<Spec<BuildOutput>> {
    vec![]
}
