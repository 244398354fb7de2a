//! `qyv new`: scaffold a project from a template.

use std::path::PathBuf;

use anyhow::bail;
use clap::Parser;
use qyvbuild::template;

use super::exit;

/// Create a new project from a template.
///
/// `qyv new --lang rust demo` writes `demo/` with the sources and a `demo.qyv` manifest that
/// builds with `qyv build demo` and runs with `qyv run demo`. Without `--lang` it lists the
/// templates.
#[derive(Parser)]
pub struct Opts {
    /// The project's directory; its last component is the app's name.
    name: Option<PathBuf>,
    /// The template's language.
    #[arg(short, long)]
    lang: Option<String>,
    /// Another template of that language than its hello world: `nn` (Rust), a digit
    /// classified by an ONNX model through wasi-nn; `http` (Rust, Python, JavaScript), an
    /// HTTP handler for wasi:http/proxy (`type: http`).
    #[arg(short, long, requires = "lang")]
    template: Option<String>,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let Some(lang) = opts.lang else {
        println!("templates (use `qyv new --lang LANG NAME`):");
        for t in template::TEMPLATES {
            println!("  {:<12} {}", t.language, t.description);
        }
        for (name, t) in template::VARIANTS {
            let shown = format!("{} --template {name}", t.language);
            println!("  {shown:<12} {}", t.description);
        }
        return Ok(exit::OK);
    };
    let Some(dest) = opts.name else {
        bail!("missing the project's name: qyv new --lang {lang} NAME");
    };
    let found = match &opts.template {
        Some(name) => template::find_variant(&lang, name),
        None => template::find(&lang),
    };
    let template = match found {
        Ok(t) => t,
        Err(err) => bail!(err),
    };
    match template::scaffold(template, &dest) {
        Ok(files) => {
            eprintln!(
                "created {} ({} files) from the {} template; next: qyv build {} && qyv run {}",
                dest.display(),
                files.len(),
                template.language,
                dest.display(),
                dest.display()
            );
            Ok(exit::OK)
        }
        Err(err) => bail!(err),
    }
}
