//! From a manifest (or a bare .wasm) and the command line to a [`RunRequest`]: resolves the
//! grants, prepares the file systems, and refuses what cannot be honoured.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qyvpack::files::DeclaredFile;
use qyvpack::manifest::{AppType, FsAccess, FsType, Manifest};

use crate::grants::{DATA_DIR, Grants, MODELS_DIR, Mount, NetRules, Overrides};
use crate::host::RunLimits;
use crate::netfs::FetchLimits;
use crate::run::{ModelFile, RunRequest};
use crate::scratch::{self, Scratch};

/// Why an app cannot be started as asked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The manifest grants something no host can honour (exec, gfx) or asks for what this
    /// runner does not do; the message says which and why.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Grants(String),
    /// A netfs file could not be fetched (the app did not start).
    #[error("{0}")]
    Fetch(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
    let context = context.into();
    move |source| AppError::Io { context, source }
}

/// Files the guest sees that do not come from the host's disk directly: a bundle's models
/// and assets, or a project's (read from its directory).
pub trait FileSource {
    /// Paths of the models below `/models`.
    fn models(&self) -> Vec<PathBuf>;
    /// Paths of the assets below `/data`.
    fn assets(&self) -> Vec<PathBuf>;
    /// A model's content.
    fn read_model(&self, rel: &Path) -> std::io::Result<Vec<u8>>;
    /// An asset's content.
    fn read_asset(&self, rel: &Path) -> std::io::Result<Vec<u8>>;
    /// A host directory that holds the models, verified, laid out as under `/models`: it is
    /// mounted read-only as it is (a bundle's view in the store) instead of copied.
    fn models_dir(&self) -> Option<PathBuf> {
        None
    }
    /// The host file that holds an asset's verified bytes: the kernel copies it into the
    /// memfs, and qyv never reads it into memory.
    fn asset_file(&self, _rel: &Path) -> Option<PathBuf> {
        None
    }
}

/// A project directory's declared models and assets.
pub struct ProjectFiles {
    dir: PathBuf,
    models: Vec<DeclaredFile>,
    assets: Vec<DeclaredFile>,
}

impl ProjectFiles {
    pub fn new(dir: &Path, manifest: &Manifest) -> Result<ProjectFiles, AppError> {
        let declared = |patterns: &[String]| {
            qyvpack::files::declared(dir, patterns).map_err(|e| AppError::Grants(e.to_string()))
        };
        Ok(ProjectFiles {
            dir: dir.to_path_buf(),
            models: declared(&manifest.models)?,
            assets: declared(&manifest.assets)?,
        })
    }
}

impl FileSource for ProjectFiles {
    fn models(&self) -> Vec<PathBuf> {
        self.models.iter().map(|f| f.dest.clone()).collect()
    }
    fn assets(&self) -> Vec<PathBuf> {
        self.assets.iter().map(|f| f.dest.clone()).collect()
    }
    fn read_model(&self, rel: &Path) -> std::io::Result<Vec<u8>> {
        read_declared(&self.dir, &self.models, rel)
    }
    fn read_asset(&self, rel: &Path) -> std::io::Result<Vec<u8>> {
        read_declared(&self.dir, &self.assets, rel)
    }
}

/// A declared file's bytes, read where it resolved inside the project (refusing a link
/// swapped in since), within a bundle's budget for all its files.
fn read_declared(dir: &Path, files: &[DeclaredFile], dest: &Path) -> std::io::Result<Vec<u8>> {
    let f = files
        .iter()
        .find(|f| f.dest == dest)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not declared"))?;
    let (path, file) = qyvpack::project::open(dir, &f.source)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()))?;
    let limit = qyvpack::bundle::ReadLimits::default().max_unpacked;
    qyvpack::bounded::read_open(file, &path, limit, "the files of an app")
        .map_err(qyvpack::bounded::ReadError::into_io)
}

