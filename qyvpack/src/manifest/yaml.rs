//! A small YAML document tree with source positions, built from `saphyr-parser` events.
//!
//! Every node keeps its line and column so that every diagnostic, down to a single list item,
//! can point at the text. Budgets keep hostile input cheap: the source size, the nesting
//! depth, and the number of nodes after alias expansion (an "alias bomb" hits that budget
//! instead of exhausting memory).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Largest manifest accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes accepted, counting every alias expansion.
pub const MAX_NODES: usize = 100_000;

/// A position in the source: 1-based line and column, and the length of the marked text on
/// that line (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
    pub len: usize,
}

impl Pos {
    fn from_span(span: &Span) -> Pos {
        let len = if span.end.line() == span.start.line() {
            span.end.col().saturating_sub(span.start.col()).max(1)
        } else {
            1
        };
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
            len,
        }
    }
}

/// A YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// The value of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing.
    Null,
    /// A scalar's text; `plain` is false for quoted and block scalars (which are always
    /// strings, never booleans or numbers).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A short name of the node's kind, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing (null)",
            Value::Scalar { text, plain: true } if as_bool(text).is_some() => "a boolean",
            Value::Scalar { text, plain: true } if text.parse::<f64>().is_ok() => "a number",
            Value::Scalar { .. } => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// YAML 1.2 core-schema booleans.
pub fn as_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// YAML 1.1's other booleans (`yes`, `no`, `on`, `off`, `y`, `n`, in any case): strings in
/// YAML 1.2, which qyv reads, so never taken as booleans; where one is expected, the error
/// names the boolean that was meant.
pub fn yaml11_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "on" | "y" => Some(true),
        "no" | "off" | "n" => Some(false),
        _ => None,
    }
}

/// A syntax error or a budget exceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Parses the first document of `src` (an empty source is a null node). More than one
/// document is an error.
pub fn parse(src: &str) -> Result<Node, YamlError> {
    if src.len() > MAX_SOURCE_BYTES {
        return Err(YamlError {
            pos: Pos {
                line: 1,
                column: 1,
                len: 1,
            },
            message: format!(
                "the manifest is {} bytes; the limit is {MAX_SOURCE_BYTES}",
                src.len()
            ),
        });
    }
    let mut builder = Builder {
        parser: Parser::new_from_str(src),
        anchors: HashMap::new(),
        nodes: 0,
    };
    builder.document()
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(YamlError {
                pos: Pos {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                    len: 1,
                },
                message: format!("invalid YAML: {}", e.info()),
            }),
            None => Ok((Event::StreamEnd, Span::empty(Default::default()))),
        }
    }

    fn document(&mut self) -> Result<Node, YamlError> {
        let mut root = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
                Event::DocumentStart(_) => {
                    if root.is_some() {
                        return Err(YamlError {
                            pos: Pos::from_span(&span),
                            message: "a manifest holds one YAML document; found a second `---`"
                                .into(),
                        });
                    }
                    let (event, span) = self.next()?;
                    root = Some(self.node(event, span, 0)?);
                }
                Event::StreamEnd => break,
                other => {
                    // Content without a DocumentStart should not happen; treat it as the root.
                    root = Some(self.node(other, span, 0)?);
                }
            }
        }
        Ok(root.unwrap_or(Node {
            pos: Pos {
                line: 1,
                column: 1,
                len: 1,
            },
            value: Value::Null,
        }))
    }

    fn count(&mut self, n: usize, span: &Span) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                pos: Pos::from_span(span),
                message: format!(
                    "the manifest expands to more than {MAX_NODES} YAML nodes (alias bomb?)"
                ),
            });
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Node, YamlError> {
        if depth > MAX_DEPTH {
            return Err(YamlError {
                pos: Pos::from_span(&span),
                message: format!("the manifest nests deeper than {MAX_DEPTH} levels"),
            });
        }
        let pos = Pos::from_span(&span);
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, &span)?;
                let plain = style == ScalarStyle::Plain && tag.is_none();
                let value = if plain && matches!(&*text, "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    }
                };
                (Node { pos, value }, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                self.count(1, &span)?;
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span, depth + 1)?);
                }
                (
                    Node {
                        pos,
                        value: Value::Seq(items),
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, _) => {
                self.count(1, &span)?;
                let mut entries = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(event, span, depth + 1)?;
                    let (event, span) = self.next()?;
                    let value = self.node(event, span, depth + 1)?;
                    entries.push((key, value));
                }
                (
                    Node {
                        pos,
                        value: Value::Map(entries),
                    },
                    anchor,
                )
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id).cloned() else {
                    return Err(YamlError {
                        pos,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                self.count(size(&target), &span)?;
                return Ok(Node {
                    pos,
                    value: target.value,
                });
            }
            Event::StreamEnd | Event::DocumentEnd => {
                return Err(YamlError {
                    pos,
                    message: "unexpected end of the document".into(),
                });
            }
            other => {
                return Err(YamlError {
                    pos,
                    message: format!("unexpected YAML event {other:?}"),
                });
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

/// Number of nodes in a tree.
fn size(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions() {
        let node = parse("name: hello\npermissions:\n  fs: none\n").unwrap();
        let Value::Map(entries) = node.value else {
            panic!()
        };
        assert_eq!(
            entries[0].1.pos,
            Pos {
                line: 1,
                column: 7,
                len: 5
            }
        );
        let Value::Map(perms) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(perms[0].0.pos.line, 3);
        assert_eq!(perms[0].0.pos.column, 3);
    }

    #[test]
    fn quoted_scalars_are_not_plain() {
        let node = parse("a: 'false'\nb: false\nc: ~\n").unwrap();
        let Value::Map(e) = node.value else { panic!() };
        assert!(matches!(&e[0].1.value, Value::Scalar { plain: false, .. }));
        assert!(matches!(&e[1].1.value, Value::Scalar { plain: true, .. }));
        assert_eq!(e[2].1.value, Value::Null);
    }

    #[test]
    fn alias_bombs_hit_the_budget() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&src).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{err:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let src = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&src).unwrap_err().message.contains("deeper"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("name: [unclosed\n").unwrap_err();
        assert!(err.pos.line >= 1);
        assert!(err.message.starts_with("invalid YAML"));
    }

    #[test]
    fn empty_source_is_null() {
        assert_eq!(parse("").unwrap().value, Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap().value, Value::Null);
    }
}
