//! What a Python project runs and needs, read the way Python's own tools read it: the
//! `[project]` table of `pyproject.toml` (name, scripts, dependencies), `requirements.txt`,
//! and the files a developer would hand to `python` (`app.py`, `main.py`, `__main__.py`, the
//! one script at the root, a package with `__main__.py`).

use std::path::{Path, PathBuf};

use crate::toolchain::BuildError;
use crate::wit::World;

/// How the program starts, as `python` would start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An `app.py` written against componentize-py's `wit_world` (a `Run` class of its own,
    /// or an `IncomingHandler` for an HTTP handler): built as it is.
    WitWorld,
    /// `python FILE`: the module (named after the file) runs as `__main__`.
    Script { module: String },
    /// `python -m PKG`: the package's `__main__.py` runs as `__main__`.
    Package { package: String },
    /// A `[project.scripts]` entry point, `module:function`.
    Function { name: String, target: String },
}

/// A Python project as qyv builds it.
#[derive(Debug, Clone)]
pub struct Project {
    pub entry: Entry,
    /// The directory the project's modules are imported from (the project, or its `src/`),
    /// relative to the project.
    pub source_root: PathBuf,
    /// `[project] dependencies`, as written.
    pub dependencies: Vec<String>,
    /// `requirements.txt`, when there is one.
    pub requirements: Option<PathBuf>,
    /// `[tool.qyv] wasi-nn = true`: the app's world imports wasi-nn (its bindings are
    /// `wit_world.imports.graph`, `tensor`, `inference`, `errors`).
    pub wasi_nn: bool,
    /// The world the app is built against: [`World::Proxy`] for an `app.py` that defines
    /// componentize-py's `IncomingHandler` (the class it exports `wasi:http/incoming-handler`
    /// from), else [`World::Command`].
    pub world: World,
}

/// The files that make a directory a Python project, in the order they are looked for.
pub const MARKERS: &[&str] = &[
    "app.py",
    "main.py",
    "__main__.py",
    "pyproject.toml",
    "requirements.txt",
];

/// Files of other build systems: a directory with one of these and one stray `*.py` is not a
/// Python project.
const OTHER_PROJECTS: &[&str] = &[
    "Makefile",
    "CMakeLists.txt",
    "build.zig",
    "package.json",
    "go.mod",
    "Cargo.toml",
];

/// A pyproject.toml bigger than this is not one.
const PYPROJECT_LIMIT: u64 = 1 << 20;

/// The file that makes `dir` a Python project, if any: one of [`MARKERS`], else the one
/// `*.py` file of a directory that no other build system claims.
pub fn marker(dir: &Path) -> Option<PathBuf> {
    crate::tools::first_file(dir, MARKERS).or_else(|| {
        if OTHER_PROJECTS.iter().any(|m| dir.join(m).exists()) {
            return None;
        }
        lone_script(dir).or_else(|| match main_packages(dir).as_slice() {
            [(root, package)] => Some(dir.join(root).join(package).join("__main__.py")),
            _ => None,
        })
    })
}

/// The packages with a `__main__.py` (what `python -m PKG` runs), at the top or in `src/`:
/// (source root, package).
fn main_packages(dir: &Path) -> Vec<(PathBuf, String)> {
    ["", "src"]
        .iter()
        .flat_map(|root| {
            std::fs::read_dir(dir.join(root))
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().join("__main__.py").is_file())
                .map(move |e| {
                    (
                        PathBuf::from(root),
                        e.file_name().to_string_lossy().into_owned(),
                    )
                })
        })
        .filter(|(_, name)| is_identifier(name))
        .collect()
}

