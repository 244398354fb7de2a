//! Language toolchains behind one trait, and componentization of core modules.

pub mod assemblyscript;
pub mod build;
pub mod c;
pub mod c_compat;
pub mod command;
pub mod componentize;
pub mod go;
pub mod javascript;
pub mod julia;
pub mod kotlin;
pub mod make;
pub mod nim;
pub mod output;
pub mod progress;
pub mod python;
pub mod rust;
pub mod rustup;
pub mod template;
pub mod toolchain;
pub mod tools;
pub mod wit;
pub mod zig;

use toolchain::Toolchain;

/// Every toolchain qyv knows, in detection order.
pub fn toolchains() -> Vec<Box<dyn Toolchain>> {
    vec![
        Box::new(rust::Rust),
        Box::new(go::Go),
        Box::new(python::Python),
        Box::new(zig::Zig),
        Box::new(nim::Nim),
        Box::new(assemblyscript::AssemblyScript),
        Box::new(javascript::JavaScript),
        Box::new(kotlin::Kotlin),
        Box::new(make::CMake),
        Box::new(make::Make),
        Box::new(c::C),
        Box::new(julia::Julia),
    ]
}

/// The toolchains for a manifest's `language:` (`rust`, ...), in detection order: for `c`,
/// CMake, Make, then plain C sources.
pub fn toolchains_for(language: &str) -> Vec<Box<dyn Toolchain>> {
    let language = language.to_ascii_lowercase();
    toolchains()
        .into_iter()
        .filter(|t| t.language().manifest_language() == language)
        .collect()
}
