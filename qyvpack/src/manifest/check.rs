//! Semantic checks of a converted manifest: rules that span keys, and warnings about grants
//! that cannot be honoured. File-system checks (does the entrypoint exist?) are in `load`.

use std::path::Path;

use super::convert::Spans;
use super::diagnostic::{Diagnostic, Severity};
use super::types::*;
use super::yaml::Pos;
use crate::project::check_relative_inside;

/// Checks `m`; `spans` says where each key's value is in `src`.
pub fn check(m: &Manifest, spans: &Spans, file: &Path, src: &str) -> Vec<Diagnostic> {
    let at = |key: &str| {
        spans.get(key).copied().unwrap_or(Pos {
            line: 1,
            column: 1,
            len: 1,
        })
    };
    let mut out = Vec::new();
    let mut push = |severity, key: &str, message: String, hint: Option<&str>| {
        let mut d = Diagnostic::at(severity, file, src, at(key), message);
        d.hint = hint.map(String::from);
        out.push(d);
    };

    if !valid_name(&m.name) {
        push(
            Severity::Error,
            "name",
            format!("`{}` is not a valid app name", m.name),
            Some("use lowercase letters, digits and `-` (at most 64), e.g. `hello-qyvol`"),
        );
    }
    if let Err(why) = check_relative_inside(&m.entrypoint) {
        push(
            Severity::Error,
            "entrypoint",
            format!("`entrypoint` {why}"),
            Some("give a path relative to the manifest, inside the project"),
        );
    }

    if m.http.is_some() && m.app_type != AppType::Http {
        push(
            Severity::Warning,
            "http",
            "`http` is read only for `type: http` apps".into(),
            Some("add `type: http`, or remove `http`"),
        );
    }
    for (i, service) in m.services.iter().enumerate() {
        if let Err(why) = check_relative_inside(service) {
            push(
                Severity::Error,
                "services",
                format!("`services[{i}]` {why}"),
                Some("give the path of a project, manifest or bundle inside this project"),
            );
        }
    }
    if !m.services.is_empty() && m.app_type != AppType::Http {
        push(
            Severity::Warning,
            "services",
            "`services` are served beside `type: http` apps only".into(),
            Some("add `type: http`, or remove `services`"),
        );
    }

    let perms = &m.permissions;
    if let Some(fs) = &m.fs {
        match fs.kind {
            FsType::Diskfs => {
                if perms.fs == FsAccess::None {
                    push(
                        Severity::Error,
                        "fs.type",
                        "`fs.type: diskfs` mounts a host directory, but `permissions.fs` is none"
                            .into(),
                        Some("grant `permissions.fs: read-only` or `read-write`, or use memfs"),
                    );
                }
                match &fs.source {
                    None => push(
                        Severity::Error,
                        "fs.type",
                        "`fs.type: diskfs` needs `fs.source`, the host directory to mount".into(),
                        Some("add e.g. `source: data` (relative to the manifest)"),
                    ),
                    Some(source) => {
                        if let Err(why) = check_relative_inside(source) {
                            push(
                                Severity::Error,
                                "fs.source",
                                format!("`fs.source` {why}"),
                                Some("mount a directory inside the project"),
                            );
                        }
                    }
                }
            }
            FsType::Netfs => {
                match &fs.source {
                    None => push(
                        Severity::Error,
                        "fs.type",
                        "`fs.type: netfs` needs `fs.source`, the base URL to fetch from".into(),
                        Some("add e.g. `source: https://example.com/data/`"),
                    ),
                    Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                        push(
                            Severity::Error,
                            "fs.source",
                            format!("`fs.source` `{url}` is not an http:// or https:// URL"),
                            None,
                        )
                    }
                    Some(_) => {}
                }
                if perms.fs == FsAccess::Write {
                    push(
                        Severity::Warning,
                        "permissions.fs",
                        "netfs files are read-only for the app; `write` is not honoured".into(),
                        None,
                    );
                }
                for f in &fs.files {
                    if let Err(why) = check_relative_inside(&f.path) {
                        push(
                            Severity::Error,
                            "fs.files",
                            format!("netfs file `{}` {why}", f.path),
                            None,
                        );
                    }
                }
            }
            FsType::Memfs => {
                if fs.source.is_some() {
                    push(
                        Severity::Warning,
                        "fs.source",
                        "`fs.source` is ignored for memfs (the assets seed it)".into(),
                        None,
                    );
                }
            }
        }
        if fs.kind != FsType::Netfs && !fs.files.is_empty() {
            push(
                Severity::Error,
                "fs.files",
                "`fs.files` lists files to fetch, which only netfs does".into(),
                None,
            );
        }
    }

    for grant in m.unsupported_grants() {
        let key = if grant.starts_with("permissions.exec") {
            "permissions.exec"
        } else {
            "permissions.gfx"
        };
        push(
            Severity::Warning,
            key,
            grant,
            Some("`qyv run` refuses the app while this is granted"),
        );
    }

    if let Some(memory) = m.limits.memory
        && memory < 64 * 1024
    {
        push(
            Severity::Error,
            "limits.memory",
            format!("`limits.memory` is {memory} bytes, less than one wasm page (64KiB)"),
            None,
        );
    }
    if m.limits.fuel == Some(0) {
        push(
            Severity::Error,
            "limits.fuel",
            "`limits.fuel` must be more than 0".into(),
            None,
        );
    }
    if let Some(go) = m.build.as_ref().and_then(|b| b.go.as_ref()) {
        if let Some(package) = &go.package
            && let Err(why) = check_relative_inside(package)
        {
            push(
                Severity::Error,
                "build.go.package",
                format!("`build.go.package` {why}"),
                Some("give the package's directory relative to the project, e.g. `./cmd/tool`"),
            );
        }
        for tag in &go.tags {
            if tag.is_empty()
                || !tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.".contains(c))
            {
                push(
                    Severity::Error,
                    "build.go.tags",
                    format!("`{tag}` is not a Go build tag"),
                    Some("a tag is letters, digits, `_` and `.`; list each tag on its own"),
                );
            }
        }
    }
    for (key, list) in [("models", &m.models), ("assets", &m.assets)] {
        for item in list.iter() {
            if let Err(why) = check_relative_inside(item) {
                push(
                    Severity::Error,
                    key,
                    format!("`{key}` entry `{item}` {why}"),
                    None,
                );
            }
        }
    }
    out
}

/// Lowercase letters, digits and `-`, starting with a letter or digit, at most 64.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("hello-qyvol"));
        assert!(valid_name("app2"));
        assert!(!valid_name("Hello"));
        assert!(!valid_name("my_app"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
    }
}