fn lone_script(dir: &Path) -> Option<PathBuf> {
    let scripts: Vec<PathBuf> = crate::tools::files_with_extension(dir, &["py"])
        .into_iter()
        .filter(|p| !matches!(file_stem(p).as_str(), "setup" | "conftest"))
        .collect();
    match scripts.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `[project]` table of pyproject.toml, the parts qyv uses.
#[derive(Debug, Default)]
struct PyProject {
    name: Option<String>,
    scripts: Vec<(String, String)>,
    dependencies: Vec<String>,
    wasi_nn: bool,
}

fn read_pyproject(dir: &Path) -> Result<PyProject, BuildError> {
    let path = dir.join("pyproject.toml");
    if !path.is_file() {
        return Ok(PyProject::default());
    }
    let text = qyvpack::bounded::read_to_string(&path, PYPROJECT_LIMIT, "a pyproject.toml")
        .map_err(|e| BuildError::Project(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| BuildError::Project(format!("{}: {e}", path.display())))?;
    let wasi_nn = match table
        .get("tool")
        .and_then(|t| t.get("qyv"))
        .and_then(|q| q.get("wasi-nn"))
    {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => {
            return Err(BuildError::Project(format!(
                "{}: [tool.qyv] wasi-nn must be true or false",
                path.display()
            )));
        }
    };
    let Some(project) = table.get("project").and_then(|p| p.as_table()) else {
        return Ok(PyProject {
            wasi_nn,
            ..PyProject::default()
        });
    };
    let strings = |key: &str| -> Result<Vec<String>, BuildError> {
        match project.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        BuildError::Project(format!(
                            "{}: [project] {key} must be a list of strings",
                            path.display()
                        ))
                    })
                })
                .collect(),
            Some(_) => Err(BuildError::Project(format!(
                "{}: [project] {key} must be a list of strings",
                path.display()
            ))),
        }
    };
    let scripts = project
        .get("scripts")
        .and_then(|s| s.as_table())
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.trim().to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(PyProject {
        name: project
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_string),
        scripts,
        dependencies: strings("dependencies")?,
        wasi_nn,
    })
}

/// Python's name normalisation (PEP 503): `My_App` and `my-app` are one name.
fn normalize(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// Reads the project in `dir`. `chosen` (`--bin` or `build.entry`) picks one of several
/// `[project.scripts]`, or names a script (`tool.py`) at the top.
pub fn read(dir: &Path, chosen: Option<&str>) -> Result<Project, BuildError> {
    let py = read_pyproject(dir)?;
    let requirements = Some(dir.join("requirements.txt")).filter(|p| p.is_file());
    let (entry, source_root, world) = match chosen.and_then(|c| c.strip_suffix(".py")) {
        Some(module) => {
            if !is_identifier(module) || !dir.join(format!("{module}.py")).is_file() {
                return Err(BuildError::Project(format!(
                    "build.entry: {module}.py is not a Python script at the top of {}",
                    dir.display()
                )));
            }
            (
                Entry::Script {
                    module: module.to_string(),
                },
                PathBuf::new(),
                World::Command,
            )
        }
        None => entry(dir, &py, chosen)?,
    };
    Ok(Project {
        entry,
        source_root,
        dependencies: py.dependencies,
        wasi_nn: py.wasi_nn,
        requirements,
        world,
    })
}

fn entry(
    dir: &Path,
    py: &PyProject,
    bin: Option<&str>,
) -> Result<(Entry, PathBuf, World), BuildError> {
    if let Some((name, target)) = pick_script(dir, py, bin)? {
        let top = target.split([':', '.']).next().unwrap_or_default();
        let root = if !is_importable(dir, top) && is_importable(&dir.join("src"), top) {
            PathBuf::from("src")
        } else {
            PathBuf::from("")
        };
        return Ok((Entry::Function { name, target }, root, World::Command));
    }
    let app = dir.join("app.py");
    if let Some(world) = app.is_file().then(|| wit_world_app(&app)).flatten() {
        return Ok((Entry::WitWorld, PathBuf::new(), world));
    }
    for file in ["app.py", "main.py", "__main__.py"] {
        if dir.join(file).is_file() {
            let module = file.trim_end_matches(".py").to_string();
            return Ok((Entry::Script { module }, PathBuf::new(), World::Command));
        }
    }
    if let [(root, package)] = main_packages(dir).as_slice() {
        return Ok((
            Entry::Package {
                package: package.clone(),
            },
            root.clone(),
            World::Command,
        ));
    }
    if let Some(script) = lone_script(dir) {
        let module = file_stem(&script);
        if is_identifier(&module) {
            return Ok((Entry::Script { module }, PathBuf::new(), World::Command));
        }
    }
    Err(BuildError::Project(format!(
        "{} has nothing for Python to run: qyv looks for [project.scripts] in pyproject.toml, \
         app.py, main.py, __main__.py, a package with __main__.py, or the one *.py file at \
         the top",
        dir.display()
    )))
}

/// The `[project.scripts]` entry to run: `bin` when given, else the one named after the
/// project, else the only one.
fn pick_script(
    dir: &Path,
    py: &PyProject,
    bin: Option<&str>,
) -> Result<Option<(String, String)>, BuildError> {
    let names = || {
        py.scripts
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(bin) = bin {
        return py
            .scripts
            .iter()
            .find(|(n, _)| n == bin)
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                BuildError::Project(format!(
                    "pyproject.toml in {} has no [project.scripts] entry `{bin}` (it has: {}); \
                     a script is named with its file, e.g. `tool.py`",
                    dir.display(),
                    names()
                ))
            });
    }
    let by_name = py.name.as_deref().map(normalize).and_then(|project| {
        py.scripts
            .iter()
            .find(|(n, _)| normalize(n) == project)
            .cloned()
    });
    match (by_name, py.scripts.as_slice()) {
        (Some(found), _) => Ok(Some(found)),
        (None, []) => Ok(None),
        (None, [one]) => Ok(Some(one.clone())),
        (None, _) => Err(BuildError::Project(format!(
            "pyproject.toml in {} has several [project.scripts] and none is named after the \
             project: pick one with `build.entry: NAME` in the manifest or `qyv build --bin \
             NAME` (one of: {})",
            dir.display(),
            names()
        ))),
    }
    .and_then(|found| match found {
        Some((name, target)) if !valid_target(&target) => Err(BuildError::Project(format!(
            "[project.scripts] {name} = \"{target}\" is not `module:function`"
        ))),
        other => Ok(other),
    })
}

