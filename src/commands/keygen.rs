//! `qyv keygen`: make a signing key pair.

use std::path::PathBuf;

use clap::Parser;
use qyvpack::keys::{self, KeyError};

use super::exit;

/// Make an Ed25519 key pair for signing bundles: NAME.key (PKCS#8 PEM, mode 0600) and
/// NAME.pub. Never overwrites an existing key.
///
/// For CI, store the private key base64-encoded in the QYV_SIGNING_KEY secret
/// (`base64 -w0 NAME.key`); `qyv pack` signs with it. Give NAME.pub to whoever runs your
/// bundles: `qyv trust add NAME.pub`.
#[derive(Parser)]
pub struct Opts {
    /// The key's name (file names NAME.key and NAME.pub).
    name: String,
    /// Where to write the files.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    if !qyvpack::manifest::valid_name(&opts.name) {
        eprintln!(
            "error: key name `{}`: use lowercase letters, digits and `-`",
            opts.name
        );
        return Ok(exit::USAGE);
    }
    match keys::write_pair(&opts.dir, &opts.name) {
        Ok((private, public, pk)) => {
            eprintln!("wrote {} (private, keep it secret)", private.display());
            eprintln!("wrote {} (public)", public.display());
            println!("{}", pk.fingerprint());
            Ok(exit::OK)
        }
        Err(e @ KeyError::Exists(_)) => {
            eprintln!("error: {e}");
            Ok(exit::USAGE)
        }
        Err(e) => Err(e.into()),
    }
}
