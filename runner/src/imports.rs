//! Plain explanations for imports the host does not provide, instead of wasmtime's "matching
//! implementation was not found in the linker".

use wasmtime::Module;

use crate::sandbox::HOST_WASI_VERSION;

/// The wasi-nn WIT version wasmtime-wasi-nn serves.
pub const NN_WIT_VERSION: &str = "0.2.0-rc-2024-10-28";

/// Explains a component link error: which import, and what would provide it.
pub fn explain_component(error: &str) -> String {
    let Some(name) = backticked(error) else {
        return format!("cannot link the component: {error}");
    };
    let (path, version) = match name.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (name, None),
    };
    if let Some(v) = version
        && path.starts_with("wasi:")
        && newer(v, HOST_WASI_VERSION)
    {
        return format!(
            "the app imports `{name}`, built against WASI {v}; this qyv provides WASI 0.2.0 to \
             {HOST_WASI_VERSION} (wasmtime {}); rebuild against an older WASI or update qyv",
            wasmtime_version()
        );
    }
    if path.starts_with("wasi:http/") {
        return format!(
            "the app imports `{name}`; this qyv provides wasi:http {HOST_WASI_VERSION}'s \
             outgoing-handler and types (rebuild against that WIT)"
        );
    }
    if path.starts_with("wasi:nn/") {
        return format!(
            "the app imports `{name}`; this qyv provides wasi:nn@{NN_WIT_VERSION} (build against \
             that WIT, which `qyv new --template nn` uses)"
        );
    }
    if path.starts_with("wasi:") {
        return format!(
            "the app imports `{name}`, which this host does not provide (it provides wasi:cli, \
             wasi:io, wasi:clocks, wasi:filesystem, wasi:random, wasi:sockets and wasi:http \
             {HOST_WASI_VERSION}, and wasi:nn@{NN_WIT_VERSION})"
        );
    }
    format!(
        "the app imports `{name}`, which no host provides: it is a library component; compose \
         it with a component that exports `{path}` first"
    )
}

/// A core module's imports from anything but WASI preview1, explained.
pub fn unknown_module_imports(module: &Module) -> Option<String> {
    let unknown: Vec<String> = module
        .imports()
        .filter(|i| {
            !matches!(
                i.module(),
                "wasi_snapshot_preview1" | crate::nn::WITX_MODULE
            )
        })
        .map(|i| format!("{}::{}", i.module(), i.name()))
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let shown = unknown
        .iter()
        .take(5)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if unknown.len() > 5 {
        format!(" and {} more", unknown.len() - 5)
    } else {
        String::new()
    };
    Some(format!(
        "the module imports {shown}{more}, which the host does not provide: only \
         wasi_snapshot_preview1 is available to core modules (was it linked for the web, or \
         against a library that was left out?)"
    ))
}

fn backticked(s: &str) -> Option<&str> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(&s[start..start + len])
}

/// Whether semver `a` is newer than `b` (numeric parts only).
fn newer(a: &str, b: &str) -> bool {
    let parse =
        |s: &str| -> Vec<u64> { s.split(['.', '-']).map_while(|p| p.parse().ok()).collect() };
    parse(a) > parse(b)
}

fn wasmtime_version() -> &'static str {
    qyvpack::versions::WASMTIME
}

/// The names a component imports at its top level (e.g. `wasi:sockets/tcp@0.2.6`), read
/// without parsing its code: nested modules and components are skipped.
pub fn component_imports(bytes: &[u8]) -> Vec<String> {
    top_level_names(bytes).0
}

/// The names a component exports at its top level (e.g. `wasi:http/incoming-handler@0.2.6`).
pub fn component_exports(bytes: &[u8]) -> Vec<String> {
    top_level_names(bytes).1
}

/// A component's top-level import and export names.
fn top_level_names(bytes: &[u8]) -> (Vec<String>, Vec<String>) {
    use wasmparser::{Chunk, Parser, Payload};
    let mut names = Vec::new();
    let mut exports = Vec::new();
    let mut parser = Parser::new(0);
    let mut pos = 0usize;
    while let Ok(Chunk::Parsed { consumed, payload }) = parser.parse(&bytes[pos..], true) {
        pos += consumed;
        match payload {
            Payload::ComponentImportSection(reader) => {
                for import in reader.into_iter().flatten() {
                    names.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader.into_iter().flatten() {
                    exports.push(export.name.name.to_string());
                }
            }
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => pos += unchecked_range.len(),
            Payload::End(_) => break,
            _ => {}
        }
        if pos > bytes.len() {
            break;
        }
    }
    (names, exports)
}

/// A note for imports that will fail because a permission is not granted: names the
/// imports and the permission that would provide them.
pub fn ungranted_note(imports: &[String], net_granted: bool) -> Option<String> {
    if net_granted {
        return None;
    }
    let sockets: Vec<&str> = imports
        .iter()
        .filter_map(|i| i.strip_prefix("wasi:sockets/"))
        .map(|i| i.split('@').next().unwrap_or(i))
        .collect();
    (!sockets.is_empty()).then(|| {
        format!(
            "the app imports wasi:sockets ({}) but permissions.net grants no network: its socket \
             calls will fail (grant it with permissions.net, or --grant net)",
            sockets.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_imports_are_explained() {
        let m = explain_component(
            "component imports instance `wasi:http/incoming-handler@0.2.3`, but a matching implementation was not found in the linker",
        );
        assert!(m.contains("`wasi:http/incoming-handler@0.2.3`"), "{m}");
        assert!(m.contains("outgoing-handler and types"), "{m}");
    }

    #[test]
    fn newer_wasi_names_both_versions() {
        let m =
            explain_component("component imports instance `wasi:cli/environment@0.3.0`, but ...");
        assert!(m.contains("0.3.0") && m.contains(HOST_WASI_VERSION), "{m}");
    }

    #[test]
    fn socket_imports_without_net_are_named_with_the_permission() {
        let imports = vec![
            "wasi:cli/environment@0.2.6".to_string(),
            "wasi:sockets/tcp@0.2.6".to_string(),
        ];
        let note = ungranted_note(&imports, false).unwrap();
        assert!(
            note.contains("wasi:sockets (tcp)") && note.contains("permissions.net"),
            "{note}"
        );
        assert!(ungranted_note(&imports, true).is_none());
        assert!(ungranted_note(&imports[..1], false).is_none());
    }

    #[test]
    fn custom_interfaces_point_at_composition() {
        let m = explain_component("component imports instance `acme:db/query`, but ...");
        assert!(m.contains("compose"), "{m}");
    }
}
