//! `qyv doctor`: which language toolchains are ready, and how to install what is missing.

use clap::Parser;
use qyvbuild::toolchains;

use super::exit;

/// Check which language toolchains are installed.
///
/// For each language: found or missing, the compiler's version, which installation a build
/// uses and why (the user's own, or qyv's pinned one), and the exact command that installs
/// what is missing. Exits 0 when every toolchain is ready, 1 otherwise.
#[derive(Parser)]
pub struct Opts {
    /// Print a JSON array of {language, version, uses, ready, missing: [{what, install}]}.
    #[arg(long)]
    json: bool,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let chains = toolchains();
    let statuses: Vec<_> = chains.iter().map(|t| t.status()).collect();
    let chosen: Vec<Option<String>> = chains.iter().map(|t| t.chosen()).collect();
    if opts.json {
        let rows: Vec<_> = statuses
            .iter()
            .zip(&chosen)
            .map(|(s, uses)| {
                serde_json::json!({
                    "language": s.driver,
                    "version": s.version,
                    "uses": uses,
                    "ready": s.ready(),
                    "missing": s.missing,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for (s, uses) in statuses.iter().zip(&chosen) {
            let state = if s.ready() { "ok" } else { "missing" };
            println!(
                "{:<14} {:<8} {}",
                s.driver.id(),
                state,
                s.version.as_deref().unwrap_or("not found")
            );
            if let Some(uses) = uses {
                println!("{:<14}          uses {uses}", "");
            }
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
