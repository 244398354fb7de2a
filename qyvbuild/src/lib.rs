//! Language toolchains behind one trait, and componentization of core modules.
//!
//! - [`lang`]: one driver per language or build system;
//! - [`toolchain`]: the trait they implement, and what a build asks and returns;
//! - [`build`]: detection, the up-to-date check, compile, adapt, and the output;
//! - [`componentize`]: preview1 core module → P2 component;
//! - [`zig_cc`], [`c_compat`], [`tools`]: what several drivers share.

// A library reports through its caller (errors, [`progress::Progress`]); only the CLI prints
// and decides the exit code.
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

pub mod build;
pub mod c_compat;
pub mod componentize;
pub mod lang;
pub mod progress;
pub mod template;
pub mod toolchain;
pub mod tools;
pub mod wit;
pub mod zig_cc;

#[cfg(test)]
mod test_support;

pub use lang::{toolchains, toolchains_for};
