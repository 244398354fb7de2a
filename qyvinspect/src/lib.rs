//! Inspection of wasm files: what a core module or component imports and exports, which
//! WASI world it fits, what made it, and how its bytes are spent. Needs no wasmtime, so the
//! fuzz targets build it alone.

// A library reports through its caller (typed errors, reports); only the CLI prints.
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

pub mod adapter;
mod code;
mod component;
mod core;
mod error;
mod render;
mod report;
mod sections;

use std::path::Path;

use wasmparser::{Chunk, Encoding, Parser, Payload, WasmFeatures};

use qyvpack::memo::{Memo, MemoKind};

pub use error::InspectError;
pub use render::render_human;
pub use report::*;

/// The wasm features the validator accepts: what the runner's engine enables (GC, function
/// references, exception handling, SIMD, threads, tail calls, memory64, multi-memory, the
/// component model...). The legacy exception encoding is left out: wasmtime refuses it.
pub fn validation_features() -> WasmFeatures {
    WasmFeatures::all() - WasmFeatures::LEGACY_EXCEPTIONS
}

/// Inspects a core module or component.
pub fn inspect(bytes: &[u8]) -> Result<Report, InspectError> {
    inspect_checked(bytes).map(|(report, _)| report)
}

/// Inspects the wasm file at `path` (whose content is `bytes`), reusing the validation
/// remembered for this very file (see [`qyvpack::memo`]): validating every function body of a
/// large component is most of an inspection's time.
pub fn inspect_file(path: &Path, bytes: &[u8]) -> Result<Report, InspectError> {
    let memo = Memo::new(MemoKind::Inspect);
    let tag = checked_tag();
    let remembered = memo
        .as_ref()
        .and_then(|m| m.recall(path, bytes.len()))
        .and_then(|text| serde_json::from_str::<Checked>(&text).ok())
        .filter(|c| c.tag == tag);
    if let Some(checked) = remembered {
        let mut report = analyze(bytes, encoding(bytes)?)?;
        report.validation = checked.validation;
        report.add_code_proposals(&checked.proposals);
        return Ok(report);
    }
    let (report, checked) = inspect_checked(bytes)?;
    if let (Some(memo), Some((validation, proposals))) = (memo, checked) {
        let checked = Checked {
            tag,
            validation,
            proposals,
        };
        if let Ok(text) = serde_json::to_string(&checked) {
            memo.remember(path, &text);
        }
    }
    Ok(report)
}

/// What validating the code gives: validity, and the proposals per module.
type CodeCheck = (Validation, code::CodeProposals);

/// A validation as remembered between runs.
#[derive(serde::Serialize, serde::Deserialize)]
struct Checked {
    /// Who validated: qyv's version and the features; a record by another is ignored.
    tag: String,
    validation: Validation,
    proposals: code::CodeProposals,
}

fn checked_tag() -> String {
    format!(
        "qyvinspect {} features {:x}",
        env!("CARGO_PKG_VERSION"),
        validation_features().bits()
    )
}

/// The report, and the validation with the code's proposals when the validator finished
/// (what [`inspect_file`] remembers).
fn inspect_checked(bytes: &[u8]) -> Result<(Report, Option<CodeCheck>), InspectError> {
    let encoding = encoding(bytes)?;
    // Validation (with the code's proposals) runs beside the analysis: on a large component
    // each takes a while.
    std::thread::scope(|scope| {
        let checked = scope.spawn(|| code::check(bytes));
        let report = analyze(bytes, encoding);
        let checked = checked.join().ok();
        let mut report = report?;
        match &checked {
            Some((validation, proposals)) => {
                report.validation = validation.clone();
                report.add_code_proposals(proposals);
            }
            None => {
                report.validation = Validation {
                    valid: false,
                    error: Some("the validator failed".into()),
                    offset: None,
                };
            }
        }
        Ok((report, checked))
    })
}

impl Report {
    /// Adds the proposals found in function bodies to each module's list.
    fn add_code_proposals(&mut self, code: &code::CodeProposals) {
        let merge = |names: &mut Vec<String>, offset: usize| {
            if let Some(found) = code.get(&offset) {
                let mut all = found.clone();
                all.append(names);
                all.sort();
                all.dedup();
                *names = all;
            }
        };
        if let Some(m) = &mut self.module {
            merge(&mut m.proposals, 0);
        }
        if let Some(c) = &mut self.component {
            for m in &mut c.modules {
                merge(&mut m.proposals, m.offset);
            }
        }
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
            // The preview1 adapter (written in Rust) is not the app.
            report.language = stats.language().or_else(|| {
                let app = || modules.iter().filter(|m| !m.is_adapter);
                app()
                    .find(interpreted)
                    .or_else(|| {
                        app()
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
/// A world's name, its imports and its exports.
pub type World = (String, Vec<WorldItem>, Vec<WorldItem>);

/// A component's world name, imports and exports as [`inspect`] reports them, without
/// validating its code (for `qyv push`, which only names them); None for a core module.
pub fn component_world(bytes: &[u8]) -> Result<Option<World>, InspectError> {
    match encoding(bytes)? {
        Encoding::Component => component::world(bytes).map(Some),
        Encoding::Module => Ok(None),
    }
}

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
    fn the_validator_is_not_fed_after_its_first_error() {
        // A type section the validator refuses, then function, export and code sections:
        // fed on, wasmparser's validator panicked (from an adversarial review).
        let module = "0061736d0100000001040158000003020100070a01065f737461727400000a040102000b";
        let bytes: Vec<u8> = (0..module.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&module[i..i + 2], 16).unwrap())
            .collect();
        let (validation, _) = code::check(&bytes);
        assert!(!validation.valid);
        assert_eq!(validation.offset, Some(11), "{validation:?}");
    }

    #[test]
    fn non_wasm_is_refused_with_the_reason() {
        let err = inspect(b"").unwrap_err().to_string();
        assert!(err.contains("empty file"), "{err}");
        let err = inspect(b"#!/bin/sh\necho hi\n").unwrap_err().to_string();
        assert!(err.contains("no \\0asm header"), "{err}");
    }
}
