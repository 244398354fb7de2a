//! The human form of a report: short sections, colour only when asked.

use std::fmt::Write;

use qyvpack::manifest::units::human_size;

use super::report::*;

struct Style {
    color: bool,
}

impl Style {
    fn head(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn dim(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[2m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bad(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[31m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Renders a report for a terminal; `name` is the file's name as the user gave it.
pub fn render_human(name: &str, report: &Report, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    let kind = match report.kind {
        Kind::CoreModule => "core module",
        Kind::Component => "component",
    };
    let validity = if report.validation.valid {
        "valid".to_string()
    } else {
        st.bad(&format!(
            "INVALID: {}{}",
            report.validation.error.as_deref().unwrap_or("?"),
            report
                .validation
                .offset
                .map(|o| format!(" (at byte offset {o})"))
                .unwrap_or_default()
        ))
    };
    let _ = writeln!(
        out,
        "{}: {kind}, {}, {validity}",
        st.head(name),
        human_size(report.size)
    );
    let row = |out: &mut String, label: &str, value: &str| {
        let _ = writeln!(out, "  {:<13}{value}", label);
    };
    match &report.language {
        Some(l) => row(
            &mut out,
            "language",
            &format!("{} {}", l.language, st.dim(&format!("({})", l.evidence))),
        ),
        None => row(
            &mut out,
            "language",
            "unknown (no producers section or known marker)",
        ),
    }
    for (field, tools) in &report.producers {
        let list: Vec<String> = tools
            .iter()
            .map(|t| {
                if t.version.is_empty() {
                    t.name.clone()
                } else {
                    format!("{} {}", t.name, t.version)
                }
            })
            .collect();
        row(&mut out, field, &list.join(", "));
    }
    if let Some(adapter) = &report.adapter {
        row(&mut out, "adapter", adapter);
    }
    if let Some(c) = &report.component {
        row(&mut out, "world", &format!("{} (fits {})", c.world, c.fits));
        world_items(&mut out, &st, "imports", &c.imports);
        world_items(&mut out, &st, "exports", &c.exports);
        let _ = writeln!(
            out,
            "{}",
            st.head(&format!("core modules ({})", c.modules.len()))
        );
        for m in &c.modules {
            let lang = m
                .language
                .as_ref()
                .map(|l| l.language.as_str())
                .unwrap_or("unknown language");
            let _ = writeln!(
                out,
                "  #{:<3}{:>10}  {lang}, {} imports, {} exports{}",
                m.index,
                human_size(m.size),
                m.imports,
                m.exports,
                if m.proposals.is_empty() {
                    String::new()
                } else {
                    format!(", uses {}", m.proposals.join(", "))
                }
            );
        }
    }
    if let Some(m) = &report.module {
        let wasi = match (m.wasi.shape.as_str(), &m.wasi.adapter_needed) {
            ("command", _) => "preview1 command (exports _start): needs the command adapter".to_string(),
            ("reactor", Some(_)) => "preview1 reactor (exports _initialize or only functions): needs the reactor adapter".to_string(),
            ("reactor", None) => "exports _initialize without preview1 imports: needs no adapter".to_string(),
            (_, Some(a)) => format!("imports preview1 without an entry point: would need the {a} adapter"),
            _ => "no WASI preview1 imports and no _start/_initialize: no adapter applies".to_string(),
        };
        row(&mut out, "wasi", &wasi);
        let _ = writeln!(
            out,
            "{}",
            st.head(&format!("imports ({})", m.imports.len()))
        );
        for i in &m.imports {
            let _ = writeln!(
                out,
                "  {}::{}  {} {}",
                i.module,
                i.name,
                i.kind,
                st.dim(&i.ty)
            );
        }
        let _ = writeln!(
            out,
            "{}",
            st.head(&format!("exports ({})", m.exports.len()))
        );
        for e in &m.exports {
            let _ = writeln!(out, "  {}  {}", e.name, st.dim(&e.kind));
        }
        let _ = writeln!(out, "{}", st.head("layout"));
        row(&mut out, "functions", &format!("{} defined", m.functions));
        for (i, mem) in m.memories.iter().enumerate() {
            let max = mem
                .maximum
                .map(|x| format!("max {x}"))
                .unwrap_or_else(|| "no max".into());
            let flags = [
                mem.imported.then_some("imported"),
                mem.shared.then_some("shared"),
                mem.memory64.then_some("64-bit"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            row(
                &mut out,
                &format!("memory {i}"),
                &format!(
                    "{} pages of {} bytes, {max}{}",
                    mem.initial,
                    mem.page_size,
                    if flags.is_empty() {
                        String::new()
                    } else {
                        format!(" ({flags})")
                    }
                ),
            );
        }
        for (i, t) in m.tables.iter().enumerate() {
            let max = t
                .maximum
                .map(|x| format!("max {x}"))
                .unwrap_or_else(|| "no max".into());
            row(
                &mut out,
                &format!("table {i}"),
                &format!(
                    "{} x{}, {max}{}",
                    t.element,
                    t.initial,
                    if t.imported { " (imported)" } else { "" }
                ),
            );
        }
        row(
            &mut out,
            "start",
            &m.start
                .map(|s| format!("function {s}"))
                .unwrap_or_else(|| "none".into()),
        );
        row(
            &mut out,
            "proposals",
            &if m.proposals.is_empty() {
                "none beyond the MVP".to_string()
            } else {
                m.proposals.join(", ")
            },
        );
    }
    let _ = writeln!(out, "{}", st.head("sections"));
    for s in &report.sections {
        let pct = if report.size > 0 {
            s.size as f64 * 100.0 / report.size as f64
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "  {:<20}{:>10}  {pct:5.1}%",
            s.name,
            human_size(s.size)
        );
    }
    if !report.custom_sections.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            st.head(&format!(
                "custom sections ({})",
                report.custom_sections.len()
            ))
        );
        for s in &report.custom_sections {
            let _ = writeln!(out, "  {:<20}{:>10}", s.name, human_size(s.size));
        }
    }
    out
}

fn world_items(out: &mut String, st: &Style, label: &str, items: &[WorldItem]) {
    let _ = writeln!(out, "{}", st.head(&format!("{label} ({})", items.len())));
    for item in items {
        let kind = if item.kind == "interface" {
            String::new()
        } else {
            format!("  {}", st.dim(&item.kind))
        };
        let _ = writeln!(out, "  {}{kind}", item.name);
    }
}
