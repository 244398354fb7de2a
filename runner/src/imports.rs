//! Plain explanations for imports the host does not provide, instead of wasmtime's "matching
//! implementation was not found in the linker".

use wasmtime::Module;

use crate::sandbox::HOST_WASI_VERSION;

/// Explains a component link error: which import, and what would provide it.
pub fn explain_component(error: &str) -> String {
    let Some(name) = backticked(error) else {
        return format!("cannot link the component: {error}");
    };
    let (path, version) = match name.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (name, None),
    };
    if path.starts_with("wasi:http/") {
        return format!(
            "the app imports `{name}` (HTTP), which `qyv run` does not provide to command apps; \
             build it without HTTP (componentize-js: `--disable http`) or make it a `type: http` app"
        );
    }
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
    if path.starts_with("wasi:") {
        return format!(
            "the app imports `{name}`, which this host does not provide (it provides wasi:cli, \
             wasi:io, wasi:clocks, wasi:filesystem, wasi:random and wasi:sockets {HOST_WASI_VERSION})"
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
        .filter(|i| i.module() != "wasi_snapshot_preview1")
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
    "48.0.8"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_imports_are_explained() {
        let m = explain_component(
            "component imports instance `wasi:http/types@0.2.3`, but a matching implementation was not found in the linker",
        );
        assert!(m.contains("`wasi:http/types@0.2.3`"), "{m}");
        assert!(m.contains("does not provide"), "{m}");
    }

    #[test]
    fn newer_wasi_names_both_versions() {
        let m =
            explain_component("component imports instance `wasi:cli/environment@0.3.0`, but ...");
        assert!(m.contains("0.3.0") && m.contains(HOST_WASI_VERSION), "{m}");
    }

    #[test]
    fn custom_interfaces_point_at_composition() {
        let m = explain_component("component imports instance `acme:db/query`, but ...");
        assert!(m.contains("compose"), "{m}");
    }
}
