//! Components: the WIT world (decoded with wit-component), which standard world it fits,
//! and the core modules inside.

use wasmparser::{Chunk, Parser, Payload};
use wit_component::DecodedWasm;
use wit_parser::{Resolve, WorldItem, WorldKey};

use super::core;
use super::report::{NestedModule, WorldItem as ReportItem};
use super::sections::SectionStats;
use crate::error::InspectError;

/// How deep components may nest. Real ones nest a few levels; each level is a recursive
/// call here, and a hostile file nested thousands deep would overflow the stack.
pub const MAX_NESTING: usize = 100;

/// The error for a component nested deeper than [`MAX_NESTING`].
fn too_deep(offset: usize) -> InspectError {
    InspectError::Malformed {
        message: format!("components nested more than {MAX_NESTING} deep (the limit)"),
        offset: Some(offset),
    }
}

/// The core modules of a component (also inside nested components) and its own sections.
pub fn walk(
    bytes: &[u8],
    base: usize,
    modules: &mut Vec<NestedModule>,
) -> Result<SectionStats, InspectError> {
    walk_at(bytes, base, modules, 0)
}

/// [`walk`] of a component nested `depth` levels down.
fn walk_at(
    bytes: &[u8],
    base: usize,
    modules: &mut Vec<NestedModule>,
    depth: usize,
) -> Result<SectionStats, InspectError> {
    if depth > MAX_NESTING {
        return Err(too_deep(base));
    }
    let mut stats = SectionStats::default();
    let mut parser = Parser::new(base as u64);
    let mut pos = 0usize;
    loop {
        let chunk = parser
            .parse(&bytes[pos..], true)
            .map_err(InspectError::malformed)?;
        let Chunk::Parsed { consumed, payload } = chunk else {
            return Err(InspectError::Malformed {
                message: "unexpected end of file".into(),
                offset: Some(base + bytes.len()),
            });
        };
        pos += consumed;
        stats.record_component(&payload);
        match payload {
            Payload::ModuleSection {
                unchecked_range, ..
            } => {
                let inner = nested(bytes, base, &unchecked_range, "module")?;
                let facts = core::analyze(inner, unchecked_range.start)?;
                modules.push(NestedModule {
                    index: modules.len(),
                    offset: unchecked_range.start,
                    is_adapter: ["fd_write", "proc_exit", "environ_get"]
                        .iter()
                        .all(|name| facts.module.exports.iter().any(|e| e.name == *name)),
                    size: inner.len() as u64,
                    language: facts.stats.language(),
                    imports: facts.module.imports.len(),
                    exports: facts.module.exports.len(),
                    proposals: facts.module.proposals,
                });
                pos += inner.len();
            }
            Payload::ComponentSection {
                unchecked_range, ..
            } => {
                let inner = nested(bytes, base, &unchecked_range, "component")?;
                let inner_stats = walk_at(inner, unchecked_range.start, modules, depth + 1)?;
                for (field, tools) in inner_stats.producers {
                    stats.producers.entry(field).or_default().extend(tools);
                }
                pos += inner.len();
            }
            Payload::End(_) => break,
            _ => {}
        }
    }
    Ok(stats)
}

/// The component's world.
pub fn world(bytes: &[u8]) -> Result<(String, Vec<ReportItem>, Vec<ReportItem>), InspectError> {
    let (resolve, world) = decode(bytes)?;
    let w = &resolve.worlds[world];
    let name = match w.package {
        Some(pkg) => format!("{}/{}", resolve.packages[pkg].name, w.name),
        None => w.name.clone(),
    };
    let items = |map: &wit_parser::IndexMap<WorldKey, WorldItem>| {
        map.iter()
            .map(|(key, item)| describe(&resolve, key, item))
            .collect::<Vec<_>>()
    };
    Ok((name, items(&w.imports), items(&w.exports)))
}

