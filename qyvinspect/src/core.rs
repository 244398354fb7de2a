//! Core modules: imports and exports with types, memories, tables, the preview1 shape, and
//! the proposals the code uses.

use std::collections::BTreeSet;

use wasmparser::{
    CompositeInnerType, ExternalKind, FuncType, Operator, Parser, Payload, RefType, TypeRef,
    ValType,
};

use super::report::*;
use super::sections::SectionStats;
use crate::adapter::{ModuleShape, PREVIEW1, is_component_type};
use crate::error::InspectError;

/// What a core module holds.
pub struct CoreFacts {
    pub module: CoreModule,
    pub stats: SectionStats,
}

/// The proposal an operator belongs to, from wasmparser's operator table.
macro_rules! define_proposal_of {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        pub(super) fn proposal_of(op: &Operator) -> &'static str {
            match op {
                $( Operator::$op { .. } => stringify!($proposal), )*
                #[allow(unreachable_patterns)]
                _ => "mvp",
            }
        }
    };
}
wasmparser::for_each_operator!(define_proposal_of);

/// Reads a core module. `offset` is where its bytes start in the file (for error offsets).
pub fn analyze(bytes: &[u8], offset: usize) -> Result<CoreFacts, InspectError> {
    let mut types: Vec<Option<FuncType>> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut memories = Vec::new();
    let mut tables = Vec::new();
    let mut start = None;
    let mut defined_functions = 0u32;
    let mut proposals: BTreeSet<&'static str> = BTreeSet::new();
    let mut stats = SectionStats::default();

    for payload in Parser::new(offset as u64).parse_all(bytes) {
        let payload = payload.map_err(InspectError::malformed)?;
        stats.record_core(&payload);
        match payload {
            Payload::TypeSection(reader) => {
                for group in reader {
                    let group = group.map_err(InspectError::malformed)?;
                    if group.is_explicit_rec_group() {
                        proposals.insert("gc");
                    }
                    for sub in group.into_types() {
                        match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => {
                                if f.results().len() > 1 {
                                    proposals.insert("multi-value");
                                }
                                note_valtypes(f.params().iter().chain(f.results()), &mut proposals);
                                types.push(Some(f.clone()));
                            }
                            CompositeInnerType::Cont(_) => {
                                proposals.insert("stack-switching");
                                types.push(None);
                            }
                            _ => {
                                proposals.insert("gc");
                                types.push(None);
                            }
                        }
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(InspectError::malformed)?;
                    let (kind, ty) = match import.ty {
                        TypeRef::Func(idx) | TypeRef::FuncExact(idx) => {
                            func_types.push(idx);
                            ("func", func_signature(&types, idx))
                        }
                        TypeRef::Table(t) => {
                            tables.push(table(&t, true));
                            (
                                "table",
                                format!(
                                    "{} {}",
                                    ref_name(t.element_type),
                                    limits(t.initial, t.maximum, "")
                                ),
                            )
                        }
                        TypeRef::Memory(m) => {
                            note_memory(&m, &mut proposals);
                            memories.push(memory(&m, true));
                            ("memory", limits(m.initial, m.maximum, " pages"))
                        }
                        TypeRef::Global(g) => (
                            "global",
                            format!(
                                "{}{}",
                                if g.mutable { "mut " } else { "" },
                                val_name(g.content_type)
                            ),
                        ),
                        TypeRef::Tag(_) => {
                            proposals.insert("exceptions");
                            ("tag", String::new())
                        }
                    };
                    imports.push(Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        kind: kind.into(),
                        ty,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    func_types.push(ty.map_err(InspectError::malformed)?);
                    defined_functions += 1;
                }
            }
            Payload::TableSection(reader) => {
                for t in reader {
                    let t = t.map_err(InspectError::malformed)?;
                    tables.push(table(&t.ty, false));
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    let m = m.map_err(InspectError::malformed)?;
                    note_memory(&m, &mut proposals);
                    memories.push(memory(&m, false));
                }
            }
            Payload::TagSection(_) => {
                proposals.insert("exceptions");
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e.map_err(InspectError::malformed)?;
                    exports.push(Export {
                        name: e.name.to_string(),
                        kind: kind_name(e.kind).into(),
                    });
                }
            }
            Payload::StartSection { func, .. } => start = Some(func),
            Payload::DataSection(reader) => {
                let data = &bytes[reader.range().start - offset..reader.range().end - offset];
                // Interpreters embedded by componentize-* are written in Rust or C++: their
                // marks come first.
                if contains(data, b"componentize_py") {
                    stats.data_marker = Some(("Python", "data: the componentize-py runtime"));
                } else if contains(data, b"StarlingMonkey") {
                    stats.data_marker = Some(("JavaScript", "data: the StarlingMonkey runtime"));
                } else if contains(data, b"/rustc/") || contains(data, b"library/std/src/") {
                    stats.data_marker = Some(("Rust", "data: Rust standard library paths"));
                }
            }
            _ => {}
        }
    }
    if memories.len() > 1 {
        proposals.insert("multi-memory");
    }
    if tables.len() > 1 {
        proposals.insert("reference_types");
    }

    let preview1_imports = imports
        .iter()
        .filter(|i| i.module == PREVIEW1 && i.kind == "func")
        .count();
    let mut adaptable = ModuleShape {
        imports_preview1: preview1_imports > 0,
        has_component_type: stats.custom.iter().any(|c| is_component_type(&c.name)),
        ..ModuleShape::default()
    };
    for e in exports.iter().filter(|e| e.kind == "func") {
        adaptable.add_function_export(&e.name);
    }
    let has_functions = !adaptable.function_exports.is_empty();
    let shape = if adaptable.exports_start {
        "command"
    } else if adaptable.exports_initialize || (preview1_imports > 0 && has_functions) {
        "reactor"
    } else {
        "none"
    };
    let _ = func_types;

    Ok(CoreFacts {
        module: CoreModule {
            imports,
            exports,
            functions: defined_functions,
            memories,
            tables,
            start,
            wasi: WasiShape {
                preview1_imports,
                shape: shape.into(),
                adapter_needed: adaptable.adapter().map(|a| a.name().to_string()),
            },
            proposals: proposal_names(proposals),
        },
        stats,
    })
}