/// A run ready to start; keeps its scratch space, and its view of the store, alive until
/// dropped.
pub struct Prepared {
    pub request: RunRequest,
    /// Whether the command line widened the manifest's grants.
    pub widened: bool,
    scratch: Option<Scratch>,
    /// The bundle's view in the store that `/models` is, held (locked against eviction).
    view: Option<crate::store::View>,
}

impl Prepared {
    /// The run's scratch space, when it needs one.
    pub fn scratch(&self) -> Option<&Scratch> {
        self.scratch.as_ref()
    }

    /// Holds `view` for as long as the run.
    pub(crate) fn holding(mut self, view: Option<crate::store::View>) -> Prepared {
        self.view = view;
        self
    }
}

/// The run's scratch space, made when first needed: runs without memfs, netfs or models
/// pay nothing.
fn scratch_space(slot: &mut Option<Scratch>, disk: u64) -> Result<&Scratch, AppError> {
    if slot.is_none() {
        *slot = Some(Scratch::new(disk).map_err(io("cannot create the scratch space"))?);
    }
    Ok(slot.as_ref().expect("made above"))
}

/// Command-line limits; each applies on top of the manifest's (the tighter wins).
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitFlags {
    pub memory: Option<u64>,
    pub timeout: Option<Duration>,
    pub fuel: Option<u64>,
}

/// What the command line adds to a run.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// Arguments after `--`.
    pub args: Vec<String>,
    pub overrides: Overrides,
    pub limits: LimitFlags,
    /// Fixed environment values (`--env KEY=VALUE`), after the manifest's.
    pub env: Vec<(String, String)>,
    /// Use the compile cache.
    pub cache: bool,
    /// How a cache miss is compiled.
    pub cold: crate::run::ColdStart,
}

/// The wasm to run.
pub struct Wasm {
    pub bytes: crate::wasm::WasmBytes,
    /// Its content digest when already known (a verified bundle).
    pub digest: Option<String>,
}

