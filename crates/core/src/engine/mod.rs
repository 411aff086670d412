//! The engine: builds a pipeline from a configuration and runs it.
mod input;
pub use input::InputContext;
