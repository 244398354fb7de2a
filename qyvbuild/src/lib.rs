//! Language toolchains behind one trait, and componentization of core modules.

pub mod build;
pub mod componentize;
pub mod go;
pub mod output;
pub mod progress;
pub mod rust;
pub mod template;
pub mod toolchain;
pub mod tools;

use toolchain::Toolchain;

/// Every toolchain qyv knows, in detection order.
pub fn toolchains() -> Vec<Box<dyn Toolchain>> {
    vec![Box::new(rust::Rust), Box::new(go::Go)]
}

/// The toolchain for a language id (`rust`, ...).
pub fn toolchain_for(language: &str) -> Option<Box<dyn Toolchain>> {
    toolchains()
        .into_iter()
        .find(|t| t.language().id() == language.to_ascii_lowercase())
}
