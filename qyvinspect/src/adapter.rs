//! Which preview1 adapter a core module needs: one rule, which qyvbuild applies when it turns
//! a module into a component and `qyv inspect` reports.
//!
//! The rule follows what wit-component's `ComponentEncoder` does with an adapter it is
//! offered. It keeps the adapter when the module imports from `wasi_snapshot_preview1`, or
//! when the adapter exports a function of the component's world. The command adapter
//! exports `wasi:cli/run`, which calls `_start`. The reactor adapter exports nothing and is
//! dropped unless the module imports preview1. So:
//! - a module exporting `_start` needs the command adapter, even without preview1 imports:
//!   that adapter is what makes it a command;
//! - another module importing preview1 needs the reactor adapter;
//! - any other module needs none. This holds even with `component-type` metadata (its
//!   wit-bindgen exports are lifted without an adapter) or an `_initialize` export (the
//!   encoder calls it from the component's start itself).

use std::fmt;

use wasmparser::{ExternalKind, Parser, Payload, TypeRef};

use crate::error::InspectError;

/// The import module of WASI preview1 functions, and the name the adapters are given.
pub const PREVIEW1: &str = "wasi_snapshot_preview1";

/// Which preview1 adapter a core module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    /// For modules that export `_start` (programs with a `main`).
    Command,
    /// For other modules that import WASI preview1 (libraries).
    Reactor,
}

impl AdapterKind {
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
    /// It imports functions from `wasi_snapshot_preview1`.
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

impl ModuleShape {
    /// Reads the shape of a core module.
    pub fn read(module: &[u8]) -> Result<ModuleShape, InspectError> {
        let mut shape = ModuleShape::default();
        for payload in Parser::new(0).parse_all(module) {
            match payload.map_err(InspectError::malformed)? {
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import.map_err(InspectError::malformed)?;
                        if import.module == PREVIEW1
                            && matches!(import.ty, TypeRef::Func(_) | TypeRef::FuncExact(_))
                        {
                            shape.imports_preview1 = true;
                        }
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.map_err(InspectError::malformed)?;
                        if matches!(export.kind, ExternalKind::Func | ExternalKind::FuncExact) {
                            shape.add_function_export(export.name);
                        }
                    }
                }
                Payload::CustomSection(section) if is_component_type(section.name()) => {
                    shape.has_component_type = true;
                }
                _ => {}
            }
        }
        Ok(shape)
    }

    /// Notes an exported function.
    pub fn add_function_export(&mut self, name: &str) {
        match name {
            "_start" => self.exports_start = true,
            "_initialize" => self.exports_initialize = true,
            "cabi_realloc" => self.exports_cabi_realloc = true,
            _ => {}
        }
        self.function_exports.push(name.to_string());
    }

    /// The adapter the module needs (see the module's documentation), if any.
    pub fn adapter(&self) -> Option<AdapterKind> {
        if self.exports_start {
            Some(AdapterKind::Command)
        } else if self.imports_preview1 {
            Some(AdapterKind::Reactor)
        } else {
            None
        }
    }

    /// Whether a component made from it does anything: it has an adapter, exports the
    /// component-type metadata describes, or an `_initialize` run at instantiation.
    pub fn can_become_component(&self) -> bool {
        self.adapter().is_some() || self.has_component_type || self.exports_initialize
    }
}

/// A custom section of wit-bindgen's metadata (`component-type`, or `component-type:<name>`).
pub fn is_component_type(section: &str) -> bool {
    section.starts_with("component-type")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(wat: &str) -> ModuleShape {
        ModuleShape::read(&wat::parse_str(wat).unwrap()).unwrap()
    }

    /// A wit-bindgen library: a function export, and metadata (its contents do not matter
    /// here; qyvbuild's tests encode real metadata).
    const LIBRARY: &str = r#"(module
        (@custom "component-type:bindings" "")
        (memory (export "memory") 1)
        (func (export "f") (result i32) i32.const 1)
        (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 0))"#;

    #[test]
    fn a_component_type_module_without_preview1_imports_needs_no_adapter() {
        // qyvbuild called this a reactor and recorded a reactor adapter that the encoder had
        // dropped; inspect said none.
        let library = shape(LIBRARY);
        assert!(
            library.has_component_type && !library.imports_preview1,
            "{library:?}"
        );
        assert_eq!(library.adapter(), None);
        assert!(library.can_become_component());
    }

    #[test]
    fn a_component_type_module_importing_preview1_needs_the_reactor_adapter() {
        let wat = LIBRARY.replacen(
            "(module",
            r#"(module (import "wasi_snapshot_preview1" "random_get"
                (func (param i32 i32) (result i32)))"#,
            1,
        );
        assert_eq!(shape(&wat).adapter(), Some(AdapterKind::Reactor));
    }

    #[test]
    fn start_needs_the_command_adapter_and_initialize_alone_needs_none() {
        let start = shape(r#"(module (func (export "_start")))"#);
        assert_eq!(start.adapter(), Some(AdapterKind::Command));
        let init = shape(r#"(module (func (export "_initialize")))"#);
        assert_eq!(init.adapter(), None);
        assert!(init.can_become_component());
        let plain = shape(r#"(module (func (export "f")))"#);
        assert_eq!(plain.adapter(), None);
        assert!(!plain.can_become_component());
    }

    #[test]
    fn inspect_reports_what_the_rule_says() {
        let modules = [
            LIBRARY,
            r#"(module (func (export "_start")))"#,
            r#"(module (func (export "_initialize")))"#,
            r#"(module (import "wasi_snapshot_preview1" "sched_yield" (func (result i32))))"#,
        ];
        for wat in modules {
            let bytes = wat::parse_str(wat).unwrap();
            let report = crate::inspect(&bytes).unwrap();
            assert_eq!(
                report.module.unwrap().wasi.adapter_needed.as_deref(),
                shape(wat).adapter().map(AdapterKind::name),
                "{wat}"
            );
        }
    }

    #[test]
    fn broken_bytes_are_malformed() {
        assert!(matches!(
            ModuleShape::read(b"\0asm\x01\0\0\0\x01\xff"),
            Err(InspectError::Malformed { .. })
        ));
    }
}
