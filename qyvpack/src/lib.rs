//! The qyv package format: the `.qyv` manifest (schema, parsing, validation) and `.qyvbin`
//! bundles. Depends on no other crate of the workspace.

pub mod bundle;
pub mod digest;
pub mod dirs;
pub mod files;
pub mod keys;
pub mod manifest;
pub mod signature;