/// Proposal names as reports show them (`tail-call`, not `tail_call`), sorted.
pub(super) fn proposal_names(proposals: BTreeSet<&'static str>) -> Vec<String> {
    let mut names: Vec<String> = proposals.into_iter().map(|p| p.replace('_', "-")).collect();
    names.sort();
    names.dedup();
    names
}

pub(super) fn note_valtypes<'a>(
    types: impl Iterator<Item = &'a ValType>,
    proposals: &mut BTreeSet<&'static str>,
) {
    for t in types {
        match t {
            ValType::V128 => {
                proposals.insert("simd");
            }
            ValType::Ref(r) => {
                if !(*r == RefType::FUNCREF || *r == RefType::EXTERNREF) {
                    proposals.insert("function_references");
                } else {
                    proposals.insert("reference_types");
                }
            }
            _ => {}
        }
    }
}

fn note_memory(m: &wasmparser::MemoryType, proposals: &mut BTreeSet<&'static str>) {
    if m.shared {
        proposals.insert("threads");
    }
    if m.memory64 {
        proposals.insert("memory64");
    }
    if m.page_size_log2.is_some() {
        proposals.insert("custom-page-sizes");
    }
}

fn memory(m: &wasmparser::MemoryType, imported: bool) -> Memory {
    Memory {
        initial: m.initial,
        maximum: m.maximum,
        page_size: 1u64 << m.page_size_log2.unwrap_or(16),
        shared: m.shared,
        memory64: m.memory64,
        imported,
    }
}

fn table(t: &wasmparser::TableType, imported: bool) -> Table {
    Table {
        element: ref_name(t.element_type),
        initial: t.initial,
        maximum: t.maximum,
        imported,
    }
}

fn limits(initial: u64, maximum: Option<u64>, unit: &str) -> String {
    match maximum {
        Some(max) => format!("{initial}{unit}, max {max}"),
        None => format!("{initial}{unit}, no max"),
    }
}

fn func_signature(types: &[Option<FuncType>], idx: u32) -> String {
    match types.get(idx as usize) {
        Some(Some(f)) => {
            let params: Vec<String> = f.params().iter().map(|t| val_name(*t)).collect();
            let results: Vec<String> = f.results().iter().map(|t| val_name(*t)).collect();
            match results.len() {
                0 => format!("({})", params.join(", ")),
                1 => format!("({}) -> {}", params.join(", "), results[0]),
                _ => format!("({}) -> ({})", params.join(", "), results.join(", ")),
            }
        }
        _ => format!("type {idx}"),
    }
}

pub fn val_name(t: ValType) -> String {
    match t {
        ValType::I32 => "i32".into(),
        ValType::I64 => "i64".into(),
        ValType::F32 => "f32".into(),
        ValType::F64 => "f64".into(),
        ValType::V128 => "v128".into(),
        ValType::Ref(r) => ref_name(r),
    }
}

fn ref_name(r: RefType) -> String {
    if r == RefType::FUNCREF {
        "funcref".into()
    } else if r == RefType::EXTERNREF {
        "externref".into()
    } else {
        format!("{r}")
    }
}

fn kind_name(kind: ExternalKind) -> &'static str {
    match kind {
        ExternalKind::Func | ExternalKind::FuncExact => "func",
        ExternalKind::Table => "table",
        ExternalKind::Memory => "memory",
        ExternalKind::Global => "global",
        ExternalKind::Tag => "tag",
    }
}

/// Whether `needle` occurs in `haystack` (SIMD search: data sections run to megabytes).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}
