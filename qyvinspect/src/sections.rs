//! Section sizes, custom sections, the producers section, and the language they suggest.

use std::collections::BTreeMap;

use wasmparser::{KnownCustom, Payload};

use super::report::{LanguageGuess, SectionSize, Tool};

/// What the sections of one module or component say.
#[derive(Debug, Default)]
pub struct SectionStats {
    /// Section kind → bytes.
    pub sizes: BTreeMap<&'static str, u64>,
    pub custom: Vec<SectionSize>,
    pub producers: BTreeMap<String, Vec<Tool>>,
    pub adapter: Option<String>,
    /// A language betrayed by the data section when producers were stripped (e.g. Rust's
    /// panic locations under `/rustc/`).
    pub data_marker: Option<(&'static str, &'static str)>,
}

impl SectionStats {
    /// Records a payload of a core module.
    pub fn record_core(&mut self, payload: &Payload) {
        if let Some((id, range)) = payload.as_section() {
            let name = match id {
                0 => "custom",
                1 => "type",
                2 => "import",
                3 => "function",
                4 => "table",
                5 => "memory",
                6 => "global",
                7 => "export",
                8 => "start",
                9 => "element",
                10 => "code",
                11 => "data",
                12 => "data-count",
                13 => "tag",
                _ => "other",
            };
            *self.sizes.entry(name).or_default() += (range.end - range.start) as u64;
        }
        self.record_custom(payload);
    }

    /// Records a payload of a component (its own sections, not nested modules' contents).
    pub fn record_component(&mut self, payload: &Payload) {
        let name = match payload {
            Payload::ModuleSection {
                unchecked_range, ..
            } => Some(("core modules", unchecked_range.len())),
            Payload::ComponentSection {
                unchecked_range, ..
            } => Some(("nested components", unchecked_range.len())),
            Payload::CustomSection(c) => Some(("custom", c.range().len())),
            other => other
                .as_section()
                .map(|(_, range)| ("component metadata", range.len())),
        };
        if let Some((name, len)) = name {
            *self.sizes.entry(name).or_default() += len as u64;
        }
        self.record_custom(payload);
    }

    fn record_custom(&mut self, payload: &Payload) {
        let Payload::CustomSection(c) = payload else {
            return;
        };
        self.custom.push(SectionSize {
            name: c.name().to_string(),
            size: c.data().len() as u64,
        });
        match c.as_known() {
            KnownCustom::Producers(reader) => {
                for field in reader.into_iter().flatten() {
                    let tools = self.producers.entry(field.name.to_string()).or_default();
                    for value in field.values.into_iter().flatten() {
                        let tool = Tool {
                            name: value.name.to_string(),
                            version: value.version.to_string(),
                        };
                        if !tools.contains(&tool) {
                            tools.push(tool);
                        }
                    }
                }
            }
            _ if c.name() == qyvpack::versions::ADAPTER_SECTION => {
                self.adapter = Some(String::from_utf8_lossy(c.data()).into_owned());
            }
            _ => {}
        }
    }

    /// Sizes as a list, largest first.
    pub fn size_list(&self) -> Vec<SectionSize> {
        let mut list: Vec<SectionSize> = self
            .sizes
            .iter()
            .map(|(name, size)| SectionSize {
                name: name.to_string(),
                size: *size,
            })
            .collect();
        list.sort_by(|a, b| b.size.cmp(&a.size).then(a.name.cmp(&b.name)));
        list
    }

    /// The source language these sections suggest.
    pub fn language(&self) -> Option<LanguageGuess> {
        let tools = |field: &str| self.producers.get(field).cloned().unwrap_or_default();
        let guess = |language: &str, evidence: String| {
            Some(LanguageGuess {
                language: language.into(),
                evidence,
            })
        };
        let has_custom = |name: &str| self.custom.iter().any(|c| c.name == name);
        for t in tools("processed-by").iter().chain(tools("sdk").iter()) {
            let n = t.name.to_ascii_lowercase();
            let ev = format!("producers: processed-by {} {}", t.name, t.version);
            if n.contains("componentize-py") {
                return guess("Python", ev);
            }
            if n.contains("componentizejs")
                || n.contains("componentize-js")
                || n.contains("starlingmonkey")
            {
                return guess("JavaScript", ev);
            }
            if n.contains("kotlin") {
                return guess("Kotlin", ev);
            }
            if n.contains("tinygo") {
                return guess("Go", ev);
            }
            if n.contains("assemblyscript") {
                return guess("AssemblyScript", ev);
            }
        }
        if has_custom("go:buildid") || has_custom("go.buildid") {
            return guess("Go", "custom section go:buildid".into());
        }
        // C is usually the libc linked in: another language listed beside it wins.
        let languages = tools("language");
        let main_language = languages
            .iter()
            .find(|t| !t.name.starts_with('C'))
            .or_else(|| languages.first());
        if let Some(t) = main_language {
            let ev = format!("producers: language {}", t.name);
            let lang = match t.name.as_str() {
                "Rust" => "Rust",
                "C++" | "C++11" | "C++14" | "C++17" | "C++20" => "C++",
                n if n.starts_with("C") => "C",
                n if n.to_ascii_lowercase().contains("zig") => "Zig",
                other => other,
            };
            return guess(lang, ev);
        }
        for t in tools("processed-by") {
            let ev = format!("producers: processed-by {} {}", t.name, t.version);
            match t.name.as_str() {
                "rustc" => return guess("Rust", ev),
                "clang" => {
                    return guess(
                        "C or C++ (or a language compiled through C, such as Nim)",
                        ev,
                    );
                }
                n if n.to_ascii_lowercase().starts_with("zig") => return guess("Zig", ev),
                _ => {}
            }
        }
        if let Some((language, evidence)) = self.data_marker {
            return guess(language, evidence.into());
        }
        None
    }
}
