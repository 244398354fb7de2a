//! The inspection report: what `qyv inspect --json` prints (schema documented in
//! docs/inspect-json.md; `schema_version` changes only on incompatible changes).

use std::collections::BTreeMap;

use serde::Serialize;

/// Version of the JSON schema of [`Report`].
pub const SCHEMA_VERSION: u32 = 1;

/// Everything qyv can tell about one wasm file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    /// `core-module` or `component`.
    pub kind: Kind,
    /// File size in bytes.
    pub size: u64,
    pub validation: Validation,
    /// The source language the file suggests, and why.
    pub language: Option<LanguageGuess>,
    /// The `producers` section: field (`language`, `processed-by`, `sdk`) → tools.
    pub producers: BTreeMap<String, Vec<Tool>>,
    /// The `qyv-adapter` section: which preview1 adapter made this component.
    pub adapter: Option<String>,
    /// Bytes per section kind, largest first.
    pub sections: Vec<SectionSize>,
    /// Custom sections by name, in file order.
    pub custom_sections: Vec<SectionSize>,
    /// Details of a core module.
    pub module: Option<CoreModule>,
    /// Details of a component.
    pub component: Option<Component>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    CoreModule,
    Component,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Validation {
    pub valid: bool,
    /// The validator's message when invalid.
    pub error: Option<String>,
    /// Byte offset of the problem.
    pub offset: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LanguageGuess {
    pub language: String,
    /// What gave it away, e.g. `producers: language Rust`.
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionSize {
    pub name: String,
    pub size: u64,
}

/// A core module's interface and shape.
#[derive(Debug, Clone, Serialize)]
pub struct CoreModule {
    pub imports: Vec<Import>,
    pub exports: Vec<Export>,
    /// Functions defined in the module (not imported).
    pub functions: u32,
    pub memories: Vec<Memory>,
    pub tables: Vec<Table>,
    /// The start function's index.
    pub start: Option<u32>,
    pub wasi: WasiShape,
    /// Wasm proposals the module uses beyond the MVP, in kebab-case (`gc`, `exceptions`,
    /// `simd`, `threads`, `bulk-memory`, `multi-value`, ...).
    pub proposals: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Import {
    pub module: String,
    pub name: String,
    /// `func`, `table`, `memory`, `global` or `tag`.
    pub kind: String,
    /// The type, e.g. `(i32, i32) -> i32` or `17 pages`.
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Export {
    pub name: String,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// In pages.
    pub initial: u64,
    pub maximum: Option<u64>,
    pub page_size: u64,
    pub shared: bool,
    pub memory64: bool,
    /// Imported rather than defined.
    pub imported: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub element: String,
    pub initial: u64,
    pub maximum: Option<u64>,
    pub imported: bool,
}

/// How the module relates to WASI preview1 and the adapters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WasiShape {
    /// Functions imported from `wasi_snapshot_preview1`.
    pub preview1_imports: usize,
    /// `command` (exports `_start`), `reactor` (exports `_initialize` or only functions), or
    /// `none`.
    pub shape: String,
    /// The preview1 adapter that would make it a P2 component: `command`, `reactor`, or none
    /// (the rule is [`crate::adapter`]'s).
    pub adapter_needed: Option<String>,
}

/// A component's WIT world and contents.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// The world's name as decoded (e.g. `root:component/root`).
    pub world: String,
    /// The world it fits: `wasi:cli/command`, `wasi:http/proxy` or `library`.
    pub fits: String,
    pub imports: Vec<WorldItem>,
    pub exports: Vec<WorldItem>,
    /// Core modules embedded in the component, in order.
    pub modules: Vec<NestedModule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorldItem {
    /// The full name, e.g. `wasi:cli/environment@0.2.6`, or a function's name.
    pub name: String,
    /// `interface`, `function` or `type`.
    pub kind: String,
    /// `wasi:cli` for `wasi:cli/environment@0.2.6`.
    pub package: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NestedModule {
    pub index: usize,
    /// Where the module starts in the file (not part of the JSON schema).
    #[serde(skip)]
    pub offset: usize,
    /// The WASI preview1 adapter (it exports preview1's functions): its language, Rust, is
    /// not the app's (not part of the JSON schema).
    #[serde(skip)]
    pub is_adapter: bool,
    pub size: u64,
    pub language: Option<LanguageGuess>,
    pub imports: usize,
    pub exports: usize,
    pub proposals: Vec<String>,
}
