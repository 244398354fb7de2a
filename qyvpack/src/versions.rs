//! Versions and names that several crates must agree on, each defined once: the builder
//! writes what the inspector reads, and the WIT qyv ships must be the WASI the host serves.

/// The wasmtime qyv embeds, and so the version of the preview1 adapters it bundles (the
/// `wasi-preview1-component-adapter-provider` crate is versioned with wasmtime). A test keeps
/// it in step with Cargo.lock.
pub const WASMTIME: &str = "48.0.8";

/// The WASI 0.2 version `qyv run` serves (wasmtime-wasi's WIT) and whose WIT files qyv ships
/// for the toolchains that generate bindings.
pub const WASI: &str = "0.2.12";

/// The custom section that records which preview1 adapter made a component.
pub const ADAPTER_SECTION: &str = "qyv-adapter";

#[cfg(test)]
mod tests {
    use super::*;

    fn locked_version(lock: &str, name: &str) -> String {
        let entry = lock
            .split("[[package]]")
            .find(|p| p.contains(&format!("name = \"{name}\"\n")))
            .unwrap_or_else(|| panic!("{name} in Cargo.lock"));
        entry
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or_else(|| panic!("a version for {name}"))
            .to_string()
    }

    #[test]
    fn wasmtime_and_the_adapters_are_the_locked_versions() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
        for name in [
            "wasmtime",
            "wasmtime-wasi",
            "wasi-preview1-component-adapter-provider",
        ] {
            assert_eq!(locked_version(&lock, name), WASMTIME, "{name}");
        }
    }

    #[test]
    fn the_shipped_wit_is_the_served_wasi() {
        let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../qyvbuild/wit")
            .join(format!("wasi-{WASI}"));
        assert!(wit.is_dir(), "{} is missing", wit.display());
        let cli = std::fs::read_to_string(wit.join("cli.wit")).unwrap();
        assert!(
            cli.contains(&format!("package wasi:cli@{WASI}")),
            "{cli:.200}"
        );
    }
}
