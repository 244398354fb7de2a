//! A small blocking client for OCI registries (the distribution spec), and the two artifacts
//! qyv publishes: the component in the CNCF "Wasm OCI Artifact" layout that wkg, wash and
//! runwasi read, and the signed `.qyvbin` attached to it as a referrer.
//!
//! Why blocking, on ureq: qyv already links ureq 3 with rustls and ring (runner's netfs). The
//! async clients (`oci-client`, `oci-distribution`) bring reqwest, a second TLS stack and about
//! 58 more crates into the build for what is a handful of sequential requests per push or pull.
//! A push or pull here is a few small JSON documents and one or two blobs that are streamed
//! from or to a file, so threads and futures buy nothing.
//!
//! A registry is untrusted input: every response body is read within a bound, every blob is
//! checked against the digest and size its descriptor names while it streams, redirects never
//! carry credentials, and nothing a registry says names a file on disk.

// A library reports through its caller (typed errors); only the CLI prints and decides the exit
// code.
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

pub mod artifact;
pub mod auth;
pub mod blobs;
pub mod client;
pub mod digest;
pub mod error;
pub mod fetch;
pub mod kube;
pub mod manifests;
pub mod publish;
pub mod reference;
pub mod referrers;

pub use client::{Client, Transport};
pub use digest::Digest;
pub use error::OciError;
pub use reference::Reference;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests_fake;
