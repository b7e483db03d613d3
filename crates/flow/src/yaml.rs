//! YAML read into a tree that remembers where each node was written, so every error can name
//! its line. Only what flows need: scalars (kept as text), sequences and mappings; anchors and
//! aliases are expanded; tags are refused.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where something was written: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub line: usize,
    pub col: usize,
}

impl Span {
    fn of(mark: &Marker) -> Span {
        Span {
            line: mark.line(),
            col: mark.col() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    /// A scalar as written; `quoted` tells `"1"` from `1` where that matters (it rarely does).
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Keys in the order written (duplicates are reported by the loader).
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Yaml,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Yaml::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A plain `~`, `null` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Yaml::Scalar { text, quoted: false } if text.is_empty() || text == "~" || text == "null")
    }

    pub fn kind(&self) -> &'static str {
        match self.value {
            Yaml::Scalar { .. } => "a scalar",
            Yaml::Seq(_) => "a list",
            Yaml::Map(_) => "a mapping",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub span: Span,
    pub message: String,
}

/// Reads one YAML document. An empty input is an empty mapping's absence: `Ok(None)`.
pub fn parse(source: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(source);
    if let Err(e) = parser.load(&mut builder, false) {
        return Err(YamlError {
            span: Span::of(e.marker()),
            message: e.info().to_string(),
        });
    }
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.root)
}

/// More than any flow needs; a bound on memory for hostile input.
const MAX_NODES: usize = 200_000;

fn size(node: &Node) -> usize {
    match &node.value {
        Yaml::Scalar { .. } => 1,
        Yaml::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Yaml::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size(k) + size(v))
                .sum::<usize>()
        }
    }
}

enum Open {
    Seq(Span, usize, Vec<Node>),
    Map(Span, usize, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    /// Anchored nodes with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes made so far, aliases counted in full: a bound against "billion laughs".
    nodes: usize,
    root: Option<Node>,
    error: Option<YamlError>,
}

impl Builder {
    fn fail(&mut self, span: Span, message: &str) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                span,
                message: message.to_string(),
            });
        }
    }

    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let size = size(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let span = Span::of(&mark);
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return self.fail(span, "the document expands to too many nodes");
        }
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                if tag.is_some() {
                    return self.fail(span, "YAML tags are not used in flows");
                }
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.complete(
                    Node {
                        span,
                        value: Yaml::Scalar { text, quoted },
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, tag) => {
                if tag.is_some() {
                    return self.fail(span, "YAML tags are not used in flows");
                }
                self.stack.push(Open::Seq(span, anchor, Vec::new()));
            }
            Event::MappingStart(anchor, tag) => {
                if tag.is_some() {
                    return self.fail(span, "YAML tags are not used in flows");
                }
                self.stack.push(Open::Map(span, anchor, Vec::new(), None));
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Open::Seq(span, anchor, items)) => self.complete(
                    Node {
                        span,
                        value: Yaml::Seq(items),
                    },
                    anchor,
                ),
                Some(Open::Map(span, anchor, entries, _)) => self.complete(
                    Node {
                        span,
                        value: Yaml::Map(entries),
                    },
                    anchor,
                ),
                None => self.fail(span, "unbalanced YAML structure"),
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some((mut node, size)) => {
                    self.nodes += size;
                    if self.nodes > MAX_NODES {
                        return self.fail(span, "the document expands to too many nodes");
                    }
                    node.span = span;
                    self.complete(node, 0);
                }
                None => self.fail(span, "alias to an unknown anchor"),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}
