//! Opening what `qyv run` is given into a runnable app: a `.qyvbin` ([`open_bundle`]), a
//! project's manifest ([`open_manifest`]) or a bare `.wasm` ([`open_wasm`]). For a bundle the
//! signature and the signer come first (an untrusted bundle is refused before its archive is
//! read), then the archive, verified in full unless this very file was before (see
//! [`crate::verified`]), then the manifest and the app. `qyv run` calls these; so will `pull`
//! and the shell.

use std::path::{Path, PathBuf};

use qyvpack::bundle::{self, BundleError, LimitError, ReadLimits};
use qyvpack::keys::{Signer, TrustError, TrustPolicy};
use qyvpack::manifest::{self, ManifestError};

use qyvpack::digest::content_digest;

use crate::app::{
    self, AppError, BundleFiles, Invocation, Prepared, ProjectFiles, StoredFiles, Wasm,
};
use crate::store::{CacheMaxError, Store, View};
use crate::verified::Verified;
use crate::wasm::WasmBytes;

/// What a path given to `qyv run` is, judged by its bytes and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file starting with the bundle magic.
    Bundle,
    /// A `.wasm` file.
    Wasm,
    /// A manifest, or the manifest found in a project directory.
    Manifest(PathBuf),
}

impl Input {
    /// Classifies `path`. A directory is a project: its manifest must be there.
    pub fn of(path: &Path) -> Result<Input, ManifestError> {
        if path.is_file() && starts_like_bundle(path) {
            Ok(Input::Bundle)
        } else if path.is_file() && path.extension().is_some_and(|e| e == "wasm") {
            Ok(Input::Wasm)
        } else if path.is_dir() {
            manifest::find_in_dir(path).map(Input::Manifest)
        } else {
            Ok(Input::Manifest(path.to_path_buf()))
        }
    }
}

fn starts_like_bundle(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && bundle::is_bundle(&head)
}

/// An app opened and ready to run.
pub struct Opened {
    pub prepared: Prepared,
    /// The file that runs: the bundle, the manifest's entrypoint, the `.wasm`.
    pub file: PathBuf,
    /// Who signed it, as the trust policy accepted it (bundles only).
    pub signer: Option<Signer>,
    /// The manifest's `language:`.
    pub language: Option<String>,
    /// How it is served when it is an HTTP app.
    pub serving: Serving,
}

/// What a manifest says about serving the app.
#[derive(Debug, Clone, Default)]
pub struct Serving {
    /// `type: http` (a bare `.wasm` has no manifest: what it exports decides).
    pub http: bool,
    /// `http.listen`.
    pub listen: Option<std::net::SocketAddr>,
    /// `services:`, each inside the project (a project's manifest only).
    pub services: Vec<PathBuf>,
    /// `services:` a bundle lists: their paths were the project's, so they are not opened; the
    /// caller says to give them on the command line.
    pub unresolved: Vec<String>,
}

impl Serving {
    fn of(m: &manifest::Manifest) -> Serving {
        Serving {
            http: m.app_type == manifest::AppType::Http,
            listen: m.http.as_ref().and_then(|h| h.listen),
            ..Serving::default()
        }
    }
}

/// Why a bundle was not opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A `services:` entry that leads nowhere inside the project.
    #[error("{}: services: `{service}`: {source}", manifest.display())]
    Service {
        manifest: PathBuf,
        service: String,
        #[source]
        source: Box<qyvpack::project::PathError>,
    },
    /// `QYV_MAX_UNPACKED` is not a size.
    #[error(transparent)]
    Limits(#[from] LimitError),
    /// `QYV_CACHE_MAX` is not a size.
    #[error(transparent)]
    CacheMax(#[from] CacheMaxError),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: qyvpack::bounded::ReadError,
    },
    /// Damaged, altered or hostile: it failed verification.
    #[error("{} refused: {source}", path.display())]
    Refused {
        path: PathBuf,
        #[source]
        source: BundleError,
    },
    /// Intact, but its signer is not accepted.
    #[error("{} refused: {source}", path.display())]
    Trust {
        path: PathBuf,
        #[source]
        source: TrustError,
    },
    /// Its manifest is invalid (shown as `BUNDLE!manifest.qyv`).
    #[error("{}:\n\n{source}", shown.display())]
    Manifest {
        shown: PathBuf,
        #[source]
        source: ManifestError,
    },
    /// The manifest's entrypoint cannot be read (not built yet, or leaving the project).
    #[error(
        "cannot read the entrypoint {} of {}: {source} (build it with `qyv build {}`)",
        entry.display(),
        manifest.display(),
        dir.display()
    )]
    Entrypoint {
        entry: PathBuf,
        manifest: PathBuf,
        dir: PathBuf,
        #[source]
        source: Box<EntrypointError>,
    },
    #[error("{}: {source}", path.display())]
    App {
        path: PathBuf,
        #[source]
        source: AppError,
    },
}