fn valid_target(target: &str) -> bool {
    let (module, func) = target.split_once(':').unwrap_or((target, ""));
    !func.is_empty()
        && module.split('.').all(is_identifier)
        && func.trim().split('.').all(is_identifier)
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Whether `top` is a module or package directly in `root`.
fn is_importable(root: &Path, top: &str) -> bool {
    root.join(top).is_dir() || root.join(format!("{top}.py")).is_file()
}

/// The world of an `app.py` written against componentize-py's `wit_world`: one that defines
/// `IncomingHandler` (componentize-py exports `wasi:http/incoming-handler` from the class of
/// that name) is an HTTP handler, one that defines its own `Run` a command; `None` for a
/// plain script.
fn wit_world_app(app: &Path) -> Option<World> {
    let text =
        qyvpack::bounded::read_to_string(app, PYPROJECT_LIMIT * 16, "a Python module").ok()?;
    let lines = || text.lines().map(str::trim_start);
    if !lines().any(|l| l.starts_with("import wit_world") || l.starts_with("from wit_world")) {
        return None;
    }
    let defines = |class: &str| {
        lines().any(|l| {
            l.strip_prefix("class ")
                .and_then(|rest| rest.strip_prefix(class))
                .is_some_and(|rest| rest.starts_with(['(', ':']))
        })
    };
    if defines("IncomingHandler") {
        Some(World::Proxy)
    } else if defines("Run") {
        Some(World::Command)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::project;

    #[test]
    fn a_src_layout_entry_point_named_after_the_project_is_taken() {
        let dir = project(&[
            (
                "pyproject.toml",
                "[project]\nname = \"My_Tool\"\ndependencies = [\"click>=8\"]\n\
                 [project.scripts]\nother = \"my_tool.x:y\"\nmy-tool = \"my_tool.cli:main\"\n",
            ),
            ("src/my_tool/__init__.py", ""),
            ("src/my_tool/cli.py", ""),
        ]);
        let p = read(dir.path(), None).unwrap();
        assert_eq!(
            p.entry,
            Entry::Function {
                name: "my-tool".into(),
                target: "my_tool.cli:main".into()
            }
        );
        assert_eq!(p.source_root, PathBuf::from("src"));
        assert_eq!(p.dependencies, vec!["click>=8".to_string()]);
    }

    #[test]
    fn several_entry_points_and_none_named_after_the_project_ask_for_bin() {
        let dir = project(&[(
            "pyproject.toml",
            "[project]\nname = \"x\"\n[project.scripts]\na = \"m:a\"\nb = \"m:b\"\n",
        )]);
        let err = read(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("--bin") && err.contains("a, b"), "{err}");
        let p = read(dir.path(), Some("b")).unwrap();
        assert!(matches!(p.entry, Entry::Function { ref target, .. } if target == "m:b"));
        std::fs::write(dir.path().join("tool.py"), "").unwrap();
        let p = read(dir.path(), Some("tool.py")).unwrap();
        assert_eq!(
            p.entry,
            Entry::Script {
                module: "tool".into()
            }
        );
        assert!(read(dir.path(), Some("nothere.py")).is_err());
    }

    #[test]
    fn plain_scripts_packages_and_wit_world_apps_are_told_apart() {
        let script = project(&[("main.py", "print(1)\n"), ("util.py", "")]);
        assert_eq!(
            read(script.path(), None).unwrap().entry,
            Entry::Script {
                module: "main".into()
            }
        );
        let lone = project(&[("hello.py", "print(1)\n")]);
        assert_eq!(
            read(lone.path(), None).unwrap().entry,
            Entry::Script {
                module: "hello".into()
            }
        );
        assert!(marker(lone.path()).is_some());
        let c = project(&[("gen.py", ""), ("Makefile", "")]);
        assert!(
            marker(c.path()).is_none(),
            "a Makefile project's helper script"
        );
        let package = project(&[("tool/__init__.py", ""), ("tool/__main__.py", "")]);
        assert!(marker(package.path()).is_some(), "python -m tool");
        assert_eq!(
            read(package.path(), None).unwrap().entry,
            Entry::Package {
                package: "tool".into()
            }
        );
        let wit = project(&[(
            "app.py",
            "import wit_world\nclass Run(wit_world.WitWorld): pass\n",
        )]);
        assert_eq!(read(wit.path(), None).unwrap().entry, Entry::WitWorld);
        assert_eq!(read(wit.path(), None).unwrap().world, World::Command);
        let mention = project(&[("app.py", "\"\"\"Not written against wit_world.\"\"\"\n")]);
        assert_eq!(
            read(mention.path(), None).unwrap().entry,
            Entry::Script {
                module: "app".into()
            }
        );
    }

    #[test]
    fn an_app_defining_incoming_handler_is_an_http_handler() {
        let handler = project(&[(
            "app.py",
            "from wit_world import exports\n\n\
             class IncomingHandler(exports.IncomingHandler):\n    def handle(self, r, o): pass\n",
        )]);
        let p = read(handler.path(), None).unwrap();
        assert_eq!((p.entry, p.world), (Entry::WitWorld, World::Proxy));
        // A plain script's class of that name is no handler, nor is a longer name.
        let plain = project(&[("app.py", "class IncomingHandler:\n    pass\n")]);
        let p = read(plain.path(), None).unwrap();
        assert_eq!(p.world, World::Command);
        assert!(matches!(p.entry, Entry::Script { .. }));
        let other = project(&[(
            "app.py",
            "import wit_world\nclass IncomingHandlerBase: pass\nclass Run(wit_world.WitWorld): pass\n",
        )]);
        assert_eq!(read(other.path(), None).unwrap().world, World::Command);
    }

    #[test]
    fn a_bad_entry_point_or_dependency_list_is_refused_plainly() {
        let dir = project(&[(
            "pyproject.toml",
            "[project]\nname = \"x\"\n[project.scripts]\nx = \"not valid\"\n",
        )]);
        assert!(read(dir.path(), None).is_err());
        let dir = project(&[(
            "pyproject.toml",
            "[project]\nname = \"x\"\ndependencies = \"click\"\n",
        )]);
        let err = read(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("list of strings"), "{err}");
    }
}
