//! `qyv trust`: the keys whose bundles `qyv run` accepts.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use qyvpack::keys::{KeyError, PublicKey, TrustStore};

use super::exit;

/// Manage trusted signers ($XDG_CONFIG_HOME/qyv/trusted, or $QYV_CONFIG_DIR/trusted):
/// `qyv run` runs a bundle only when a trusted key signed it.
#[derive(Parser)]
pub struct Opts {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Trust a public key file (from `qyv keygen`).
    Add { key: PathBuf },
    /// List trusted keys: fingerprint and name.
    List,
    /// Stop trusting a key, by fingerprint or name.
    Remove { which: String },
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let store = TrustStore::default_location()
        .ok_or_else(|| anyhow::anyhow!("no config directory: set XDG_CONFIG_HOME or HOME"))?;
    match opts.action {
        Action::Add { key } => {
            let pk = match PublicKey::load(&key) {
                Ok(pk) => pk,
                Err(e @ KeyError::Refused { .. }) => {
                    eprintln!("error: {e}");
                    return Ok(exit::INVALID);
                }
                Err(e) => return Err(e.into()),
            };
            if store.add(&pk)? {
                eprintln!("trusted {} ({})", pk.fingerprint(), pk.name);
            } else {
                eprintln!("{} ({}) was already trusted", pk.fingerprint(), pk.name);
            }
        }
        Action::List => {
            for k in store.list() {
                println!("{}  {}", k.fingerprint(), k.name);
            }
        }
        Action::Remove { which } => {
            let removed = store.remove(&which)?;
            if removed.is_empty() {
                eprintln!("error: no trusted key has the fingerprint or name `{which}`");
                return Ok(exit::INVALID);
            }
            for k in removed {
                eprintln!("removed {} ({})", k.fingerprint(), k.name);
            }
        }
    }
    Ok(exit::OK)
}
