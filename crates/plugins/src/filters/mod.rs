//! The filters.

use sluice_core::plugin::{BuildFilter, Spec};

/// Every filter plugin, in the order `-h` lists them.
pub fn specs() -> Vec<Spec<BuildFilter>> {
    vec![]
}