/// Prepares a manifest's app. `dir` is the manifest's directory; `files` its models and
/// assets.
pub fn prepare(
    manifest: &Manifest,
    dir: &Path,
    wasm: Wasm,
    files: &dyn FileSource,
    inv: &Invocation,
) -> Result<Prepared, AppError> {
    let overrides = &inv.overrides;
    let limits = inv.limits;
    refuse_unsupported(manifest)?;
    let run_limits = RunLimits {
        memory: tighter(manifest.limits.memory, limits.memory),
        timeout: tighter(manifest.limits.timeout, limits.timeout),
        fuel: tighter(manifest.limits.fuel, limits.fuel),
    };
    let disk = manifest
        .limits
        .disk
        .unwrap_or(qyvpack::manifest::DEFAULT_DISK);

    let mut scratch = None;
    let mut mounts = Vec::new();
    let fs_access = if overrides.no_fs {
        FsAccess::None
    } else {
        manifest.permissions.fs
    };
    if fs_access != FsAccess::None {
        let writable = fs_access == FsAccess::Write && !overrides.read_only;
        match manifest.fs.as_ref().map(|f| f.kind) {
            Some(FsType::Diskfs) => {
                let source = manifest
                    .fs
                    .as_ref()
                    .and_then(|f| f.source.as_deref())
                    .unwrap_or(".");
                // Resolved inside the project: a link that leaves it (`data -> ~/.ssh`) is
                // refused here too, whoever prepared the manifest.
                let host = qyvpack::project::resolve(dir, Path::new(source))
                    .map_err(|e| AppError::Refused(format!("diskfs `fs.source` {e}")))?;
                if !host.is_dir() {
                    return Err(AppError::Io {
                        context: format!("cannot open the diskfs source {}", host.display()),
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "not a directory",
                        ),
                    });
                }
                mounts.push(Mount {
                    host,
                    guest: DATA_DIR.into(),
                    writable,
                    origin: "diskfs".into(),
                });
            }
            Some(FsType::Netfs) => {
                let fs = manifest.fs.as_ref().expect("netfs has an fs section");
                let source = fs.source.as_deref().unwrap_or_default();
                let host = scratch_space(&mut scratch, disk)?.dir(scratch::NETFS);
                crate::netfs::fetch_all(
                    source,
                    &fs.files,
                    fs.cache.unwrap_or(false),
                    &host,
                    FetchLimits::within(run_limits.timeout),
                )
                .map_err(|e| AppError::Fetch(e.to_string()))?;
                mounts.push(Mount {
                    host,
                    guest: DATA_DIR.into(),
                    // Fetched files are read-only for the app.
                    writable: false,
                    origin: "netfs".into(),
                });
            }
            Some(FsType::Memfs) | None => {
                let host = scratch_space(&mut scratch, disk)?.dir(scratch::MEMFS);
                let mut seeded = 0u64;
                for rel in files.assets() {
                    seed_asset(files, &rel, &host, &mut seeded, disk)?;
                }
                mounts.push(Mount {
                    host,
                    guest: DATA_DIR.into(),
                    writable,
                    origin: "memfs".into(),
                });
            }
        }
    }
    let models = files.models();
    let mut model_files = Vec::new();
    if !models.is_empty() {
        let host = match files.models_dir() {
            Some(dir) => dir,
            None => {
                let host = scratch_space(&mut scratch, disk)?.dir(scratch::MODELS);
                for rel in &models {
                    let bytes = files
                        .read_model(rel)
                        .map_err(io(format!("cannot read model {}", rel.display())))?;
                    scratch::write_private(&host.join(rel), &bytes)
                        .map_err(io(format!("cannot place model {}", rel.display())))?;
                }
                host
            }
        };
        model_files = models
            .iter()
            .map(|rel| ModelFile {
                guest: rel.clone(),
                host: host.join(rel),
            })
            .collect();
        mounts.push(Mount {
            host,
            guest: MODELS_DIR.into(),
            writable: false,
            origin: "models".into(),
        });
    }
    add_dirs(&mut mounts, overrides)?;

    let mut env: Vec<(String, String)> = manifest
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    set_fixed(&mut env, &inv.env);
    let names = manifest.permissions.env.iter().chain(&overrides.grant_env);
    let env_missing = add_host_env(&mut env, names, overrides.no_env);

    let net = if overrides.no_net {
        NetRules::Deny
    } else if overrides.grant_net {
        NetRules::Any
    } else {
        NetRules::resolve(&manifest.permissions.net).map_err(|e| AppError::Grants(e.to_string()))?
    };

    let grants = Grants {
        mounts,
        net,
        env,
        env_missing,
    };
    let mut all_args = manifest.args.clone();
    all_args.extend(inv.args.iter().cloned());
    let request = RunRequest {
        name: manifest.name.clone(),
        wasm: wasm.bytes,
        digest: wasm.digest,
        args: all_args,
        grants,
        models: model_files,
        limits: run_limits,
        cache: inv.cache,
        cold: inv.cold,
    };
    Ok(Prepared {
        request,
        widened: overrides.widens(),
        scratch,
        view: None,
    })
}

/// Prepares a bare .wasm: nothing is granted but what the command line grants.
pub fn prepare_bare(name: &str, wasm: Wasm, inv: &Invocation) -> Result<Prepared, AppError> {
    let overrides = &inv.overrides;
    let limits = inv.limits;
    let mut mounts = Vec::new();
    add_dirs(&mut mounts, overrides)?;
    let mut env = Vec::new();
    set_fixed(&mut env, &inv.env);
    let env_missing = add_host_env(&mut env, &overrides.grant_env, overrides.no_env);
    let grants = Grants {
        mounts,
        net: if overrides.grant_net && !overrides.no_net {
            NetRules::Any
        } else {
            NetRules::Deny
        },
        env,
        env_missing,
    };
    Ok(Prepared {
        request: RunRequest {
            name: name.to_string(),
            wasm: wasm.bytes,
            digest: wasm.digest,
            args: inv.args.clone(),
            grants,
            models: Vec::new(),
            limits: RunLimits {
                memory: limits.memory,
                timeout: limits.timeout,
                fuel: limits.fuel,
            },
            cache: inv.cache,
            cold: inv.cold,
        },
        widened: overrides.widens(),
        scratch: None,
        view: None,
    })
}

