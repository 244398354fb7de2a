//! One build driver per language or build system, each behind [`Toolchain`]. A new language is
//! one file here, one line in [`toolchains`], and its `Driver` variant.

pub mod assemblyscript;
pub mod autotools;
pub mod c;
pub mod command;
pub mod go;
pub mod javascript;
pub mod julia;
pub mod kotlin;
pub mod make;
pub mod nim;
pub mod python;
pub mod rust;
pub mod zig;

use crate::toolchain::Toolchain;

/// Every toolchain qyv knows, in detection order.
pub fn toolchains() -> Vec<Box<dyn Toolchain>> {
    vec![
        Box::new(rust::Rust),
        Box::new(go::Go),
        Box::new(python::Python),
        Box::new(zig::Zig),
        Box::new(nim::Nim),
        Box::new(assemblyscript::AssemblyScript),
        Box::new(javascript::JavaScript),
        Box::new(kotlin::Kotlin),
        Box::new(make::CMake),
        Box::new(autotools::Autotools),
        Box::new(make::Make),
        Box::new(c::C),
        Box::new(julia::Julia),
    ]
}

/// The toolchains for a manifest's `language:` (`rust`, ...), in detection order: for `c`,
/// CMake, Autotools, Make, then plain C sources.
pub fn toolchains_for(language: &str) -> Vec<Box<dyn Toolchain>> {
    let language = language.to_ascii_lowercase();
    toolchains()
        .into_iter()
        .filter(|t| t.driver().language() == language)
        .collect()
}

/// A driver is registered in several places that nothing else ties together: its variant and
/// file here, the manifest's `language:` list, its `qyv new` template and the example that must
/// equal it. These tests fail when one of them is missing.
#[cfg(test)]
mod tests {
    use std::path::Path;

    use qyvpack::manifest::LANGUAGES;

    use super::*;
    use crate::template::TEMPLATES;

    #[test]
    fn every_manifest_language_has_a_driver_and_every_driver_a_manifest_language() {
        let drivers: Vec<&str> = toolchains().iter().map(|t| t.driver().language()).collect();
        for language in LANGUAGES {
            assert!(
                drivers.contains(language),
                "`language: {language}` has no driver"
            );
        }
        for language in &drivers {
            assert!(
                LANGUAGES.contains(language),
                "the {language} driver is not a manifest language (qyvpack LANGUAGES)"
            );
        }
    }

    #[test]
    fn every_template_has_a_driver_and_its_example() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        for template in TEMPLATES {
            assert!(
                !toolchains_for(template.language).is_empty(),
                "template {} has no driver",
                template.language
            );
            let example = examples.join(format!("hello-{}", template.language));
            assert!(example.is_dir(), "{} is missing", example.display());
        }
        // `qyv new --lang L --template http` writes `examples/http-L` (tests/http_templates.rs
        // checks that they are equal).
        for (variant, template) in crate::template::VARIANTS {
            if *variant == "http" {
                let example = examples.join(format!("http-{}", template.language));
                assert!(example.is_dir(), "{} is missing", example.display());
            }
        }
        for entry in std::fs::read_dir(&examples).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if let Some(language) = name.strip_prefix("http-") {
                assert!(
                    crate::template::find_variant(language, "http").is_ok(),
                    "examples/{name} has no template"
                );
            }
            if let Some(language) = name.strip_prefix("hello-") {
                assert!(
                    TEMPLATES.iter().any(|t| t.language == language),
                    "examples/{name} has no template"
                );
            }
        }
    }
}
