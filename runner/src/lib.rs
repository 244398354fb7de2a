//! The wasmtime embedding: runs components and core modules under a manifest's
//! permissions and limits, and inspects wasm files.
//!
//! Without the `run` feature only [`inspect`] and [`grants`] are built (what the fuzz
//! targets use).

// A library reports through its caller (typed errors, outcomes); only the CLI prints and
// decides the exit code.
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

pub mod grants;
pub mod inspect;

#[cfg(feature = "run")]
pub mod app;
#[cfg(feature = "run")]
pub mod cache;
#[cfg(feature = "run")]
pub mod engine;
#[cfg(feature = "run")]
pub mod imports;
#[cfg(feature = "run")]
pub mod netfs;
#[cfg(feature = "run")]
pub mod open;
#[cfg(feature = "run")]
pub mod run;
#[cfg(feature = "run")]
pub mod sandbox;
#[cfg(feature = "run")]
pub mod scratch;
#[cfg(feature = "run")]
pub mod verified;
