//! The qyv package format: the `.qyv` manifest (schema, parsing, validation) and `.qyvbin`
//! bundles. Depends on no other crate of the workspace.

// A library reports through its caller (typed errors); only the CLI prints and decides the exit
// code.
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

pub mod bounded;
pub mod bundle;
pub mod digest;
pub mod dirs;
pub mod files;
pub mod keys;
pub mod manifest;
pub mod memo;
pub mod output;
pub mod project;
pub mod recent;
pub mod signature;
pub mod versions;
