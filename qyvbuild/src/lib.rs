//! Language toolchains behind one trait, and componentization of core modules.

pub mod componentize;
pub mod output;
