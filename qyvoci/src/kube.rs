//! Kubernetes YAML for runwasi (`qyv deploy`): a `Job` for a command, a `Deployment` and a
//! `Service` for an HTTP handler, run by the `wasmtime` RuntimeClass (k3s ships it; the
//! handler is containerd's runwasi wasmtime shim). The image is always pinned by digest.
//!
//! runwasi gives the guest the artifact's layer and nothing else: no root file system, no
//! host directories, and it does not apply qyv's network and file grants. What it cannot
//! honour is refused with the reason; what it does not enforce is a warning.
//!
//! Every scalar is written as a JSON string, which YAML reads as the same string: no value
//! from a manifest can change the document's structure.

use std::fmt::Write;

use qyvpack::manifest::{AppType, FsType, Manifest};

/// The RuntimeClass name (and handler) k3s gives runwasi's wasmtime shim.
pub const DEFAULT_RUNTIME_CLASS: &str = "wasmtime";
/// The port runwasi's wasmtime shim serves wasi:http on.
pub const HTTP_PORT: u16 = 8080;

/// What to render.
pub struct Deploy<'a> {
    /// `registry/repository@sha256:…`.
    pub image: &'a str,
    /// The file name of the wasm layer (its title), which runwasi needs as `command`.
    pub command: &'a str,
    /// The app's manifest; None for a bare component (a command with no args or env).
    pub manifest: Option<&'a Manifest>,
    /// A name for the objects, made DNS-safe here.
    pub name: &'a str,
    pub runtime_class: &'a str,
    /// Also emit the RuntimeClass.
    pub with_runtime_class: bool,
}

/// The YAML, and the warnings to show.
#[derive(Debug)]
pub struct Rendered {
    pub yaml: String,
    pub warnings: Vec<String>,
}

/// What runwasi cannot honour, each with the reason.
pub fn refusals(m: &Manifest) -> Vec<String> {
    let mut r = Vec::new();
    match m.fs.as_ref().map(|f| f.kind) {
        Some(FsType::Diskfs) => r.push(
            "fs: diskfs mounts a host directory, and a pod running a wasm artifact under runwasi has no host directory to give".to_string(),
        ),
        Some(FsType::Netfs) => r.push(
            "fs: netfs fetches files before start, which runwasi does not do (an artifact's root file system is empty)".to_string(),
        ),
        _ => {}
    }
    if !m.assets.is_empty() {
        r.push(
            "assets: an artifact's root file system is empty, so the assets would be missing"
                .into(),
        );
    }
    if !m.models.is_empty() {
        r.push(
            "models: an artifact's root file system is empty, so the models would be missing"
                .into(),
        );
    }
    match m.app_type {
        AppType::Reactor => r.push("type: reactor has no entry point for runwasi to run".into()),
        AppType::Gui => r.push("type: gui needs a display, which a pod does not have".into()),
        AppType::Cli | AppType::Http => {}
    }
    r
}

