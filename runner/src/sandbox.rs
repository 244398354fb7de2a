//! Turns [`Grants`] into a WASI context, and owns the scratch directories a run needs.

use std::path::{Path, PathBuf};

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::grants::{Grants, NetRules};

/// The WASI version this host provides to components (wasmtime-wasi's WIT).
pub const HOST_WASI_VERSION: &str = "0.2.12";

/// A context builder carrying exactly what `grants` allows: the mounts with their
/// permissions, the granted environment, the network rules, argv, and the host's stdio.
pub fn wasi_builder(argv: &[String], grants: &Grants) -> anyhow::Result<WasiCtxBuilder> {
    let mut b = WasiCtxBuilder::new();
    b.inherit_stdio().args(argv);
    for (k, v) in &grants.env {
        b.env(k, v);
    }
    for m in &grants.mounts {
        let perms = if m.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        b.preopened_dir(&m.host, &m.guest, perms).map_err(|e| {
            anyhow::anyhow!("cannot mount {} at {}: {e}", m.host.display(), m.guest)
        })?;
    }
    let rules = grants.net.clone();
    b.allow_ip_name_lookup(rules.name_lookup());
    match rules {
        NetRules::Deny => {
            b.allow_tcp(false).allow_udp(false);
        }
        NetRules::Any => {
            b.allow_tcp(true).allow_udp(true).inherit_network();
        }
        rules @ NetRules::Allow { .. } => {
            // TCP and UDP are off by default in wasmtime-wasi; the address check decides.
            b.allow_tcp(true)
                .allow_udp(true)
                .socket_addr_check(move |addr, use_| {
                    // Connecting first binds the socket to an ephemeral local address
                    // (0.0.0.0:0); that is part of any outgoing connection.
                    let ephemeral = matches!(use_, SocketAddrUse::TcpBind | SocketAddrUse::UdpBind)
                        && addr.ip().is_unspecified()
                        && addr.port() == 0;
                    let ok = ephemeral || rules.allows(&addr);
                    Box::pin(async move { ok })
                });
        }
    }
    Ok(b)
}

/// A scratch directory for a memfs, on RAM-backed storage when the host has it
/// (`/dev/shm`), removed when dropped.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> std::io::Result<Scratch> {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::Builder::new()
                .prefix("qyv-memfs-")
                .tempdir_in(shm)
                .or_else(|_| tempfile::Builder::new().prefix("qyv-memfs-").tempdir())?
        } else {
            tempfile::Builder::new().prefix("qyv-memfs-").tempdir()?
        };
        Ok(Scratch { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies a file into the scratch directory at `rel` (a relative path already checked
    /// to stay inside).
    pub fn seed_file(&self, rel: &Path, contents: &[u8]) -> std::io::Result<PathBuf> {
        let dest = self.dir.path().join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&dest, contents)?;
        Ok(dest)
    }
}