fn describe(resolve: &Resolve, key: &WorldKey, item: &WorldItem) -> ReportItem {
    match item {
        WorldItem::Interface { id, .. } => {
            let iface = &resolve.interfaces[*id];
            let pkg = iface.package.map(|p| &resolve.packages[p].name);
            ReportItem {
                name: resolve
                    .id_of(*id)
                    .unwrap_or_else(|| resolve.name_world_key(key)),
                kind: "interface".into(),
                package: pkg.map(|p| format!("{}:{}", p.namespace, p.name)),
                version: pkg.and_then(|p| p.version.as_ref().map(|v| v.to_string())),
            }
        }
        WorldItem::Function(f) => ReportItem {
            name: f.name.clone(),
            kind: "function".into(),
            package: None,
            version: None,
        },
        WorldItem::Type { id, .. } => ReportItem {
            name: resolve.types[*id]
                .name
                .clone()
                .unwrap_or_else(|| resolve.name_world_key(key)),
            kind: "type".into(),
            package: None,
            version: None,
        },
    }
}

/// The standard world a component fits, from its exports.
pub fn fits(exports: &[ReportItem]) -> &'static str {
    let exports_iface = |prefix: &str| {
        exports
            .iter()
            .any(|e| e.kind == "interface" && e.name.starts_with(prefix))
    };
    if exports_iface("wasi:http/incoming-handler") {
        "wasi:http/proxy"
    } else if exports_iface("wasi:cli/run") {
        "wasi:cli/command"
    } else {
        "library"
    }
}

fn decode(bytes: &[u8]) -> Result<(Resolve, wit_parser::WorldId), InspectError> {
    // wit-parser's decoder allocates a section's declared size before reading it: a header
    // claiming gigabytes would exhaust memory (found by fuzzing). wasmparser checks every
    // section's size against the bytes actually there, so only well-formed input goes on.
    check_sizes(bytes, 0, 0)?;
    match wit_component::decode(bytes) {
        Ok(DecodedWasm::Component(resolve, world)) => Ok((resolve, world)),
        Ok(DecodedWasm::WitPackage(..)) => Err(InspectError::Malformed {
            message: "this is a WIT package encoded as wasm, not a runnable component".into(),
            offset: None,
        }),
        Err(e) => Err(InspectError::Malformed {
            message: format!("cannot decode the component's WIT: {e:#}"),
            offset: None,
        }),
    }
}

/// The component's world as WIT text.
pub fn wit_text(bytes: &[u8]) -> Result<String, InspectError> {
    let (resolve, world) = decode(bytes)?;
    let pkg = resolve.worlds[world]
        .package
        .ok_or(InspectError::Malformed {
            message: "the decoded world has no package".into(),
            offset: None,
        })?;
    let mut printer = wit_component::WitPrinter::default();
    printer
        .print(&resolve, pkg, &[])
        .map_err(|e| InspectError::Malformed {
            message: format!("cannot print WIT: {e:#}"),
            offset: None,
        })?;
    Ok(printer.output.to_string())
}

/// The bytes of a nested module or component section (`range` is in file offsets; `bytes`
/// start at `base`), or the error naming `what` section ran out of bounds.
fn nested<'a>(
    bytes: &'a [u8],
    base: usize,
    range: &std::ops::Range<usize>,
    what: &str,
) -> Result<&'a [u8], InspectError> {
    bytes
        .get(range.start - base..range.end - base)
        .ok_or(InspectError::Malformed {
            message: format!("{what} section out of bounds"),
            offset: Some(range.start),
        })
}

/// Checks that every section of a component (and of its nested components) fits in the
/// bytes there are, without parsing the nested core modules' code.
fn check_sizes(bytes: &[u8], base: usize, depth: usize) -> Result<(), InspectError> {
    if depth > MAX_NESTING {
        return Err(too_deep(base));
    }
    let mut parser = Parser::new(base as u64);
    let mut pos = 0usize;
    loop {
        let Chunk::Parsed { consumed, payload } = parser
            .parse(&bytes[pos..], true)
            .map_err(InspectError::malformed)?
        else {
            return Err(InspectError::Malformed {
                message: "unexpected end of file".into(),
                offset: Some(base + bytes.len()),
            });
        };
        pos += consumed;
        match payload {
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                let inner = nested(bytes, base, &unchecked_range, "nested")?;
                if wasmparser::Parser::is_component(inner) {
                    check_sizes(inner, unchecked_range.start, depth + 1)?;
                }
                pos += inner.len();
            }
            Payload::End(_) => return Ok(()),
            _ => {}
        }
    }
}
