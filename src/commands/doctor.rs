//! `qyv doctor`: which language toolchains are ready, and how to install what is missing.

use clap::Parser;
use qyvbuild::toolchains;

use super::exit;

/// Check which language toolchains are installed.
///
/// For each language: found or missing, the compiler's version, and the exact command that
/// installs what is missing. Exits 0 when every toolchain is ready, 1 otherwise.
#[derive(Parser)]
pub struct Opts {
    /// Print a JSON array of {language, version, ready, missing: [{what, install}]}.
    #[arg(long)]
    json: bool,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let statuses: Vec<_> = toolchains().iter().map(|t| t.status()).collect();
    if opts.json {
        let rows: Vec<_> = statuses
            .iter()
            .map(|s| {
                serde_json::json!({
                    "language": s.driver,
                    "version": s.version,
                    "ready": s.ready(),
                    "missing": s.missing,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for s in &statuses {
            let state = if s.ready() { "ok" } else { "missing" };
            println!(
                "{:<14} {:<8} {}",
                s.driver.id(),
                state,
                s.version.as_deref().unwrap_or("not found")
            );
            for m in &s.missing {
                println!("{:<14}          {} — install: {}", "", m.what, m.install);
            }
        }
    }
    Ok(if statuses.iter().all(|s| s.ready()) {
        exit::OK
    } else {
        exit::INVALID
    })
}