/// Opens the bundle at `path` under `policy`. With `inv.cache`, a bundle verified in full
/// before is taken from its record and its models and assets from the store: only its
/// header and index frame are read.
pub fn open_bundle(
    path: &Path,
    policy: &TrustPolicy,
    inv: &Invocation,
) -> Result<Opened, OpenError> {
    let limits = ReadLimits::from_env()?;
    let read_error = |source| OpenError::Read {
        path: path.to_path_buf(),
        source: qyvpack::bounded::ReadError::Io {
            path: path.to_path_buf(),
            source,
        },
    };
    let refused = |source| OpenError::Refused {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let file_len = file.metadata().map_err(read_error)?.len();
    let signed = bundle::read_index_from(&file, file_len, limits).map_err(refused)?;
    drop(file);
    let signer = policy
        .admit(signed.signer)
        .map_err(|source| OpenError::Trust {
            path: path.to_path_buf(),
            source,
        })?;
    let cache_max = if inv.cache {
        Some(crate::store::cache_max()?)
    } else {
        None
    };
    let verified = inv.cache.then(Verified::new).flatten();
    let store = inv.cache.then(Store::new).flatten();
    let key = content_digest(&signed.index_bytes);
    let has_files = crate::store::stored_entries(&signed.index).next().is_some();
    let recalled = verified
        .as_ref()
        .and_then(|v| v.recall(path, usize::try_from(file_len).ok()?, &signed));
    // Models and assets come from the bundle's view in the store, or nowhere warm.
    let recalled = match recalled {
        Some(r) if has_files => store
            .as_ref()
            .and_then(|s| s.open(&key, &signed.index))
            .map(|view| (r, Some(view))),
        r => r.map(|r| (r, None)),
    };
    let mut recalled_component = None;
    let (mut bundle, view) = match recalled {
        Some((r, view)) => {
            recalled_component = Some(r.component);
            (
                bundle::Bundle::recalled(signed, r.manifest, Vec::new(), file_len),
                view,
            )
        }
        None => verify_in_full(
            path,
            signed,
            limits,
            verified.as_ref(),
            store.as_ref(),
            cache_max,
        )?,
    };
    let shown = PathBuf::from(format!("{}!{}", path.display(), bundle::MANIFEST_PATH));
    let manifest_error = |source| OpenError::Manifest {
        shown: shown.clone(),
        source,
    };
    let text =
        manifest::text_of(bundle.manifest_text().to_vec(), &shown).map_err(manifest_error)?;
    let m = manifest::parse(&text, &shown).map_err(manifest_error)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let digest = bundle
        .entry(&bundle.index.component)
        .map(|e| e.blake3.clone());
    // Moved out, not copied: the bundle keeps only its models and assets.
    let verified_now = bundle.files.remove(&bundle.index.component);
    let wasm = Wasm {
        bytes: recalled_component.unwrap_or_else(|| verified_now.unwrap_or_default().into()),
        digest,
    };
    let app_error = |source| OpenError::App {
        path: shown.clone(),
        source,
    };
    let prepared = match &view {
        Some(view) => {
            let files = StoredFiles {
                index: &bundle.index,
                view,
            };
            app::prepare(&m, &dir, wasm, &files, inv).map_err(app_error)?
        }
        None => {
            let files = BundleFiles { bundle: &bundle };
            app::prepare(&m, &dir, wasm, &files, inv).map_err(app_error)?
        }
    };
    Ok(Opened {
        prepared: prepared.holding(view),
        file: path.to_path_buf(),
        signer: Some(signer),
        language: m.language.clone(),
        serving: Serving {
            unresolved: m.services.clone(),
            ..Serving::of(&m)
        },
    })
}

/// Verifies a bundle whose record or stored files could not be used: the whole file read
/// within its budget, every digest checked; then its models and assets are placed in the store
/// (which is brought under `cache_max`), and the verification recorded once they are.
fn verify_in_full(
    path: &Path,
    signed: bundle::SignedIndex,
    limits: ReadLimits,
    verified: Option<&Verified>,
    store: Option<&Store>,
    cache_max: Option<u64>,
) -> Result<(bundle::Bundle, Option<View>), OpenError> {
    let bytes = bundle::read_file(path, &limits).map_err(|source| OpenError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let key = content_digest(&signed.index_bytes);
    let index_bytes = signed.index_bytes.clone();
    let mut bundle =
        bundle::read_archive_of(&bytes, signed, limits).map_err(|source| OpenError::Refused {
            path: path.to_path_buf(),
            source,
        })?;
    drop(bytes);
    let has_files = crate::store::stored_entries(&bundle.index).next().is_some();
    let view = match store {
        Some(store) if has_files => {
            let view = store.place(&key, &bundle.index, &bundle.files).ok();
            if let Some(cap) = cache_max {
                store.evict(cap);
            }
            view
        }
        _ => None,
    };
    if let Some(v) = verified
        && (view.is_some() || !has_files)
    {
        v.remember(path, &index_bytes, &bundle);
    }
    if view.is_some() {
        // Their bytes are in the store now; the run reads them there.
        let (manifest, component) = (&bundle.index.manifest, &bundle.index.component);
        bundle.files.retain(|p, _| p == manifest || p == component);
    }
    Ok((bundle, view))
}

/// Opens the app a manifest describes, its entrypoint read from inside the project. Grants no
/// host can honour are refused before the entrypoint is looked for (and again by
/// [`app::prepare`], which guards every caller).
pub fn open_manifest(manifest_path: &Path, inv: &Invocation) -> Result<Opened, OpenError> {
    let invalid = |source| OpenError::Manifest {
        shown: manifest_path.to_path_buf(),
        source,
    };
    let loaded = manifest::load(manifest_path).map_err(invalid)?;
    let m = &loaded.manifest;
    let app_error = |source| OpenError::App {
        path: manifest_path.to_path_buf(),
        source,
    };
    app::refuse_unsupported(m).map_err(app_error)?;
    let entry = m.entrypoint_path(&loaded.dir);
    let bytes = read_entrypoint(&loaded).map_err(|source| OpenError::Entrypoint {
        entry: entry.clone(),
        manifest: manifest_path.to_path_buf(),
        dir: loaded.dir.clone(),
        source: Box::new(source),
    })?;
    let files = ProjectFiles::new(&loaded.dir, m).map_err(app_error)?;
    let digest = inv.cache.then(|| crate::cache::file_digest(&entry, &bytes));
    let wasm = Wasm { bytes, digest };
    let prepared = app::prepare(m, &loaded.dir, wasm, &files, inv).map_err(app_error)?;
    let services = m
        .services
        .iter()
        .map(|rel| {
            qyvpack::project::resolve(&loaded.dir, Path::new(rel)).map_err(|source| {
                OpenError::Service {
                    manifest: manifest_path.to_path_buf(),
                    service: rel.clone(),
                    source: Box::new(source),
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Opened {
        prepared,
        file: entry,
        signer: None,
        language: m.language.clone(),
        serving: Serving {
            services,
            ..Serving::of(m)
        },
    })
}

/// Why an entrypoint could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EntrypointError {
    #[error(transparent)]
    Path(#[from] qyvpack::project::PathError),
    #[error(transparent)]
    Read(#[from] qyvpack::bounded::ReadError),
}

/// The entrypoint's bytes, opened inside the project (no link may lead out of it), mapped or
/// read within the wasm budget.
fn read_entrypoint(loaded: &manifest::Loaded) -> Result<WasmBytes, EntrypointError> {
    let rel = Path::new(&loaded.manifest.entrypoint);
    let (path, file) = qyvpack::project::open(&loaded.dir, rel)?;
    Ok(WasmBytes::open(file, &path)?)
}

/// Opens a bare `.wasm` (or `.component.wasm`): it gets nothing but what `inv` grants.
pub fn open_wasm(path: &Path, inv: &Invocation) -> Result<Opened, OpenError> {
    let read_error = |source| OpenError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|source| {
        read_error(qyvpack::bounded::ReadError::Io {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let bytes = WasmBytes::open(file, path).map_err(read_error)?;
    let name = path
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .trim_end_matches(".component")
                .to_string()
        })
        .unwrap_or_else(|| "app".into());
    let digest = inv.cache.then(|| crate::cache::file_digest(path, &bytes));
    let prepared =
        app::prepare_bare(&name, Wasm { bytes, digest }, inv).map_err(|source| OpenError::App {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(Opened {
        prepared,
        file: path.to_path_buf(),
        signer: None,
        language: None,
        serving: Serving::default(),
    })
}
