//! From the YAML tree to a typed [`Manifest`], collecting every problem with its position:
//! unknown keys (with "did you mean"), wrong types naming the key path, bad values.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::diagnostic::{Diagnostic, Severity};
use super::net::NetPattern;
use super::types::*;
use super::units;
use super::yaml::{Node, Pos, Value, as_bool, yaml11_bool};

/// Where each key path's value is (`permissions.fs` → its position), for later checks.
pub type Spans = HashMap<String, Pos>;

pub struct Converter<'a> {
    file: &'a Path,
    src: &'a str,
    pub diagnostics: Vec<Diagnostic>,
    pub spans: Spans,
}

const TOP_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "entrypoint",
    "runtime",
    "language",
    "type",
    "permissions",
    "fs",
    "args",
    "env",
    "models",
    "assets",
    "limits",
    "build",
    "http",
    "services",
];
const PERMISSION_KEYS: &[&str] = &["fs", "net", "exec", "gfx", "env"];
const FS_KEYS: &[&str] = &["type", "source", "cache", "files"];
const NETFILE_KEYS: &[&str] = &["path", "sha256"];
const HTTP_KEYS: &[&str] = &["listen"];
const LIMIT_KEYS: &[&str] = &["memory", "disk", "timeout", "fuel"];
const BUILD_KEYS: &[&str] = &[
    "target", "profile", "features", "command", "output", "go", "entry",
];
const GO_BUILD_KEYS: &[&str] = &["package", "tags", "ldflags"];