/// Renders the YAML; Err holds the refusals.
pub fn render(d: &Deploy<'_>) -> Result<Rendered, Vec<String>> {
    if let Some(m) = d.manifest {
        let refused = refusals(m);
        if !refused.is_empty() {
            return Err(refused);
        }
    }
    let name = dns_name(d.name);
    let http = d.manifest.is_some_and(|m| m.app_type == AppType::Http);
    let mut warnings = vec![
        "runwasi does not enforce qyv's network and file grants: the pod's network policy and the runtime decide what the app may reach".to_string(),
    ];
    let mut y = String::new();
    if d.with_runtime_class {
        let _ = write!(
            y,
            "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: {rc}\nhandler: {rc}\n---\n",
            rc = q(d.runtime_class)
        );
    }
    let labels = format!(
        "app.kubernetes.io/name: {}\n{{i}}app.kubernetes.io/managed-by: \"qyv\"\n",
        q(&name)
    );
    let labels_at = |indent: &str| format!("{indent}{}", labels.replace("{i}", indent));
    let mut container = String::new();
    let _ = write!(
        container,
        "      - name: {}\n        image: {}\n        command: [{}]\n",
        q(&name),
        q(d.image),
        q(&format!("/{}", d.command))
    );
    if let Some(m) = d.manifest {
        if !m.args.is_empty() {
            let args: Vec<String> = m.args.iter().map(|a| q(a)).collect();
            let _ = writeln!(container, "        args: [{}]", args.join(", "));
        }
        if !m.env.is_empty() {
            container.push_str("        env:\n");
            for (k, v) in &m.env {
                let _ = write!(
                    container,
                    "        - name: {}\n          value: {}\n",
                    q(k),
                    q(v)
                );
            }
        }
        if !m.services.is_empty() {
            warnings.push(format!(
                "services ({}) are served beside the app by qyv run only: deploy each one and call it by its Kubernetes Service name (http://NAME/) instead of http://NAME.service/",
                m.services.join(", ")
            ));
        }
        if let Some(listen) = m.http.as_ref().and_then(|h| h.listen) {
            warnings.push(format!(
                "http.listen ({listen}) is for qyv run: runwasi serves on port {HTTP_PORT}, which the Service targets"
            ));
        }
        if !m.permissions.env.is_empty() {
            warnings.push(format!(
                "permissions.env passes host variables ({}) under qyv run; in a pod, set them in the YAML",
                m.permissions.env.join(", ")
            ));
        }
        if let Some(mem) = m.limits.memory {
            let _ = write!(
                container,
                "        resources:\n          limits:\n            memory: {}\n",
                q(&mem.to_string())
            );
        }
        if m.limits.fuel.is_some() {
            warnings.push("limits.fuel has no equivalent under runwasi and is not applied".into());
        }
    }
    if http {
        let _ = write!(
            container,
            "        ports:\n        - containerPort: {HTTP_PORT}\n"
        );
        let _ = write!(
            y,
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {n}\n  labels:\n{l2}spec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: {n}\n  template:\n    metadata:\n      labels:\n{l8}    spec:\n      runtimeClassName: {rc}\n      containers:\n{container}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {n}\n  labels:\n{l2}spec:\n  selector:\n    app.kubernetes.io/name: {n}\n  ports:\n  - name: \"http\"\n    port: 80\n    targetPort: {HTTP_PORT}\n",
            n = q(&name),
            l2 = labels_at("    "),
            l8 = labels_at("        "),
            rc = q(d.runtime_class),
        );
    } else {
        let deadline = d
            .manifest
            .and_then(|m| m.limits.timeout)
            .map(|t| {
                format!(
                    "  activeDeadlineSeconds: {}\n",
                    t.as_secs_f64().ceil().max(1.0) as u64
                )
            })
            .unwrap_or_default();
        let _ = write!(
            y,
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {n}\n  labels:\n{l2}spec:\n  backoffLimit: 0\n{deadline}  template:\n    metadata:\n      labels:\n{l8}    spec:\n      runtimeClassName: {rc}\n      restartPolicy: Never\n      containers:\n{container}",
            n = q(&name),
            l2 = labels_at("    "),
            l8 = labels_at("        "),
            rc = q(d.runtime_class),
        );
    }
    Ok(Rendered { yaml: y, warnings })
}

/// A string as a double-quoted scalar (JSON's escaping is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// A DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending
/// with a letter or digit.
pub fn dns_name(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let trimmed: String = mapped.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    if trimmed.is_empty() {
        "app".into()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        qyvpack::manifest::parse(text, std::path::Path::new("app.qyv")).unwrap()
    }

    fn deploy<'a>(m: Option<&'a Manifest>) -> Deploy<'a> {
        Deploy {
            image: "r.example/apps/hello@sha256:abc",
            command: "hello.wasm",
            manifest: m,
            name: "Hello_World",
            runtime_class: DEFAULT_RUNTIME_CLASS,
            with_runtime_class: false,
        }
    }

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(dns_name("Hello_World"), "hello-world");
        assert_eq!(dns_name("--"), "app");
        assert_eq!(dns_name(&"a".repeat(100)).len(), 63);
    }

    #[test]
    fn what_runwasi_cannot_honour_is_refused_with_the_reason() {
        let m = manifest(
            "name: a\nentrypoint: a.wasm\nassets: [data/*]\npermissions:\n  fs: read\nfs:\n  type: diskfs\n  source: data\n",
        );
        let refused = render(&deploy(Some(&m))).unwrap_err();
        assert!(
            refused.iter().any(|r| r.starts_with("fs: diskfs")),
            "{refused:?}"
        );
        assert!(
            refused.iter().any(|r| r.starts_with("assets")),
            "{refused:?}"
        );
    }

    #[test]
    fn an_http_app_gets_a_deployment_and_a_service_and_its_qyv_run_keys_are_warned_of() {
        let m = manifest(
            "name: web\nentrypoint: a.wasm\ntype: http\nhttp:\n  listen: 127.0.0.1:9000\nservices: [back]\n",
        );
        let r = render(&deploy(Some(&m))).unwrap();
        assert!(r.yaml.contains("kind: Deployment") && r.yaml.contains("kind: Service"));
        assert!(
            r.yaml.contains(&format!("targetPort: {HTTP_PORT}")),
            "{}",
            r.yaml
        );
        assert!(
            r.warnings.iter().any(|w| w.starts_with("services (back)")),
            "{:?}",
            r.warnings
        );
        assert!(
            r.warnings
                .iter()
                .any(|w| w.starts_with("http.listen (127.0.0.1:9000)")),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn values_cannot_break_out_of_their_scalar() {
        let m = manifest("name: a\nentrypoint: a.wasm\nargs: [\"x\\\"\\n---\\nkind: Secret\"]\n");
        let y = render(&deploy(Some(&m))).unwrap().yaml;
        assert!(!y.contains("\nkind: Secret"), "{y}");
        assert!(y.contains(r#"args: ["x\"\n---\nkind: Secret"]"#), "{y}");
    }
}
