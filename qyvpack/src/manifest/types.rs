//! The `.qyv` manifest's types. Their serde form is the manifest as users write it (and what
//! `qyv validate --json` prints); their JSON Schema is `docs/manifest.schema.json`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

/// A qyv app manifest (`.qyv`, YAML): what to build and run, and what the app may touch.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The app's name: lowercase letters, digits and `-`.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]*$"), length(max = 64))]
    pub name: String,
    /// The app's version, free-form (e.g. `1.2.0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A one-line description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The component (or core module) to run, relative to the manifest; `qyv build` writes it.
    pub entrypoint: String,
    /// The host interface the app targets.
    #[serde(default)]
    pub runtime: Runtime,
    /// The source language (`rust`, `go`, `nim`, `kotlin`, `c`, `zig`, `python`,
    /// `javascript`, `assemblyscript`, `julia`); `qyv build` detects it when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// What kind of app this is.
    #[serde(rename = "type", default)]
    pub app_type: AppType,
    /// What the app may touch. Everything not granted is denied.
    #[serde(default)]
    pub permissions: Permissions,
    /// The file system the app sees (with `permissions.fs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs: Option<FsConfig>,
    /// Arguments passed to the app before those given on the command line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables with fixed values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Model files to bundle (paths or globs relative to the manifest); mounted read-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Asset files to bundle (paths or globs relative to the manifest); seed the memfs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<String>,
    /// Resource limits for a run.
    #[serde(default)]
    pub limits: Limits,
    /// How `qyv build` builds the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildConfig>,
    /// How a `type: http` app is served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConfig>,
    /// Other apps (project directories, manifests or bundles, relative to the manifest and
    /// inside its project) served beside this one by `qyv run`, reachable from it by name at
    /// `http://NAME.service/` without a host port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// Serving settings of an HTTP app.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The address `qyv run` listens on, `IP:PORT` (default `127.0.0.1:8080`; port 0 picks a
    /// free one). `--listen` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub listen: Option<std::net::SocketAddr>,
}

impl Manifest {
    /// The entrypoint's path on the host, given the manifest's directory.
    pub fn entrypoint_path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.entrypoint)
    }

    /// Grants the manifest makes that no host can honour yet, each with the reason. `qyv run`
    /// refuses such an app rather than silently ignoring the grant.
    pub fn unsupported_grants(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.permissions.exec {
            out.push(
                "permissions.exec: true cannot be honoured: WASI has no process spawning".into(),
            );
        }
        if self.permissions.gfx {
            out.push(
                "permissions.gfx: true cannot be honoured: qyv has no graphics host yet".into(),
            );
        }
        out
    }
}

/// The host interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// WASI (Preview 2 components, and Preview 1 core modules).
    #[default]
    Wasi,
}

/// The kind of app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppType {
    /// A command: runs `main` (wasi:cli/run) and exits.
    #[default]
    Cli,
    /// A library of exports (preview1 `_initialize`).
    Reactor,
    /// An HTTP handler (wasi:http/proxy).
    Http,
    /// A graphical app (no graphics host yet).
    Gui,
}

/// What the app may touch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// File system access.
    #[serde(default)]
    pub fs: FsAccess,
    /// Network access: `false`, `true`, or a list of `host:port` patterns.
    #[serde(default)]
    pub net: NetPolicy,
    /// Spawning processes (WASI cannot; `true` is refused at run time).
    #[serde(default)]
    pub exec: bool,
    /// Graphics (no host yet; `true` is refused at run time).
    #[serde(default)]
    pub gfx: bool,
    /// Host environment variables the app may see, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

/// File system access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsAccess {
    /// No files at all.
    #[default]
    None,
    /// Read-only (`read` or `read-only`).
    Read,
    /// Read and write (`write` or `read-write`).
    Write,
}

impl FsAccess {
    /// The spellings accepted in YAML.
    pub const SPELLINGS: &'static [(&'static str, FsAccess)] = &[
        ("none", FsAccess::None),
        ("read", FsAccess::Read),
        ("read-only", FsAccess::Read),
        ("write", FsAccess::Write),
        ("read-write", FsAccess::Write),
    ];
}

impl JsonSchema for FsAccess {
    fn schema_name() -> Cow<'static, str> {
        "FsAccess".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "File system access: none, read (or read-only), write (or read-write).",
            "type": "string",
            "enum": ["none", "read", "read-only", "write", "read-write"]
        })
    }
}

