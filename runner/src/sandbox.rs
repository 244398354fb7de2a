//! Turns [`Grants`] into a WASI context.

use std::path::PathBuf;

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::grants::{Grants, NetRules};

/// The WASI version this host provides to components (wasmtime-wasi's WIT).
pub use qyvpack::versions::WASI as HOST_WASI_VERSION;

/// Why the granted context could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A granted directory could not be opened.
    #[error("cannot mount {} at {guest}: {source}", host.display())]
    Mount {
        host: PathBuf,
        guest: String,
        source: wasmtime::Error,
    },
}

/// A context builder carrying exactly what `grants` allows: the mounts with their
/// permissions, the granted environment, the network rules, argv, and the host's stdio.
pub fn wasi_builder(argv: &[String], grants: &Grants) -> Result<WasiCtxBuilder, SandboxError> {
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
        b.preopened_dir(&m.host, &m.guest, perms)
            .map_err(|source| SandboxError::Mount {
                host: m.host.clone(),
                guest: m.guest.clone(),
                source,
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
