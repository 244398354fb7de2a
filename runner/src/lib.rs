//! The wasmtime embedding: opens apps (bundles, manifests, bare wasm) and runs components and
//! core modules under a manifest's permissions and limits. Inspection, which needs no
//! wasmtime, is the `qyvinspect` crate.

// A library reports through its caller (typed errors, outcomes); only the CLI prints and
// decides the exit code.
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

pub mod app;
pub mod cache;
pub mod diagnostics;
pub mod engine;
pub mod grants;
pub mod host;
pub mod http;
pub mod imports;
pub mod netfs;
pub mod nn;
pub mod open;
pub mod run;
pub mod sandbox;
pub mod scratch;
pub mod store;
pub mod verified;
pub mod wasm;
