//! Componentization: turning a WASI preview1 core module into a WASI P2 component with the
//! preview1 adapters from `wasi-preview1-component-adapter-provider`, pinned to the same
//! version as the wasmtime that runs it.
//!
//! The adapter chosen follows the module's shape, by the rule in [`qyvinspect::adapter`] that
//! `qyv inspect` reports too: `_start` → the command adapter, other preview1 imports → the
//! reactor adapter, otherwise none (wit-component would drop it). A component passes through
//! unchanged. The output carries a `qyv-adapter` custom section that names the adapter and
//! its version (`qyv inspect` shows it).

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Encoding, Parser, Payload};

/// Version of the bundled preview1 adapters: wasmtime's (see [`qyvpack::versions`]).
pub use qyvpack::versions::WASMTIME as ADAPTER_VERSION;

use qyvpack::versions::ADAPTER_SECTION;

pub use qyvinspect::adapter::{AdapterKind, ModuleShape};

/// The bytes of an adapter, pinned to the wasmtime that runs its components.
pub fn adapter_bytes(adapter: AdapterKind) -> &'static [u8] {
    match adapter {
        AdapterKind::Command => WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        AdapterKind::Reactor => WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    }
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
    #[error(
        "componentization{} failed: {reason}",
        adapter.map(|a| format!(" with the preview1 {a} adapter")).unwrap_or_default()
    )]
    Encode {
        /// The adapter that was tried, if the module needed one.
        adapter: Option<AdapterKind>,
        /// wit-component's explanation, with its context chain.
        reason: String,
    },
}

/// The result of [`componentize`].
#[derive(Debug, Clone)]
pub struct Componentized {
    /// The component's bytes.
    pub bytes: Vec<u8>,
    /// The adapter applied, or `None` when the input already was a component or is a module
    /// that needs none (see [`qyvinspect::adapter`]).
    pub adapter: Option<AdapterKind>,
    /// The input was a component and passes through unchanged.
    pub unchanged: bool,
}

/// Reads what matters for adaptation from a core module.
pub fn module_shape(module: &[u8]) -> Result<ModuleShape, AdaptError> {
    ModuleShape::read(module).map_err(|e| AdaptError::NotWasm(e.to_string()))
}

/// The adapter a module of this shape needs (qyvinspect's rule, which `qyv inspect` reports
/// too), `None` when it needs none, or why no component can be made from it.
pub fn adapter_for(shape: &ModuleShape) -> Result<Option<AdapterKind>, AdaptError> {
    if shape.can_become_component() {
        Ok(shape.adapter())
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
            unchanged: true,
        });
    }
    let shape = module_shape(bytes)?;
    let adapter = adapter_for(&shape)?;
    let encode = || -> anyhow::Result<Vec<u8>> {
        let mut encoder = wit_component::ComponentEncoder::default()
            .validate(true)
            .module(bytes)?;
        if let Some(adapter) = adapter {
            encoder =
                encoder.adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter_bytes(adapter))?;
        }
        encoder.encode()
    };
    let mut component = encode().map_err(|e| AdaptError::Encode {
        adapter,
        reason: format!("{e:#}"),
    })?;
    if let Some(adapter) = adapter {
        append_adapter_section(&mut component, adapter);
    }
    Ok(Componentized {
        bytes: component,
        adapter,
        unchanged: false,
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
        assert!(again.unchanged);
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

    /// `module` (text) with wit-bindgen's metadata for `export f: func() -> u32`.
    fn with_component_type(module: &str) -> Vec<u8> {
        let mut module = wat::parse_str(module).unwrap();
        let mut resolve = wit_parser::Resolve::default();
        let package = resolve
            .push_str(
                "lib.wit",
                "package t:lib; world lib { export f: func() -> u32; }",
            )
            .unwrap();
        let world = resolve.select_world(&[package], Some("lib")).unwrap();
        wit_component::embed_component_metadata(
            &mut module,
            &resolve,
            world,
            wit_component::StringEncoding::UTF8,
        )
        .unwrap();
        module
    }

    const LIBRARY: &str = r#"(module
        (memory (export "memory") 1)
        (func (export "f") (result i32) i32.const 1)
        (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 0))"#;

    fn core_modules(component: &[u8]) -> usize {
        Parser::new(0)
            .parse_all(component)
            .filter(|p| matches!(p, Ok(Payload::ModuleSection { .. })))
            .count()
    }

    #[test]
    fn a_component_type_module_without_preview1_imports_gets_no_adapter() {
        // This used to be recorded as adapted with the reactor adapter, which the encoder had
        // left out; `qyv inspect` said no adapter was needed.
        let out = componentize(&with_component_type(LIBRARY)).unwrap();
        assert_eq!(out.adapter, None);
        assert!(!out.unchanged, "wrapped, not passed through");
        assert_eq!(adapter_section(&out.bytes), None);
        validate_component(&out.bytes);
        assert_eq!(core_modules(&out.bytes), 1, "the module alone, no adapter");
    }

    /// Whether the encoder keeps `adapter` when offered it for `module` (it names the
    /// adapter's core module `wit-component:adapter:<name>` in the component).
    fn encoder_keeps(module: &[u8], adapter: AdapterKind) -> bool {
        let component = wit_component::ComponentEncoder::default()
            .module(module)
            .unwrap()
            .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter_bytes(adapter))
            .unwrap()
            .encode()
            .unwrap();
        let name = format!("wit-component:adapter:{WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME}");
        component.windows(name.len()).any(|w| w == name.as_bytes())
    }

    #[test]
    fn the_rule_picks_the_adapter_the_encoder_keeps() {
        let preview1 = r#"(module (import "wasi_snapshot_preview1" "random_get"
            (func (param i32 i32) (result i32)))"#;
        let modules = [
            wat::parse_str(COMMAND).unwrap(),
            wat::parse_str(REACTOR).unwrap(),
            wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#)
                .unwrap(),
            wat::parse_str(
                r#"(module (memory (export "memory") 1) (func (export "_initialize")))"#,
            )
            .unwrap(),
            with_component_type(LIBRARY),
            with_component_type(&LIBRARY.replacen("(module", preview1, 1)),
        ];
        for module in &modules {
            let shape = module_shape(module).unwrap();
            match shape.adapter() {
                Some(adapter) => assert!(encoder_keeps(module, adapter), "{shape:?}"),
                None => assert!(!encoder_keeps(module, AdapterKind::Reactor), "{shape:?}"),
            }
        }
    }

    #[test]
    fn the_adapter_name_is_the_preview1_import_module() {
        assert_eq!(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            qyvinspect::adapter::PREVIEW1
        );
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
