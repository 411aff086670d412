//! sluice's plugins: inputs, filters, outputs and parser formats, one module per plugin,
//! named after the `Name` a configuration uses.
//!
//! Each module exports a `SPEC` that declares the plugin's properties and
//! how to build it; [`registry`] collects them for the binary.

pub mod filters;
#[doc(hidden)]
pub mod fuzzing;
pub mod inputs;
pub mod outputs;
pub mod parsers;

use sluice_core::registry::Registry;

/// Every plugin this build knows.
pub fn registry() -> Registry {
    Registry {
        inputs: inputs::specs(),
        filters: filters::specs(),
        outputs: outputs::specs(),
        parsers: parsers::specs(),
        builtin_parsers: [
            parsers::builtin::sections(),
            parsers::builtin_multiline::parser_sections(),
        ]
        .concat(),
        builtin_multiline_parsers: parsers::builtin_multiline::sections(),
    }
}
