//! The wasmtime embedding: runs components and core modules under a manifest's
//! permissions and limits, and inspects wasm files.