/// Network access.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetPolicy {
    /// No sockets and no name lookup.
    #[default]
    Deny,
    /// Any address.
    Allow,
    /// Only these `host:port` patterns (see [`super::net`]).
    List(Vec<super::net::NetPattern>),
}

impl Serialize for NetPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            NetPolicy::Deny => s.serialize_bool(false),
            NetPolicy::Allow => s.serialize_bool(true),
            NetPolicy::List(list) => list.serialize(s),
        }
    }
}

impl JsonSchema for NetPolicy {
    fn schema_name() -> Cow<'static, str> {
        "NetPolicy".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Network access: false (none), true (any), or a list of host:port patterns.",
            "anyOf": [
                { "type": "boolean" },
                {
                    "type": "array",
                    "items": { "type": "string", "pattern": r"^(\*|[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\*|[0-9]{1,5})$" }
                }
            ]
        })
    }
}

/// The file system the app sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsConfig {
    /// memfs: a fresh scratch directory in RAM seeded with the assets; diskfs: a host
    /// directory (`source`); netfs: files fetched over HTTP(S) from `source` before start.
    #[serde(rename = "type")]
    pub kind: FsType,
    /// diskfs: the host directory, relative to the manifest. netfs: the base URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// netfs: keep fetched files in qyv's cache between runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// netfs: the files to fetch (`source` + `path`), optionally pinned by sha256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<NetFile>,
}

/// A kind of file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FsType {
    Memfs,
    Diskfs,
    Netfs,
}

/// A file a netfs fetches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetFile {
    /// Path below `fs.source`, and where the file appears in the guest's file system.
    pub path: String,
    /// Expected sha256 of the content, 64 hex digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{64}$"))]
    pub sha256: Option<String>,
}

/// The memfs size when `limits.disk` does not say.
pub const DEFAULT_DISK: u64 = 256 << 20;

/// Resource limits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Linear memory limit (the wasm memories; not the memfs, see `disk`): bytes, or a size
    /// like `256MiB`, `1GB`, `512k`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "memory_schema")]
    pub memory: Option<u64>,
    /// Size of the memfs (assets included), default 256MiB: writing past it fails with
    /// ENOSPC. Bytes, or a size like `256MiB`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "memory_schema")]
    pub disk: Option<u64>,
    /// Wall-clock limit: a duration like `30s`, `500ms`, `2m`, `1h`, or seconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_duration"
    )]
    #[schemars(schema_with = "duration_schema")]
    pub timeout: Option<Duration>,
    /// Fuel (instructions, roughly) the app may burn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
}

fn memory_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Bytes, or a size with a unit: B, k/K/KB/KiB, M/MB/MiB, G/GB/GiB.",
        "anyOf": [
            { "type": "integer", "minimum": 1 },
            { "type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?\s*([kKmMgG]?i?[bB]?)$" }
        ]
    })
}

fn duration_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Seconds, or a duration with a unit: ms, s, m, h.",
        "anyOf": [
            { "type": "integer", "minimum": 1 },
            { "type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?\s*(ms|s|m|h)$" }
        ]
    })
}

fn serialize_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&super::units::format_duration(*d)),
        None => s.serialize_none(),
    }
}

/// How `qyv build` builds the app.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// The wasm target, e.g. `wasm32-wasip2` or `wasm32-wasip1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The build profile (`release` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Language features to enable (cargo features for Rust).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// A shell command that builds the app (instead of qyv's own driver).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The `.wasm` the build produces, relative to the manifest: with `command`, the file it
    /// writes; with a build that makes several programs (`zig build`), the one to take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// What runs, where a project has several programs: a `[project.scripts]` name or a
    /// script (Python), a module file (JavaScript).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// Options of `go build`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go: Option<GoBuildConfig>,
}

/// Options of `go build` (`build.go`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoBuildConfig {
    /// The package to build, as `go build` takes it (e.g. `./cmd/tool`), relative to the
    /// project directory; `.` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Build tags (`go build -tags`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Linker flags (`go build -ldflags`), e.g. `-X main.version=1.2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ldflags: Option<String>,
}

/// The languages qyv knows, for `language:`.
pub const LANGUAGES: &[&str] = &[
    "rust",
    "go",
    "nim",
    "kotlin",
    "c",
    "zig",
    "python",
    "javascript",
    "assemblyscript",
    "julia",
];
