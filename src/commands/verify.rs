//! `qyv verify`: check a bundle's structure, digests and signature.

use std::path::PathBuf;

use clap::Parser;
use qyvpack::bundle::ReadLimits;
use qyvpack::keys::{self, KeyError, PublicKey, Signer};

use super::exit;

/// Verify a .qyvbin: its structure, every file's digest, and its signature, and say who
/// signed it (the key's fingerprint) and whether that key is trusted.
///
/// Exit codes: 0 intact and signed by a trusted key (or by --key); 1 damaged, altered or
/// hostile (a forged signature, a weak --key); 2 unreadable; 3 intact but unsigned, signed
/// by an untrusted key, or not by --key.
#[derive(Parser)]
pub struct Opts {
    /// The bundle.
    file: PathBuf,
    /// Accept only this signer (a .pub file) instead of the trust store.
    #[arg(long, value_name = "PUB")]
    key: Option<PathBuf>,
    /// Print a JSON object {file, valid, signer, fingerprint, trusted, error}.
    #[arg(long)]
    json: bool,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let expected = match opts.key.as_deref().map(PublicKey::load).transpose() {
        Ok(k) => k,
        // A weak key is hostile input, as a forged bundle is.
        Err(e @ KeyError::Refused { .. }) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
        Err(e) => return Err(e.into()),
    };
    let limits = ReadLimits::from_env()?;
    let bytes = match qyvpack::bundle::read_file(&opts.file, &limits) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let name = opts.file.display().to_string();
    let bundle = match qyvpack::bundle::read(&bytes, limits) {
        Ok(b) => b,
        Err(e) => {
            if opts.json {
                let v = serde_json::json!({"file": name, "valid": false, "error": e.to_string()});
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                eprintln!("error: {name}: {e}");
            }
            return Ok(exit::INVALID);
        }
    };
    let signer = Signer::judge(bundle.signer, expected.as_ref());
    let (code, line) = match &signer {
        Signer::Trusted(k) => (
            exit::OK,
            format!("OK {name}: signed by {} ({})", k.fingerprint(), k.name),
        ),
        Signer::Expected(k) => (
            exit::OK,
            format!("OK {name}: signed by {} (the given key)", k.fingerprint()),
        ),
        Signer::Untrusted(fp) => (
            exit::NOT_TRUSTED,
            format!(
                "{name} is intact, but its signer {fp} is not trusted (`qyv trust add KEY.pub`)"
            ),
        ),
        Signer::NotExpected(fp) => (
            exit::NOT_TRUSTED,
            format!("{name} is intact, but signed by {fp}, not by the given key"),
        ),
        Signer::Unsigned => (exit::NOT_TRUSTED, format!("{name} is intact, but UNSIGNED")),
    };
    if matches!(signer, Signer::Untrusted(_)) {
        super::failure::note(Some(super::failure::Failure::Untrusted));
    }
    if opts.json {
        let fp = bundle.signer.map(|k| keys::fingerprint(&k));
        let v = serde_json::json!({
            "file": name,
            "valid": true,
            "fingerprint": fp,
            "trusted": code == exit::OK,
            "signer": signer.describe(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if code == exit::OK {
        println!("{line}");
    } else {
        eprintln!("{line}");
    }
    Ok(code)
}
