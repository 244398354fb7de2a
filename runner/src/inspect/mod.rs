//! Inspection of wasm files: what a core module or component imports and exports, which
//! WASI world it fits, what made it, and how its bytes are spent. Needs no wasmtime.

mod component;
mod core;
mod render;
mod report;
mod sections;

use wasmparser::{
    Chunk, Encoding, FuncValidatorAllocations, Parser, Payload, ValidPayload, Validator,
    WasmFeatures,
};

pub use render::{human_size, render_human};
pub use report::*;

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
    fn malformed(e: wasmparser::BinaryReaderError) -> Self {
        InspectError::Malformed {
            message: e.message().to_string(),
            offset: Some(e.offset()),
        }
    }
}

/// The wasm features the validator accepts: what the runner's engine enables (GC, function
/// references, exception handling, SIMD, threads, tail calls, memory64, multi-memory, the
/// component model...). The legacy exception encoding is left out: wasmtime refuses it.
pub fn validation_features() -> WasmFeatures {
    WasmFeatures::all() - WasmFeatures::LEGACY_EXCEPTIONS
}

/// Inspects a core module or component.
pub fn inspect(bytes: &[u8]) -> Result<Report, InspectError> {
    let encoding = encoding(bytes)?;
    // Validation runs beside the analysis: on a large component each takes a while.
    std::thread::scope(|scope| {
        let validation = scope.spawn(|| validate(bytes));
        let report = analyze(bytes, encoding);
        let validation = validation.join().unwrap_or_else(|_| Validation {
            valid: false,
            error: Some("the validator failed".into()),
            offset: None,
        });
        report.map(|mut r| {
            r.validation = validation;
            r
        })
    })
}

/// Validates with [`validation_features`], function bodies in parallel (as wasm-tools does).
pub fn validate(bytes: &[u8]) -> Validation {
    let invalid = |e: wasmparser::BinaryReaderError| Validation {
        valid: false,
        error: Some(e.message().to_string()),
        offset: Some(e.offset()),
    };
    let mut validator = Validator::new_with_features(validation_features());
    let mut functions = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = match payload {
            Ok(p) => p,
            Err(e) => return invalid(e),
        };
        match validator.payload(&payload) {
            Ok(ValidPayload::Func(func, body)) => functions.push((func, body)),
            Ok(_) => {}
            Err(e) => return invalid(e),
        }
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = functions.len().div_ceil(threads).max(1);
    let mut chunks: Vec<Vec<_>> = Vec::new();
    let mut functions = functions.into_iter().peekable();
    while functions.peek().is_some() {
        chunks.push(functions.by_ref().take(chunk).collect());
    }
    let first_error = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    let mut allocs = FuncValidatorAllocations::default();
                    for (func, body) in chunk {
                        let mut v = func.into_validator(allocs);
                        if let Err(e) = v.validate(&body) {
                            return Some(e);
                        }
                        allocs = v.into_allocations();
                    }
                    None
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .min_by_key(|e| e.offset())
    });
    match first_error {
        Some(e) => invalid(e),
        None => Validation {
            valid: true,
            error: None,
            offset: None,
        },
    }
}

fn analyze(bytes: &[u8], encoding: Encoding) -> Result<Report, InspectError> {
    let validation = Validation {
        valid: true,
        error: None,
        offset: None,
    };
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        kind: Kind::CoreModule,
        size: bytes.len() as u64,
        validation,
        language: None,
        producers: Default::default(),
        adapter: None,
        sections: Vec::new(),
        custom_sections: Vec::new(),
        module: None,
        component: None,
    };
    match encoding {
        Encoding::Module => {
            let facts = core::analyze(bytes, 0)?;
            report.language = facts.stats.language();
            report.sections = facts.stats.size_list();
            report.custom_sections = facts.stats.custom.clone();
            report.producers = facts.stats.producers.clone();
            report.adapter = facts.stats.adapter.clone();
            report.module = Some(facts.module);
        }
        Encoding::Component => {
            report.kind = Kind::Component;
            let mut modules = Vec::new();
            let stats = component::walk(bytes, 0, &mut modules)?;
            let (world, imports, exports) = component::world(bytes)?;
            // The language is the largest core module's, unless the component says more or
            // a module carries an embedded interpreter's mark (its runtime is often Rust).
            let interpreted = |m: &&NestedModule| {
                m.language
                    .as_ref()
                    .is_some_and(|l| matches!(l.language.as_str(), "Python" | "JavaScript"))
            };
            report.language = stats.language().or_else(|| {
                modules
                    .iter()
                    .find(interpreted)
                    .or_else(|| {
                        modules
                            .iter()
                            .filter(|m| m.language.is_some())
                            .max_by_key(|m| m.size)
                    })
                    .and_then(|m| m.language.clone())
            });
            report.sections = stats.size_list();
            report.custom_sections = stats.custom.clone();
            report.producers = stats.producers.clone();
            report.adapter = stats.adapter.clone();
            report.component = Some(Component {
                world,
                fits: component::fits(&exports).into(),
                imports,
                exports,
                modules,
            });
        }
    }
    Ok(report)
}

/// A component's world as WIT text (what `qyv inspect --wit` prints).
pub fn wit_text(bytes: &[u8]) -> Result<String, InspectError> {
    match encoding(bytes)? {
        Encoding::Component => component::wit_text(bytes),
        Encoding::Module => Err(InspectError::Malformed {
            message: "a core module has no WIT world; adapt it into a component first (qyv adapt)"
                .into(),
            offset: None,
        }),
    }
}

/// Module or component, from the header.
fn encoding(bytes: &[u8]) -> Result<Encoding, InspectError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(InspectError::Malformed {
            message: if bytes.is_empty() {
                "empty file, not WebAssembly".into()
            } else {
                "not a WebAssembly file (no \\0asm header)".into()
            },
            offset: Some(0),
        });
    }
    match Parser::new(0).parse(bytes, false) {
        Ok(Chunk::Parsed {
            payload: Payload::Version { encoding, .. },
            ..
        }) => Ok(encoding),
        Ok(_) => Err(InspectError::Malformed {
            message: "truncated header".into(),
            offset: Some(0),
        }),
        Err(e) => Err(InspectError::malformed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_claiming_gigabytes_is_refused_without_allocating_them() {
        // A component header, then a section whose size field claims ~4 GiB (from fuzzing).
        let bytes = b"\0asm\x0d\x00\x01\x00\x0a\xfa\xf5\xfd\xff\x0e\x3d\x2e";
        assert!(matches!(
            wit_text(bytes),
            Err(InspectError::Malformed { .. })
        ));
        assert!(matches!(
            inspect(bytes),
            Err(InspectError::Malformed { .. })
        ));
    }

    #[test]
    fn non_wasm_is_refused_with_the_reason() {
        let err = inspect(b"").unwrap_err().to_string();
        assert!(err.contains("empty file"), "{err}");
        let err = inspect(b"#!/bin/sh\necho hi\n").unwrap_err().to_string();
        assert!(err.contains("no \\0asm header"), "{err}");
    }
}
