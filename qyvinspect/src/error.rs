//! Why a file could not be inspected: its own module, so that the readers of each part
//! (`core`, `component`) and the crate root that calls them all import it from here.

/// Why a file could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Not wasm at all (wrong magic), or structurally broken (truncated, corrupt).
    #[error("{message}{}", offset.map(|o| format!(" (at byte offset {o})")).unwrap_or_default())]
    Malformed {
        message: String,
        offset: Option<usize>,
    },
}

impl InspectError {
    pub(crate) fn malformed(e: wasmparser::BinaryReaderError) -> Self {
        InspectError::Malformed {
            message: e.message().to_string(),
            offset: Some(e.offset()),
        }
    }
}