/// Seeds the memfs at `host` with one asset, adding its size to `seeded`, which may not
/// pass `disk` (checked here too, before the write: without a private tmpfs nothing else
/// would). From a stored file the kernel copies (`copy_file_range`); otherwise its bytes are
/// read and written.
fn seed_asset(
    files: &dyn FileSource,
    rel: &Path,
    host: &Path,
    seeded: &mut u64,
    disk: u64,
) -> Result<(), AppError> {
    let dest = host.join(rel);
    let read_error = || io(format!("cannot read asset {}", rel.display()));
    let seed_error = || io(format!("cannot seed asset {}", rel.display()));
    let mut fits = |size: u64| {
        *seeded = seeded.saturating_add(size);
        if *seeded > disk {
            return Err(AppError::Refused(format!(
                "the assets take more than limits.disk ({disk} bytes), the size of the memfs they are seeded into"
            )));
        }
        Ok(())
    };
    let Some(source) = files.asset_file(rel) else {
        let bytes = files.read_asset(rel).map_err(read_error())?;
        fits(bytes.len() as u64)?;
        return scratch::write_private(&dest, &bytes).map_err(seed_error());
    };
    let mut from = std::fs::File::open(&source).map_err(read_error())?;
    fits(from.metadata().map_err(read_error())?.len())?;
    let mut to = scratch::create_private(&dest).map_err(seed_error())?;
    std::io::copy(&mut from, &mut to).map_err(seed_error())?;
    Ok(())
}

/// `--dir` mounts: need `--grant fs=...`, which says read or write.
fn add_dirs(mounts: &mut Vec<Mount>, overrides: &Overrides) -> Result<(), AppError> {
    if overrides.dirs.is_empty() || overrides.no_fs {
        return Ok(());
    }
    let access = match overrides.grant_fs {
        Some(a) if a != FsAccess::None => a,
        _ => {
            return Err(AppError::Grants(
                "--dir mounts a host directory: say how with --grant fs=read or --grant fs=write"
                    .into(),
            ));
        }
    };
    for (host, guest) in &overrides.dirs {
        let canon = host
            .canonicalize()
            .map_err(io(format!("cannot open --dir {}", host.display())))?;
        if !guest.starts_with('/') {
            return Err(AppError::Grants(format!(
                "--dir guest path `{guest}` must be absolute"
            )));
        }
        mounts.push(Mount {
            host: canon,
            guest: guest.clone(),
            writable: access == FsAccess::Write && !overrides.read_only,
            origin: "--dir".into(),
        });
    }
    Ok(())
}

fn tighter<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Adds the granted host variables (replacing fixed values of the same name) unless
/// `--no-env`; returns the names the host does not set.
fn add_host_env<'a>(
    env: &mut Vec<(String, String)>,
    names: impl IntoIterator<Item = &'a String>,
    no_env: bool,
) -> Vec<String> {
    let mut missing = Vec::new();
    if no_env {
        return missing;
    }
    for name in names {
        match std::env::var(name) {
            Ok(v) => {
                env.retain(|(k, _)| k != name);
                env.push((name.clone(), v));
            }
            Err(_) => missing.push(name.clone()),
        }
    }
    missing
}

/// Sets fixed values, replacing earlier ones of the same name.
fn set_fixed(env: &mut Vec<(String, String)>, fixed: &[(String, String)]) {
    for (k, v) in fixed {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), v.clone()));
    }
}