/// The keys of a mapping, after checking them against the allowed set.
struct Fields<'n> {
    entries: Vec<(&'n str, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

impl<'a> Converter<'a> {
    pub fn new(file: &'a Path, src: &'a str) -> Self {
        Converter {
            file,
            src,
            diagnostics: Vec::new(),
            spans: Spans::new(),
        }
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::at(
            Severity::Error,
            self.file,
            self.src,
            pos,
            message,
        ));
        self.diagnostics.last_mut().expect("just pushed")
    }

    fn type_error(&mut self, node: &Node, path: &str, expected: &str) {
        let found = node.kind();
        self.error(
            node.pos,
            format!("`{path}` must be {expected}, found {found}"),
        );
    }

    /// Reads a mapping, reporting unknown and duplicate keys.
    fn fields<'n>(&mut self, node: &'n Node, path: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            let what = if path.is_empty() {
                "the manifest".to_string()
            } else {
                format!("`{path}`")
            };
            let found = node.kind();
            self.error(
                node.pos,
                format!("{what} must be a mapping of keys, found {found}"),
            );
            return None;
        };
        let mut out: Vec<(&'n str, &'n Node)> = Vec::new();
        for (key, value) in entries {
            let Value::Scalar { text, .. } = &key.value else {
                self.error(key.pos, "keys must be plain names");
                continue;
            };
            let full = join(path, text);
            if !allowed.contains(&text.as_str()) {
                let hint = suggest(text, allowed)
                    .map(|s| format!("did you mean `{}`?", join(path, s)))
                    .unwrap_or_else(|| {
                        format!(
                            "{} keys are: {}",
                            if path.is_empty() { "top-level" } else { path },
                            allowed.join(", ")
                        )
                    });
                self.error(key.pos, format!("unknown key `{full}`")).hint = Some(hint);
                continue;
            }
            if out.iter().any(|(k, _)| k == text) {
                self.error(key.pos, format!("`{full}` is given twice"));
                continue;
            }
            self.spans.insert(full, value.pos);
            out.push((text.as_str(), value));
        }
        Some(Fields { entries: out })
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, .. } => Some(text.clone()),
            _ => {
                self.type_error(node, path, "a string");
                None
            }
        }
    }

    fn opt_string(&mut self, f: &Fields, key: &str, path: &str) -> Option<String> {
        f.get(key).and_then(|n| self.string(n, &join(path, key)))
    }

    fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Value::Scalar { text, plain: true } if as_bool(text).is_some() => as_bool(text),
            _ => {
                if !self.refuse_yaml11_bool(node, path) {
                    self.type_error(node, path, "true or false");
                }
                None
            }
        }
    }

    /// Reports a YAML 1.1 boolean (`yes`, `off`, ...) where a boolean is expected; returns
    /// whether `node` was one.
    fn refuse_yaml11_bool(&mut self, node: &Node, path: &str) -> bool {
        let Value::Scalar { text, plain: true } = &node.value else {
            return false;
        };
        let Some(meant) = yaml11_bool(text) else {
            return false;
        };
        self.error(
            node.pos,
            format!(
                "`{path}`: `{text}` is not a boolean: qyv reads YAML 1.2, where it is a string"
            ),
        )
        .hint = Some(format!("write `{meant}`"));
        true
    }

    fn u64(&mut self, node: &Node, path: &str) -> Option<u64> {
        match &node.value {
            Value::Scalar { text, plain: true } if text.parse::<u64>().is_ok() => text.parse().ok(),
            _ => {
                self.type_error(node, path, "a whole number");
                None
            }
        }
    }

    /// A list of strings; a single string counts as a list of one.
    fn strings(&mut self, node: &Node, path: &str) -> Vec<String> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
                .collect(),
            Value::Scalar { text, .. } => vec![text.clone()],
            Value::Null => Vec::new(),
            Value::Map(_) => {
                self.type_error(node, path, "a list of strings");
                Vec::new()
            }
        }
    }

    /// One of a fixed set of words.
    fn choice<T: Copy>(&mut self, node: &Node, path: &str, options: &[(&str, T)]) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let Value::Scalar { text, .. } = &node.value else {
            self.type_error(node, path, &format!("one of {}", names.join(", ")));
            return None;
        };
        if let Some((_, v)) = options.iter().find(|(n, _)| *n == text) {
            return Some(*v);
        }
        let hint = match suggest(text, &names) {
            Some(s) => format!("did you mean `{s}`? (one of {})", names.join(", ")),
            None => format!("use one of {}", names.join(", ")),
        };
        self.error(
            node.pos,
            format!("`{text}` is not a valid value for `{path}`"),
        )
        .hint = Some(hint);
        None
    }

    /// Converts the whole document.
    pub fn manifest(&mut self, root: &Node) -> Option<Manifest> {
        if root.value == Value::Null {
            self.error(root.pos, "the manifest is empty").hint =
                Some("a manifest needs at least `name` and `entrypoint`".into());
            return None;
        }
        let f = self.fields(root, "", TOP_KEYS)?;
        let name = match f.get("name") {
            Some(n) => self.string(n, "name"),
            None => {
                self.error(root.pos, "missing required key `name`").hint =
                    Some("add e.g. `name: my-app`".into());
                None
            }
        };
        let entrypoint = match f.get("entrypoint") {
            Some(n) => self.string(n, "entrypoint"),
            None => {
                self.error(root.pos, "missing required key `entrypoint`")
                    .hint =
                    Some("add the path of the .wasm to run, e.g. `entrypoint: app.wasm`".into());
                None
            }
        };
        let version = self.opt_string(&f, "version", "");
        let description = self.opt_string(&f, "description", "");
        let runtime = f
            .get("runtime")
            .and_then(|n| self.choice(n, "runtime", &[("wasi", Runtime::Wasi)]))
            .unwrap_or_default();
        let language = f.get("language").and_then(|n| {
            let lang = self.string(n, "language")?.to_ascii_lowercase();
            let options: Vec<(&str, ())> = LANGUAGES.iter().map(|l| (*l, ())).collect();
            // Reuse the choice diagnostics for an unknown language.
            let scalar = Node {
                pos: n.pos,
                value: Value::Scalar {
                    text: lang.clone(),
                    plain: true,
                },
            };
            self.choice(&scalar, "language", &options).map(|_| lang)
        });
        let app_type = f
            .get("type")
            .and_then(|n| {
                self.choice(
                    n,
                    "type",
                    &[
                        ("cli", AppType::Cli),
                        ("reactor", AppType::Reactor),
                        ("http", AppType::Http),
                        ("gui", AppType::Gui),
                    ],
                )
            })
            .unwrap_or_default();
        let permissions = f
            .get("permissions")
            .map(|n| self.permissions(n, app_type))
            .unwrap_or_default();
        let fs = f.get("fs").and_then(|n| self.fs(n));
        let args = f
            .get("args")
            .map(|n| self.strings(n, "args"))
            .unwrap_or_default();
        let env = f.get("env").map(|n| self.env_map(n)).unwrap_or_default();
        let models = f
            .get("models")
            .map(|n| self.strings(n, "models"))
            .unwrap_or_default();
        let assets = f
            .get("assets")
            .map(|n| self.strings(n, "assets"))
            .unwrap_or_default();
        let limits = f.get("limits").map(|n| self.limits(n)).unwrap_or_default();
        let build = f.get("build").and_then(|n| self.build(n));
        let http = f.get("http").and_then(|n| self.http(n));
        let services = f
            .get("services")
            .map(|n| self.strings(n, "services"))
            .unwrap_or_default();
        Some(Manifest {
            name: name?,
            version,
            description,
            entrypoint: entrypoint?,
            runtime,
            language,
            app_type,
            permissions,
            fs,
            args,
            env,
            models,
            assets,
            limits,
            build,
            http,
            services,
        })
    }

    fn permissions(&mut self, node: &Node, app_type: AppType) -> Permissions {
        let mut p = Permissions::default();
        if node.value == Value::Null {
            return p;
        }
        let Some(f) = self.fields(node, "permissions", PERMISSION_KEYS) else {
            return p;
        };
        if let Some(n) = f.get("fs") {
            // `fs: false` reads naturally as "no file access".
            p.fs = match &n.value {
                Value::Scalar { text, plain: true } if as_bool(text) == Some(false) => {
                    FsAccess::None
                }
                _ if self.refuse_yaml11_bool(n, "permissions.fs") => FsAccess::None,
                _ => self
                    .choice(n, "permissions.fs", FsAccess::SPELLINGS)
                    .unwrap_or_default(),
            };
        }
        if let Some(n) = f.get("net") {
            p.net = self.net(n, app_type);
        }
        if let Some(n) = f.get("exec") {
            p.exec = self.bool(n, "permissions.exec").unwrap_or(false);
        }
        if let Some(n) = f.get("gfx") {
            p.gfx = self.bool(n, "permissions.gfx").unwrap_or(false);
        }
        if let Some(n) = f.get("env") {
            p.env = self.strings(n, "permissions.env");
            self.check_env_names(n, &p.env, "permissions.env");
        }
        p
    }

    /// `permissions.net`. An HTTP app's outgoing requests are checked by host name, so its
    /// patterns may name `*.domain` (which are then no socket grants).
    fn net(&mut self, node: &Node, app_type: AppType) -> NetPolicy {
        match &node.value {
            Value::Scalar { text, plain: true } if as_bool(text).is_some() => {
                if as_bool(text) == Some(true) {
                    NetPolicy::Allow
                } else {
                    NetPolicy::Deny
                }
            }
            _ if self.refuse_yaml11_bool(node, "permissions.net") => NetPolicy::Deny,
            Value::Seq(items) => {
                let mut list = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let path = format!("permissions.net[{i}]");
                    let Some(text) = self.string(item, &path) else {
                        continue;
                    };
                    let pattern = match text.parse::<NetPattern>() {
                        Ok(p) => p,
                        Err(why) => {
                            self.error(
                                item.pos,
                                format!("`{text}` is not a host:port pattern: {why}"),
                            )
                            .hint = Some(
                                "write e.g. `api.example.com:443`, `127.0.0.1:8080`, `[::1]:*`, `*:53`, `service://back/80`"
                                    .into(),
                            );
                            continue;
                        }
                    };
                    // An error here, so `validate` and `run` (both parse with this) refuse it alike.
                    if app_type != AppType::Http
                        && let Err(why) = pattern.check_socket_grant()
                    {
                        self.error(item.pos, why.to_string()).hint =
                            Some("list the host names instead, e.g. `api.example.com:443`".into());
                        continue;
                    }
                    list.push(pattern);
                }
                NetPolicy::List(list)
            }
            _ => {
                self.type_error(
                    node,
                    "permissions.net",
                    "true, false or a list of host:port patterns",
                );
                NetPolicy::Deny
            }
        }
    }

    fn fs(&mut self, node: &Node) -> Option<FsConfig> {
        let f = self.fields(node, "fs", FS_KEYS)?;
        let kind = match f.get("type") {
            Some(n) => self.choice(
                n,
                "fs.type",
                &[
                    ("memfs", FsType::Memfs),
                    ("diskfs", FsType::Diskfs),
                    ("netfs", FsType::Netfs),
                ],
            )?,
            None => {
                self.error(node.pos, "missing required key `fs.type`").hint =
                    Some("one of memfs, diskfs, netfs".into());
                return None;
            }
        };
        let source = self.opt_string(&f, "source", "fs");
        let cache = f.get("cache").and_then(|n| self.bool(n, "fs.cache"));
        let mut files = Vec::new();
        if let Some(n) = f.get("files") {
            match &n.value {
                Value::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let path = format!("fs.files[{i}]");
                        if let Some(file) = self.net_file(item, &path) {
                            files.push(file);
                        }
                    }
                }
                _ => self.type_error(n, "fs.files", "a list of {path, sha256}"),
            }
        }
        Some(FsConfig {
            kind,
            source,
            cache,
            files,
        })
    }

    fn net_file(&mut self, node: &Node, path: &str) -> Option<NetFile> {
        if let Value::Scalar { text, .. } = &node.value {
            return Some(NetFile {
                path: text.clone(),
                sha256: None,
            });
        }
        let f = self.fields(node, path, NETFILE_KEYS)?;
        let Some(p) = f.get("path") else {
            self.error(node.pos, format!("missing required key `{path}.path`"));
            return None;
        };
        let file_path = self.string(p, &format!("{path}.path"))?;
        let sha256 = match f.get("sha256") {
            Some(n) => {
                let digest = self.string(n, &format!("{path}.sha256"))?;
                if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
                    self.error(n.pos, format!("`{path}.sha256` must be 64 hex digits"));
                    return None;
                }
                Some(digest.to_ascii_lowercase())
            }
            None => None,
        };
        Some(NetFile {
            path: file_path,
            sha256,
        })
    }

    fn env_map(&mut self, node: &Node) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Value::Map(entries) = &node.value else {
            if node.value != Value::Null {
                self.type_error(node, "env", "a mapping of NAME: value");
            }
            return out;
        };
        for (k, v) in entries {
            let Some(key) = self.string(k, "env") else {
                continue;
            };
            if !valid_env_name(&key) {
                self.error(
                    k.pos,
                    format!("`{key}` is not a valid environment variable name"),
                )
                .hint = Some("use letters, digits and `_`, not starting with a digit".into());
                continue;
            }
            let path = format!("env.{key}");
            let value = match &v.value {
                Value::Null => Some(String::new()),
                _ => self.string(v, &path),
            };
            if let Some(value) = value
                && out.insert(key.clone(), value).is_some()
            {
                self.error(k.pos, format!("`{path}` is given twice"));
            }
        }
        out
    }

    fn check_env_names(&mut self, node: &Node, names: &[String], path: &str) {
        let positions: Vec<Pos> = match &node.value {
            Value::Seq(items) => items.iter().map(|i| i.pos).collect(),
            _ => vec![node.pos],
        };
        for (i, name) in names.iter().enumerate() {
            if !valid_env_name(name) {
                let pos = positions.get(i).copied().unwrap_or(node.pos);
                self.error(
                    pos,
                    format!("`{name}` in `{path}` is not a valid environment variable name"),
                )
                .hint = Some("use letters, digits and `_`, not starting with a digit".into());
            }
        }
    }

    fn limits(&mut self, node: &Node) -> Limits {
        let mut l = Limits::default();
        let Some(f) = self.fields(node, "limits", LIMIT_KEYS) else {
            return l;
        };
        for (key, slot) in [("memory", &mut l.memory), ("disk", &mut l.disk)] {
            let name = format!("limits.{key}");
            if let Some(n) = f.get(key)
                && let Some(text) = self.string(n, &name)
            {
                match units::parse_size(&text) {
                    Ok(0) => {
                        self.error(n.pos, format!("`{name}` must be more than 0"));
                    }
                    Ok(bytes) => *slot = Some(bytes),
                    Err(why) => {
                        self.error(n.pos, format!("`{name}`: {why}")).hint =
                            Some("write e.g. `256MiB`".into());
                    }
                }
            }
        }
        if let Some(n) = f.get("timeout")
            && let Some(text) = self.string(n, "limits.timeout")
        {
            match units::parse_timeout(&text) {
                Ok(d) => l.timeout = Some(d),
                Err(why) => {
                    self.error(n.pos, format!("`limits.timeout`: {why}")).hint =
                        Some("write e.g. `30s` or `500ms`; leave it out for no limit".into());
                }
            }
        }
        if let Some(n) = f.get("fuel") {
            l.fuel = self.u64(n, "limits.fuel");
        }
        l
    }

    fn http(&mut self, node: &Node) -> Option<HttpConfig> {
        let f = self.fields(node, "http", HTTP_KEYS)?;
        let mut config = HttpConfig::default();
        if let Some(n) = f.get("listen")
            && let Some(text) = self.string(n, "http.listen")
        {
            match text.parse::<std::net::SocketAddr>() {
                Ok(addr) => config.listen = Some(addr),
                Err(_) => {
                    self.error(
                        n.pos,
                        format!("`http.listen`: `{text}` is not an IP:PORT address"),
                    )
                    .hint = Some(
                        "write e.g. `127.0.0.1:8080`, `0.0.0.0:80` or `[::1]:8080` (port 0 picks a free port)"
                            .into(),
                    );
                }
            }
        }
        Some(config)
    }

    fn build(&mut self, node: &Node) -> Option<BuildConfig> {
        let f = self.fields(node, "build", BUILD_KEYS)?;
        Some(BuildConfig {
            target: self.opt_string(&f, "target", "build"),
            profile: self.opt_string(&f, "profile", "build"),
            features: f
                .get("features")
                .map(|n| self.strings(n, "build.features"))
                .unwrap_or_default(),
            command: self.opt_string(&f, "command", "build"),
            output: self.opt_string(&f, "output", "build"),
            entry: self.opt_string(&f, "entry", "build"),
            go: f.get("go").and_then(|n| self.go_build(n)),
        })
    }

    fn go_build(&mut self, node: &Node) -> Option<GoBuildConfig> {
        let f = self.fields(node, "build.go", GO_BUILD_KEYS)?;
        Some(GoBuildConfig {
            package: self.opt_string(&f, "package", "build.go"),
            tags: f
                .get("tags")
                .map(|n| self.strings(n, "build.go.tags"))
                .unwrap_or_default(),
            ldflags: self.opt_string(&f, "ldflags", "build.go"),
        })
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The closest allowed word, when it is close enough to be a likely typo.
pub fn suggest<'s>(word: &str, options: &[&'s str]) -> Option<&'s str> {
    options
        .iter()
        .map(|o| (strsim::jaro_winkler(&word.to_ascii_lowercase(), o), *o))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, o)| o)
}

pub fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("permisions", TOP_KEYS), Some("permissions"));
        assert_eq!(suggest("entrypiont", TOP_KEYS), Some("entrypoint"));
        assert_eq!(suggest("zzzz", TOP_KEYS), None);
    }
}
