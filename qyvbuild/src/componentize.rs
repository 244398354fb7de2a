//! Componentization: turning a WASI preview1 core module into a WASI P2 component with the
//! preview1 adapters from `wasi-preview1-component-adapter-provider`, pinned to the same
//! version as the wasmtime that runs it.
//!
//! The adapter chosen follows the module's shape: `_start` → the command adapter,
//! `_initialize` or only function exports → the reactor adapter. A component passes through
//! unchanged. The output carries a `qyv-adapter` custom section that names the adapter and
//! its version (`qyv inspect` shows it).

use std::fmt;

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Encoding, ExternalKind, Parser, Payload, TypeRef};

/// Version of the bundled preview1 adapters: wasmtime's (see [`qyvpack::versions`]).
pub use qyvpack::versions::WASMTIME as ADAPTER_VERSION;

use qyvpack::versions::ADAPTER_SECTION;

/// Which preview1 adapter a core module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    /// For modules that export `_start` (programs with a `main`).
    Command,
    /// For modules that export `_initialize` or only functions (libraries).
    Reactor,
}

impl AdapterKind {
    /// The adapter's bytes.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            AdapterKind::Command => WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
            AdapterKind::Reactor => WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        }
    }

    /// `command` or `reactor`.
    pub fn name(self) -> &'static str {
        match self {
            AdapterKind::Command => "command",
            AdapterKind::Reactor => "reactor",
        }
    }
}

impl fmt::Display for AdapterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a core module looks like from the adapter's point of view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleShape {
    /// It imports from `wasi_snapshot_preview1`.
    pub imports_preview1: bool,
    /// It exports `_start`.
    pub exports_start: bool,
    /// It exports `_initialize`.
    pub exports_initialize: bool,
    /// Names of the functions it exports.
    pub function_exports: Vec<String>,
    /// It carries `component-type` metadata (wit-bindgen), so its exports can be lifted.
    pub has_component_type: bool,
    /// It exports `cabi_realloc`, which the adapter uses for its state instead of `memory.grow`.
    pub exports_cabi_realloc: bool,
}

/// Why a file could not be turned into a component.
#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    /// The bytes are not a wasm module or component.
    #[error("not a WebAssembly file: {0}")]
    NotWasm(String),
    /// The module offers nothing an adapter can work with.
    #[error(
        "cannot adapt this module: it neither imports WASI preview1 (`wasi_snapshot_preview1`) \
         nor exports `_start` or `_initialize`, and it has no component-type metadata \
         (wit-bindgen) describing its exports, so no adapter applies and a component made from \
         it would export nothing"
    )]
    NothingToAdapt,
    /// wit-component refused the module.
    #[error("componentization with the preview1 {adapter} adapter failed: {reason}")]
    Encode {
        /// The adapter that was tried.
        adapter: AdapterKind,
        /// wit-component's explanation, with its context chain.
        reason: String,
    },
}

/// The result of [`componentize`].
#[derive(Debug, Clone)]
pub struct Componentized {
    /// The component's bytes.
    pub bytes: Vec<u8>,
    /// The adapter applied, or `None` when the input already was a component.
    pub adapter: Option<AdapterKind>,
}

/// Reads what matters for adaptation from a core module.
pub fn module_shape(module: &[u8]) -> Result<ModuleShape, AdaptError> {
    let mut shape = ModuleShape::default();
    for payload in Parser::new(0).parse_all(module) {
        match payload.map_err(|e| AdaptError::NotWasm(e.to_string()))? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| AdaptError::NotWasm(e.to_string()))?;
                    if import.module == WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME
                        && matches!(import.ty, TypeRef::Func(_) | TypeRef::FuncExact(_))
                    {
                        shape.imports_preview1 = true;
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| AdaptError::NotWasm(e.to_string()))?;
                    if export.kind != ExternalKind::Func {
                        continue;
                    }
                    match export.name {
                        "_start" => shape.exports_start = true,
                        "_initialize" => shape.exports_initialize = true,
                        "cabi_realloc" => shape.exports_cabi_realloc = true,
                        _ => {}
                    }
                    shape.function_exports.push(export.name.to_string());
                }
            }
            Payload::CustomSection(section) if section.name().starts_with("component-type") => {
                shape.has_component_type = true;
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// The adapter a module of this shape needs, or why none applies.
pub fn adapter_for(shape: &ModuleShape) -> Result<AdapterKind, AdaptError> {
    if shape.exports_start {
        Ok(AdapterKind::Command)
    } else if shape.exports_initialize || shape.imports_preview1 || shape.has_component_type {
        Ok(AdapterKind::Reactor)
    } else {
        Err(AdaptError::NothingToAdapt)
    }
}

/// Is this a component (as opposed to a core module)?
pub fn is_component(bytes: &[u8]) -> Result<bool, AdaptError> {
    match Parser::new(0).parse(bytes, true) {
        Ok(wasmparser::Chunk::Parsed {
            payload: Payload::Version { encoding, .. },
            ..
        }) => Ok(encoding == Encoding::Component),
        Ok(_) => Err(AdaptError::NotWasm("no wasm header".into())),
        Err(e) => Err(AdaptError::NotWasm(e.to_string())),
    }
}

/// Turns a core module into a WASI P2 component; a component passes through unchanged.
pub fn componentize(bytes: &[u8]) -> Result<Componentized, AdaptError> {
    if is_component(bytes)? {
        return Ok(Componentized {
            bytes: bytes.to_vec(),
            adapter: None,
        });
    }
    let shape = module_shape(bytes)?;
    let adapter = adapter_for(&shape)?;
    let encode = || -> anyhow::Result<Vec<u8>> {
        let mut encoder = wit_component::ComponentEncoder::default()
            .validate(true)
            .module(bytes)?;
        if shape.imports_preview1 {
            encoder = encoder.adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter.bytes())?;
        }
        encoder.encode()
    };
    let mut component = encode().map_err(|e| AdaptError::Encode {
        adapter,
        reason: format!("{e:#}"),
    })?;
    append_adapter_section(&mut component, adapter);
    Ok(Componentized {
        bytes: component,
        adapter: Some(adapter),
    })
}

