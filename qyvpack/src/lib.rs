//! The qyv package format: the `.qyv` manifest (schema, parsing, validation) and `.qyvbin`
//! bundles. Depends on no other crate of the workspace.

pub mod files;
pub mod manifest;