/// Refuses a manifest that grants what no host can honour, or asks for an app type `qyv
/// run` does not run, with the reasons (before anything is read or compiled).
pub fn refuse_unsupported(manifest: &Manifest) -> Result<(), AppError> {
    let mut refusals = manifest.unsupported_grants();
    match manifest.app_type {
        AppType::Gui if !manifest.permissions.gfx => {
            refusals.push("type: gui cannot be honoured: qyv has no graphics host yet".into())
        }
        _ => {}
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(AppError::Refused(refusals.join("\n")))
    }
}

/// A verified bundle's models and assets.
pub struct BundleFiles<'a> {
    pub bundle: &'a qyvpack::bundle::Bundle,
}

impl BundleFiles<'_> {
    fn below(&self, dir: &str) -> Vec<PathBuf> {
        self.bundle
            .files_below(dir)
            .into_iter()
            .map(|(p, _)| PathBuf::from(p))
            .collect()
    }

    fn read(&self, dir: &str, rel: &Path) -> std::io::Result<Vec<u8>> {
        let key = format!("{dir}{}", rel.to_string_lossy());
        self.bundle
            .files
            .get(&key)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, key))
    }
}

impl FileSource for BundleFiles<'_> {
    fn models(&self) -> Vec<PathBuf> {
        self.below(qyvpack::bundle::MODELS_DIR)
    }
    fn assets(&self) -> Vec<PathBuf> {
        self.below(qyvpack::bundle::ASSETS_DIR)
    }
    fn read_model(&self, rel: &Path) -> std::io::Result<Vec<u8>> {
        self.read(qyvpack::bundle::MODELS_DIR, rel)
    }
    fn read_asset(&self, rel: &Path) -> std::io::Result<Vec<u8>> {
        self.read(qyvpack::bundle::ASSETS_DIR, rel)
    }
}

/// A bundle's models and assets as its view in the store holds them: named by the signed
/// index, read from the view's files (checked before the view was opened).
pub struct StoredFiles<'a> {
    pub index: &'a qyvpack::bundle::Index,
    pub view: &'a crate::store::View,
}

impl StoredFiles<'_> {
    fn below(&self, dir: &str) -> Vec<PathBuf> {
        crate::store::stored_entries(self.index)
            .filter_map(|f| f.path.strip_prefix(dir).map(PathBuf::from))
            .collect()
    }

    fn read(&self, dir: &str, rel: &Path) -> std::io::Result<Vec<u8>> {
        let path = self.view.file(&format!("{dir}{}", rel.to_string_lossy()));
        let limit = qyvpack::bundle::ReadLimits::default().max_unpacked;
        qyvpack::bounded::read(&path, limit, "a stored file")
            .map_err(qyvpack::bounded::ReadError::into_io)
    }
}

impl FileSource for StoredFiles<'_> {
    fn models(&self) -> Vec<PathBuf> {
        self.below(qyvpack::bundle::MODELS_DIR)
    }
    fn assets(&self) -> Vec<PathBuf> {
        self.below(qyvpack::bundle::ASSETS_DIR)
    }
    fn read_model(&self, rel: &Path) -> std::io::Result<Vec<u8>> {
        self.read(qyvpack::bundle::MODELS_DIR, rel)
    }
    fn read_asset(&self, rel: &Path) -> std::io::Result<Vec<u8>> {
        self.read(qyvpack::bundle::ASSETS_DIR, rel)
    }
    fn models_dir(&self) -> Option<PathBuf> {
        Some(self.view.models_dir())
    }
    fn asset_file(&self, rel: &Path) -> Option<PathBuf> {
        Some(self.view.file(&format!(
            "{}{}",
            qyvpack::bundle::ASSETS_DIR,
            rel.to_string_lossy()
        )))
    }
}