/// Appends the `qyv-adapter` custom section, e.g. `wasi_snapshot_preview1 command 48.0.8`.
fn append_adapter_section(component: &mut Vec<u8>, adapter: AdapterKind) {
    use wasm_encoder::Encode;
    let text = format!("{WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME} {adapter} {ADAPTER_VERSION}");
    let section = wasm_encoder::CustomSection {
        name: ADAPTER_SECTION.into(),
        data: text.as_bytes().into(),
    };
    // Custom sections may appear anywhere in a component; the section id is 0 in both
    // encodings, so the core-module encoding of a custom section is valid here too.
    component.push(0);
    section.encode(component);
}

/// Names the source language in a core module's producers section when its compiler left
/// none (stripped C, Zig or Nim builds): inspecting the module, or the component made from
/// it, can then tell. A module that names a language already is returned unchanged.
pub fn record_language(core: &[u8], language: &str) -> Result<Vec<u8>, AdaptError> {
    let existing = wasm_metadata::Producers::from_wasm(core)
        .map_err(|e| AdaptError::NotWasm(format!("{e:#}")))?;
    if existing
        .as_ref()
        .is_some_and(|p| p.get("language").is_some())
    {
        return Ok(core.to_vec());
    }
    let mut producers = wasm_metadata::Producers::empty();
    producers.add("language", language, "");
    producers
        .add_to_wasm(core)
        .map_err(|e| AdaptError::NotWasm(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMAND: &str = r#"(module
        (import "wasi_snapshot_preview1" "fd_write"
            (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "_start")))"#;

    const REACTOR: &str = r#"(module
        (import "wasi_snapshot_preview1" "random_get"
            (func (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "_initialize"))
        (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

    fn validate_component(bytes: &[u8]) {
        let mut validator =
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
        validator.validate_all(bytes).expect("valid component");
        assert!(is_component(bytes).unwrap());
    }

    fn adapter_section(bytes: &[u8]) -> Option<String> {
        Parser::new(0).parse_all(bytes).find_map(|p| match p.ok()? {
            Payload::CustomSection(s) if s.name() == ADAPTER_SECTION => {
                Some(String::from_utf8(s.data().to_vec()).unwrap())
            }
            _ => None,
        })
    }

    #[test]
    fn command_module_gets_the_command_adapter() {
        let module = wat::parse_str(COMMAND).unwrap();
        let out = componentize(&module).unwrap();
        assert_eq!(out.adapter, Some(AdapterKind::Command));
        validate_component(&out.bytes);
        assert_eq!(
            adapter_section(&out.bytes).as_deref(),
            Some("wasi_snapshot_preview1 command 48.0.8")
        );
    }

    #[test]
    fn reactor_module_gets_the_reactor_adapter() {
        let module = wat::parse_str(REACTOR).unwrap();
        let out = componentize(&module).unwrap();
        assert_eq!(out.adapter, Some(AdapterKind::Reactor));
        validate_component(&out.bytes);
    }

    #[test]
    fn component_passes_through_unchanged() {
        let module = wat::parse_str(COMMAND).unwrap();
        let component = componentize(&module).unwrap().bytes;
        let again = componentize(&component).unwrap();
        assert_eq!(again.adapter, None);
        assert_eq!(again.bytes, component);
    }

    #[test]
    fn module_without_wasi_or_entry_points_is_explained() {
        let module = wat::parse_str(r#"(module (func (export "f")))"#).unwrap();
        let err = componentize(&module).unwrap_err();
        assert!(matches!(err, AdaptError::NothingToAdapt), "{err}");
        assert!(err.to_string().contains("_start"));
    }

    #[test]
    fn garbage_is_not_wasm() {
        assert!(matches!(
            componentize(b"not wasm at all"),
            Err(AdaptError::NotWasm(_))
        ));
        assert!(matches!(componentize(b""), Err(AdaptError::NotWasm(_))));
    }

    #[test]
    fn adapter_without_memory_export_fails_with_a_reason() {
        let module = wat::parse_str(
            r#"(module (import "wasi_snapshot_preview1" "fd_write"
                 (func (param i32 i32 i32 i32) (result i32))) (func (export "_start")))"#,
        )
        .unwrap();
        let err = componentize(&module).unwrap_err();
        assert!(matches!(err, AdaptError::Encode { .. }), "{err}");
    }
}
