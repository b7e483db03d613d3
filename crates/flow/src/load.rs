//! Flow and calendar files read and checked. Every problem is reported, each with the file,
//! line and column it was found at, and the flow is refused if there is any.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::calendar::{parse_days, parse_ranges, Calendar};
use crate::expr::{Expr, Template};
use crate::flow::*;
use crate::yaml::{self, Node, Span, Yaml};

/// One problem in a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every problem found in a file, in the order of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Names a flow may refer to, when the caller knows them (the tenant's queues and calendars,
/// the built-in tables). `None` skips that check.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub queues: Option<BTreeSet<String>>,
    pub calendars: Option<BTreeSet<String>>,
}

/// The largest flow file read (a bound for hostile input; real flows are a few kilobytes).
pub const MAX_SOURCE: usize = 1 << 20;

struct Ctx<'a> {
    file: &'a str,
    errors: Vec<Diagnostic>,
    names: HashMap<String, NodeId>,
    known: &'a Known,
}

impl Ctx<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            file: self.file.to_string(),
            line: span.line,
            column: span.col,
            message: message.into(),
        });
    }

    fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.error(
                    node.span,
                    format!("{what} must be text, not {}", node.kind()),
                );
                None
            }
        }
    }

    fn target(&mut self, node: &Node, what: &str) -> Option<NodeId> {
        let name = self.text(node, what)?;
        match self.names.get(&name) {
            Some(id) => Some(*id),
            None => {
                self.error(
                    node.span,
                    format!("{what} goes to '{name}', which is not a node of this flow"),
                );
                None
            }
        }
    }

    fn template(&mut self, node: &Node, what: &str) -> Option<Template> {
        let text = self.text(node, what)?;
        match Template::parse(&text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(shift(node, e.offset), format!("{what}: {}", e.message));
                None
            }
        }
    }

    fn expr(&mut self, node: &Node, what: &str) -> Option<Expr> {
        let text = self.text(node, what)?;
        match Expr::parse(&text) {
            Ok(e) => {
                let mut cals = Vec::new();
                e.calendars(&mut cals);
                if let Some(known) = &self.known.calendars {
                    for c in cals {
                        if !known.contains(&c) {
                            self.error(node.span, format!("{what}: no calendar named '{c}'"));
                        }
                    }
                }
                Some(e)
            }
            Err(e) => {
                self.error(shift(node, e.offset), format!("{what}: {}", e.message));
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str, max_ms: u64) -> Option<u64> {
        let text = self.text(node, what)?;
        match parse_duration(&text) {
            Some(ms) if ms > 0 && ms <= max_ms => Some(ms),
            Some(_) => {
                self.error(
                    node.span,
                    format!("{what} must be more than 0 and at most {}", show_ms(max_ms)),
                );
                None
            }
            None => {
                self.error(
                    node.span,
                    format!("{what}: '{text}' is not a duration (like 5s, 500ms, 2m)"),
                );
                None
            }
        }
    }

    fn number<T: std::str::FromStr + PartialOrd + fmt::Display>(
        &mut self,
        node: &Node,
        what: &str,
        lo: T,
        hi: T,
    ) -> Option<T> {
        let text = self.text(node, what)?;
        match text.trim().parse::<T>() {
            Ok(n) if n >= lo && n <= hi => Some(n),
            _ => {
                self.error(
                    node.span,
                    format!("{what} must be a whole number from {lo} to {hi}"),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.as_str() {
            Some("true" | "yes" | "on") => Some(true),
            Some("false" | "no" | "off") => Some(false),
            _ => {
                self.error(node.span, format!("{what} must be true or false"));
                None
            }
        }
    }

    fn digit(&mut self, node: &Node, what: &str) -> Option<char> {
        let text = self.text(node, what)?;
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if is_key(c) => Some(c),
            _ => {
                self.error(
                    node.span,
                    format!("{what}: '{text}' is not a phone key (0-9, *, #, A-D)"),
                );
                None
            }
        }
    }

    fn language(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = self.text(node, what)?;
        if LANGUAGES.contains(&text.as_str()) {
            Some(text)
        } else {
            self.error(
                node.span,
                format!("{what}: '{text}' is not a language we speak (ru, en)"),
            );
            None
        }
    }

    fn queue(&mut self, node: &Node, what: &str) -> Option<String> {
        let name = self.text(node, what)?;
        if let Some(known) = &self.known.queues {
            if !known.contains(&name) {
                self.error(node.span, format!("{what}: no queue named '{name}'"));
                return None;
            }
        }
        Some(name)
    }

    fn prompt(&mut self, node: &Node, what: &str) -> Option<Prompt> {
        let mut parts = Vec::new();
        let items: Vec<&Node> = match &node.value {
            Yaml::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut ok = true;
        for item in items {
            match &item.value {
                Yaml::Scalar { .. } if item.is_null() => {}
                Yaml::Scalar { .. } => match self.template(item, what) {
                    Some(text) => parts.push(PromptPart::Text {
                        text,
                        language: None,
                    }),
                    None => ok = false,
                },
                Yaml::Map(_) => {
                    let mut f = Fields::new(item);
                    let part = if let Some(file) = f.take("file") {
                        self.template(file, &format!("{what} file"))
                            .map(PromptPart::File)
                    } else if let Some(text) = f.take("text") {
                        let text = self.template(text, what);
                        let language = match f.take("language") {
                            Some(l) => self.language(l, "language").map(Some),
                            None => Some(None),
                        };
                        match (text, language) {
                            (Some(text), Some(language)) => {
                                Some(PromptPart::Text { text, language })
                            }
                            _ => None,
                        }
                    } else if let Some(pause) = f.take("pause") {
                        self.duration(pause, "pause", 60_000)
                            .map(|ms| PromptPart::Pause { ms })
                    } else {
                        self.error(
                            item.span,
                            format!("{what}: a prompt part is text, or has file, text or pause"),
                        );
                        None
                    };
                    f.finish(self, &["file", "text", "language", "pause"]);
                    match part {
                        Some(p) => parts.push(p),
                        None => ok = false,
                    }
                }
                Yaml::Seq(_) => {
                    self.error(item.span, format!("{what}: lists of prompts do not nest"));
                    ok = false;
                }
            }
        }
        ok.then_some(Prompt(parts))
    }
}

pub const LANGUAGES: [&str; 2] = ["ru", "en"];

fn is_key(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A' | 'B' | 'C' | 'D')
}

/// Where an offset into a scalar lands in the file (exact for one-line plain scalars).
fn shift(node: &Node, offset: usize) -> Span {
    let quoted = matches!(node.value, Yaml::Scalar { quoted: true, .. });
    let prefix = node
        .as_str()
        .map(|s| s[..offset.min(s.len())].chars().count());
    Span {
        line: node.span.line,
        col: node.span.col + prefix.unwrap_or(0) + usize::from(quoted),
    }
}

/// `500ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "s" | "sec" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    let ms = n * scale;
    (0.0..1e12).contains(&ms).then_some(ms.round() as u64)
}

fn show_ms(ms: u64) -> String {
    if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A mapping read key by key; what is left over is reported as unknown.
struct Fields<'a> {
    /// Where "needs …" errors point: the mapping, or the name it was given.
    at: Span,
    entries: Vec<(&'a Node, &'a Node, bool)>,
}

impl<'a> Fields<'a> {
    fn new(node: &'a Node) -> Fields<'a> {
        let entries = match &node.value {
            Yaml::Map(e) => e.iter().map(|(k, v)| (k, v, false)).collect(),
            _ => Vec::new(),
        };
        Fields {
            at: node.span,
            entries,
        }
    }

    fn take(&mut self, key: &str) -> Option<&'a Node> {
        for e in self.entries.iter_mut() {
            if !e.2 && e.0.as_str() == Some(key) {
                e.2 = true;
                return Some(e.1);
            }
        }
        None
    }

    fn require(&mut self, ctx: &mut Ctx, key: &str, what: &str) -> Option<&'a Node> {
        let v = self.take(key);
        if v.is_none() {
            ctx.error(self.at, format!("{what} needs '{key}'"));
        }
        v
    }

    fn finish(self, ctx: &mut Ctx, allowed: &[&str]) {
        let mut seen = BTreeSet::new();
        for (k, _, used) in &self.entries {
            let name = k.as_str().unwrap_or("");
            if !seen.insert(name) {
                ctx.error(k.span, format!("'{name}' is given twice"));
            } else if !used {
                ctx.error(
                    k.span,
                    format!(
                        "unknown key '{name}' (expected one of: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }
}

const NODE_TYPES: [&str; 12] = [
    "play",
    "menu",
    "collect",
    "lookup",
    "condition",
    "switch",
    "set",
    "queue",
    "transfer",
    "voicemail",
    "callback",
    "hangup",
];

/// Reads and checks a flow. `file` names it in the diagnostics.
pub fn load_flow(file: &str, source: &str, known: &Known) -> Result<Flow, Diagnostics> {
    let mut ctx = Ctx {
        file,
        errors: Vec::new(),
        names: HashMap::new(),
        known,
    };
    let fail = |mut ctx: Ctx| {
        ctx.errors.sort_by_key(|d| (d.line, d.column));
        Err(Diagnostics(ctx.errors))
    };
    if source.len() > MAX_SOURCE {
        ctx.error(Span { line: 1, col: 1 }, "the flow is larger than 1 MiB");
        return fail(ctx);
    }
    let root = match yaml::parse(source) {
        Ok(Some(root)) => root,
        Ok(None) => {
            ctx.error(Span { line: 1, col: 1 }, "the file is empty");
            return fail(ctx);
        }
        Err(e) => {
            ctx.error(e.span, format!("not valid YAML: {}", e.message));
            return fail(ctx);
        }
    };
    if !matches!(root.value, Yaml::Map(_)) {
        ctx.error(
            root.span,
            "a flow is a mapping with 'flow', 'start' and 'nodes'",
        );
        return fail(ctx);
    }
    let mut top = Fields::new(&root);
    let name = top
        .require(&mut ctx, "flow", "the flow")
        .and_then(|n| ctx.text(n, "flow"))
        .unwrap_or_default();
    let description = top
        .take("description")
        .and_then(|n| ctx.text(n, "description"))
        .unwrap_or_default();
    let language = match top.take("language") {
        Some(n) => ctx.language(n, "language").unwrap_or_default(),
        None => "ru".to_string(),
    };
    let start_node = top.require(&mut ctx, "start", "the flow");
    let nodes_node = top.require(&mut ctx, "nodes", "the flow");
    top.finish(
        &mut ctx,
        &["flow", "description", "language", "start", "nodes"],
    );

    let mut defs: Vec<(&Node, &Node)> = Vec::new();
    if let Some(nodes) = nodes_node {
        match &nodes.value {
            Yaml::Map(entries) if !entries.is_empty() => {
                for (k, v) in entries {
                    let Some(n) = ctx.text(k, "a node's name") else {
                        continue;
                    };
                    if ctx.names.contains_key(&n) {
                        ctx.error(k.span, format!("node '{n}' is defined twice"));
                        continue;
                    }
                    ctx.names.insert(n, defs.len());
                    defs.push((k, v));
                }
            }
            _ => ctx.error(
                nodes.span,
                "'nodes' must be a mapping of node names to nodes",
            ),
        }
    }
    let start = start_node.and_then(|n| ctx.target(n, "start"));

    let mut nodes = Vec::new();
    for (k, v) in &defs {
        let name = k.as_str().unwrap_or_default().to_string();
        if let Some(kind) = node_kind(&mut ctx, &name, k.span, v) {
            nodes.push(NodeDef {
                name,
                line: k.span.line,
                kind,
            });
        }
    }
    if !ctx.errors.is_empty() {
        return fail(ctx);
    }
    let flow = Flow {
        name,
        description,
        language,
        start: start.unwrap_or(0),
        nodes,
    };
    check_graph(&mut ctx, &flow, &defs);
    if !ctx.errors.is_empty() {
        return fail(ctx);
    }
    Ok(flow)
}

/// Unreachable nodes, and loops that never wait for the caller (they would spin for ever).
fn check_graph(ctx: &mut Ctx, flow: &Flow, defs: &[(&Node, &Node)]) {
    let mut seen = vec![false; flow.nodes.len()];
    let mut stack = vec![flow.start];
    while let Some(n) = stack.pop() {
        if !std::mem::replace(&mut seen[n], true) {
            stack.extend(flow.nodes[n].kind.successors());
        }
    }
    for (i, s) in seen.iter().enumerate() {
        if !s {
            ctx.error(
                defs[i].0.span,
                format!("node '{}' cannot be reached from start", flow.nodes[i].name),
            );
        }
    }
    // A cycle among instant nodes: depth-first search with colours.
    let mut colour = vec![0u8; flow.nodes.len()];
    for root in 0..flow.nodes.len() {
        if colour[root] != 0 || !flow.nodes[root].kind.is_instant() {
            continue;
        }
        let mut path = vec![(root, flow.nodes[root].kind.successors(), 0usize)];
        colour[root] = 1;
        while let Some((node, succ, at)) = path.last_mut() {
            if *at == succ.len() {
                colour[*node] = 2;
                path.pop();
                continue;
            }
            let next = succ[*at];
            *at += 1;
            if !flow.nodes[next].kind.is_instant() {
                continue;
            }
            match colour[next] {
                0 => {
                    colour[next] = 1;
                    path.push((next, flow.nodes[next].kind.successors(), 0));
                }
                1 => {
                    let names: Vec<&str> = path
                        .iter()
                        .skip_while(|(n, _, _)| *n != next)
                        .map(|(n, _, _)| flow.nodes[*n].name.as_str())
                        .collect();
                    ctx.error(
                        defs[next].0.span,
                        format!(
                            "nodes {} → {} loop without waiting for the caller",
                            names.join(" → "),
                            flow.nodes[next].name
                        ),
                    );
                }
                _ => {}
            }
        }
    }
}

fn node_kind(ctx: &mut Ctx, name: &str, at: Span, node: &Node) -> Option<NodeKind> {
    if !matches!(node.value, Yaml::Map(_)) {
        ctx.error(
            at,
            format!(
                "node '{name}' must be a mapping with one of: {}",
                NODE_TYPES.join(", ")
            ),
        );
        return None;
    }
    let mut f = Fields::new(node);
    f.at = at;
    let mut types: Vec<&str> = NODE_TYPES
        .iter()
        .copied()
        .filter(|t| f.entries.iter().any(|(k, _, _)| k.as_str() == Some(t)))
        .collect();
    // `queue` names the queue of a voicemail or callback node too.
    if types.len() > 1 && types.iter().any(|t| matches!(*t, "voicemail" | "callback")) {
        types.retain(|t| *t != "queue");
    }
    let ty = match types.as_slice() {
        [one] => *one,
        [] => {
            ctx.error(
                at,
                format!(
                    "node '{name}' has no type (one of: {})",
                    NODE_TYPES.join(", ")
                ),
            );
            return None;
        }
        many => {
            ctx.error(
                at,
                format!("node '{name}' has several types: {}", many.join(", ")),
            );
            return None;
        }
    };
    let main = f.take(ty)?;
    let what = format!("{ty} node '{name}'");
    let errors_before = ctx.errors.len();
    let (kind, allowed): (Option<NodeKind>, &[&str]) = match ty {
        "play" => {
            let prompt = ctx.prompt(main, &what);
            let barge_in = f.take("barge_in").and_then(|b| ctx.boolean(b, "barge_in"));
            let next = f
                .require(ctx, "next", &what)
                .and_then(|n| ctx.target(n, "next"));
            (
                Some(NodeKind::Play {
                    prompt: prompt.unwrap_or_default(),
                    barge_in: barge_in.unwrap_or(true),
                    next: next.unwrap_or(0),
                }),
                &["play", "barge_in", "next"],
            )
        }
        "menu" => {
            let prompt = ctx.prompt(main, &what);
            let mut options = Vec::new();
            if let Some(opts) = f.require(ctx, "options", &what) {
                match &opts.value {
                    Yaml::Map(entries) if !entries.is_empty() => {
                        for (k, v) in entries {
                            let d = ctx.digit(k, "option");
                            let t =
                                ctx.target(v, &format!("option '{}'", k.as_str().unwrap_or("")));
                            if let (Some(d), Some(t)) = (d, t) {
                                if options.iter().any(|(o, _)| *o == d) {
                                    ctx.error(k.span, format!("option '{d}' is given twice"));
                                }
                                options.push((d, t));
                            }
                        }
                    }
                    _ => ctx.error(
                        opts.span,
                        "options must map keys to nodes, like \"1\": sales",
                    ),
                }
            }
            let timeout_ms = opt_duration(ctx, &mut f, "timeout", 60_000).unwrap_or(5_000);
            let retries = opt_number(ctx, &mut f, "retries", 0u32, 10).unwrap_or(2);
            let invalid = opt_prompt(ctx, &mut f, "invalid");
            let no_input = opt_prompt(ctx, &mut f, "no_input");
            let on_failure = f
                .take("on_failure")
                .and_then(|n| ctx.target(n, "on_failure"));
            (
                Some(NodeKind::Menu {
                    prompt: prompt.unwrap_or_default(),
                    options,
                    timeout_ms,
                    retries,
                    invalid,
                    no_input,
                    on_failure,
                }),
                &[
                    "menu",
                    "options",
                    "timeout",
                    "retries",
                    "invalid",
                    "no_input",
                    "on_failure",
                ],
            )
        }
        "collect" => {
            let prompt = ctx.prompt(main, &what);
            let into = f
                .require(ctx, "into", &what)
                .and_then(|n| variable(ctx, n, "into"));
            let min = opt_number(ctx, &mut f, "min", 1usize, 64).unwrap_or(1);
            let max = opt_number(ctx, &mut f, "max", 1usize, 64).unwrap_or(min.max(20));
            if min > max {
                ctx.error(at, format!("{what}: min ({min}) is more than max ({max})"));
            }
            let terminator = f
                .take("terminator")
                .and_then(|n| ctx.digit(n, "terminator"));
            let timeout_ms = opt_duration(ctx, &mut f, "timeout", 60_000).unwrap_or(5_000);
            let inter_digit_ms =
                opt_duration(ctx, &mut f, "inter_digit_timeout", 60_000).unwrap_or(3_000);
            let retries = opt_number(ctx, &mut f, "retries", 0u32, 10).unwrap_or(2);
            let valid = f.take("valid").and_then(|n| ctx.expr(n, "valid"));
            let invalid = opt_prompt(ctx, &mut f, "invalid");
            let no_input = opt_prompt(ctx, &mut f, "no_input");
            let next = f
                .require(ctx, "next", &what)
                .and_then(|n| ctx.target(n, "next"));
            let on_failure = f
                .take("on_failure")
                .and_then(|n| ctx.target(n, "on_failure"));
            (
                Some(NodeKind::Collect {
                    prompt: prompt.unwrap_or_default(),
                    into: into.unwrap_or_default(),
                    min,
                    max,
                    terminator,
                    timeout_ms,
                    inter_digit_ms,
                    retries,
                    valid,
                    invalid,
                    no_input,
                    next: next.unwrap_or(0),
                    on_failure,
                }),
                &[
                    "collect",
                    "into",
                    "min",
                    "max",
                    "terminator",
                    "timeout",
                    "inter_digit_timeout",
                    "retries",
                    "valid",
                    "invalid",
                    "no_input",
                    "next",
                    "on_failure",
                ],
            )
        }
        "lookup" => {
            let source = lookup_source(ctx, main, &what);
            let into = f
                .require(ctx, "into", &what)
                .and_then(|n| variable(ctx, n, "into"));
            let budget_ms = opt_duration(ctx, &mut f, "timeout", 10_000).unwrap_or(2_000);
            let waiting = opt_prompt(ctx, &mut f, "waiting");
            let next = f
                .require(ctx, "next", &what)
                .and_then(|n| ctx.target(n, "next"));
            let not_found = f.take("not_found").and_then(|n| ctx.target(n, "not_found"));
            let on_error = f.take("on_error").and_then(|n| ctx.target(n, "on_error"));
            let next = next.unwrap_or(0);
            let on_error = on_error.or(not_found).unwrap_or(next);
            (
                Some(NodeKind::Lookup {
                    source: source.unwrap_or(LookupSource::Table {
                        table: String::new(),
                        key: Template::literal(""),
                    }),
                    into: into.unwrap_or_default(),
                    budget_ms,
                    waiting,
                    next,
                    not_found: not_found.unwrap_or(on_error),
                    on_error,
                }),
                &[
                    "lookup",
                    "into",
                    "timeout",
                    "waiting",
                    "next",
                    "not_found",
                    "on_error",
                ],
            )
        }
        "condition" => {
            let test = ctx.expr(main, "condition");
            let then = f
                .require(ctx, "then", &what)
                .and_then(|n| ctx.target(n, "then"));
            let otherwise = f
                .require(ctx, "else", &what)
                .and_then(|n| ctx.target(n, "else"));
            (
                test.map(|test| NodeKind::Condition {
                    test,
                    then: then.unwrap_or(0),
                    otherwise: otherwise.unwrap_or(0),
                }),
                &["condition", "then", "else"],
            )
        }
        "switch" => {
            let value = ctx.template(main, "switch");
            let mut cases = Vec::new();
            if let Some(c) = f.require(ctx, "cases", &what) {
                match &c.value {
                    Yaml::Map(entries) if !entries.is_empty() => {
                        for (k, v) in entries {
                            let key = ctx.text(k, "a case");
                            let t = ctx
                                .target(v, &format!("case '{}'", key.clone().unwrap_or_default()));
                            if let (Some(key), Some(t)) = (key, t) {
                                cases.push((key, t));
                            }
                        }
                    }
                    _ => ctx.error(c.span, "cases must map values to nodes"),
                }
            }
            let default = f
                .require(ctx, "default", &what)
                .and_then(|n| ctx.target(n, "default"));
            (
                value.map(|value| NodeKind::Switch {
                    value,
                    cases,
                    default: default.unwrap_or(0),
                }),
                &["switch", "cases", "default"],
            )
        }
        "set" => {
            let mut vars = Vec::new();
            match &main.value {
                Yaml::Map(entries) => {
                    for (k, v) in entries {
                        if let (Some(name), Some(t)) =
                            (variable(ctx, k, "a variable"), ctx.template(v, "a value"))
                        {
                            if RESERVED
                                .iter()
                                .any(|r| name == *r || name.starts_with(&format!("{r}.")))
                            {
                                ctx.error(
                                    k.span,
                                    format!("'{name}' is set by Hotline, not by flows"),
                                );
                            }
                            vars.push((name, t));
                        }
                    }
                }
                _ if main.is_null() => {}
                _ => ctx.error(main.span, "set takes a mapping of variables to values"),
            }
            let priority = opt_number(ctx, &mut f, "priority", -1000i32, 1000);
            let mut skills = Vec::new();
            if let Some(s) = f.take("skills") {
                match &s.value {
                    Yaml::Seq(items) => {
                        for item in items {
                            if let Some(text) = ctx.text(item, "a skill") {
                                match parse_skill(&text) {
                                    Some(skill) => skills.push(skill),
                                    None => ctx.error(
                                        item.span,
                                        format!("'{text}' is not a skill (name or name:1-5)"),
                                    ),
                                }
                            }
                        }
                    }
                    _ => ctx.error(s.span, "skills must be a list like [language.en, vip:3]"),
                }
            }
            let language = f.take("language").and_then(|n| ctx.language(n, "language"));
            let next = f
                .require(ctx, "next", &what)
                .and_then(|n| ctx.target(n, "next"));
            (
                Some(NodeKind::Set {
                    vars,
                    priority,
                    skills,
                    language,
                    next: next.unwrap_or(0),
                }),
                &["set", "priority", "skills", "language", "next"],
            )
        }
        "queue" => {
            let queue = ctx.queue(main, "queue");
            let music = match f.take("music") {
                Some(m) => ctx.prompt(m, "music").map(Some),
                None => Some(None),
            };
            let announce = match f.take("announce") {
                Some(a) => {
                    let mut af = Fields::new(a);
                    let every = af
                        .require(ctx, "every", "announce")
                        .and_then(|n| ctx.duration(n, "every", 3_600_000));
                    if matches!(every, Some(ms) if ms < 10_000) {
                        ctx.error(a.span, "announce every must be at least 10s");
                    }
                    let prompt = af
                        .require(ctx, "prompt", "announce")
                        .and_then(|n| ctx.prompt(n, "announce"));
                    af.finish(ctx, &["every", "prompt"]);
                    match (every, prompt) {
                        (Some(every_ms), Some(prompt)) => Some(Announce { every_ms, prompt }),
                        _ => None,
                    }
                }
                None => None,
            };
            let callback = match f.take("offer_callback") {
                Some(c) => {
                    let mut cf = Fields::new(c);
                    let key = cf
                        .require(ctx, "key", "offer_callback")
                        .and_then(|n| ctx.digit(n, "offer_callback key"));
                    let next = cf
                        .require(ctx, "next", "offer_callback")
                        .and_then(|n| ctx.target(n, "offer_callback next"));
                    cf.finish(ctx, &["key", "next"]);
                    key.zip(next)
                }
                None => None,
            };
            let max_wait_ms = f
                .take("max_wait")
                .and_then(|n| ctx.duration(n, "max_wait", 24 * 3_600_000));
            let next = f.take("next").and_then(|n| ctx.target(n, "next"));
            if max_wait_ms.is_some() && next.is_none() {
                ctx.error(at, format!("{what}: max_wait needs 'next'"));
            }
            (
                queue.map(|queue| NodeKind::Queue {
                    queue,
                    music: music.flatten(),
                    announce,
                    callback,
                    max_wait_ms,
                    next,
                }),
                &[
                    "queue",
                    "music",
                    "announce",
                    "offer_callback",
                    "max_wait",
                    "next",
                ],
            )
        }
        "transfer" => {
            let mut tf = Fields::new(main);
            let target = if let Some(a) = tf.take("agent") {
                ctx.template(a, "agent").map(TransferTarget::Agent)
            } else if let Some(q) = tf.take("queue") {
                ctx.queue(q, "queue").map(TransferTarget::Queue)
            } else if let Some(n) = tf.take("number") {
                ctx.template(n, "number").map(TransferTarget::Number)
            } else {
                ctx.error(
                    main.span,
                    format!("{what}: transfer to an agent, a queue or a number"),
                );
                None
            };
            if matches!(main.value, Yaml::Map(_)) {
                tf.finish(ctx, &["agent", "queue", "number"]);
            }
            let prompt = opt_prompt(ctx, &mut f, "prompt");
            let timeout_ms = opt_duration(ctx, &mut f, "timeout", 300_000).unwrap_or(30_000);
            let on_failure = f
                .take("on_failure")
                .and_then(|n| ctx.target(n, "on_failure"));
            (
                target.map(|target| NodeKind::Transfer {
                    target,
                    prompt,
                    timeout_ms,
                    on_failure,
                }),
                &["transfer", "prompt", "timeout", "on_failure"],
            )
        }
        "voicemail" => {
            let prompt = ctx.prompt(main, &what);
            let max_ms = opt_duration(ctx, &mut f, "max", 600_000).unwrap_or(120_000);
            let queue = f
                .require(ctx, "queue", &what)
                .and_then(|n| ctx.queue(n, "queue"));
            let next = f.take("next").and_then(|n| ctx.target(n, "next"));
            (
                queue.map(|queue| NodeKind::Voicemail {
                    prompt: prompt.unwrap_or_default(),
                    max_ms,
                    queue,
                    next,
                }),
                &["voicemail", "max", "queue", "next"],
            )
        }
        "callback" => {
            let prompt = ctx.prompt(main, &what);
            let number = match f.take("number") {
                Some(n) => ctx.template(n, "number"),
                None => Template::parse("{caller.number}").ok(),
            };
            let queue = f.take("queue").and_then(|n| ctx.queue(n, "queue"));
            (
                number.map(|number| NodeKind::Callback {
                    number,
                    queue,
                    prompt: prompt.unwrap_or_default(),
                }),
                &["callback", "number", "queue"],
            )
        }
        _ => {
            // hangup: an optional goodbye
            let prompt = match &main.value {
                Yaml::Scalar { text, .. } if main.is_null() || text == "true" => {
                    Some(Prompt::default())
                }
                _ => ctx.prompt(main, &what),
            };
            (
                prompt.map(|prompt| NodeKind::Hangup { prompt }),
                &["hangup"],
            )
        }
    };
    f.finish(ctx, allowed);
    if ctx.errors.len() > errors_before {
        return None;
    }
    kind
}

/// Variables Hotline fills; flows read them but do not set them.
pub const RESERVED: [&str; 5] = ["caller", "customer", "queue", "call", "value"];

fn variable(ctx: &mut Ctx, node: &Node, what: &str) -> Option<String> {
    let name = ctx.text(node, what)?;
    let ok = !name.is_empty()
        && name.split('.').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        });
    if ok {
        Some(name)
    } else {
        ctx.error(
            node.span,
            format!("{what}: '{name}' is not a variable name"),
        );
        None
    }
}

fn parse_skill(text: &str) -> Option<(String, u8)> {
    let (name, level) = match text.split_once(':') {
        Some((n, l)) => (
            n.trim(),
            l.trim()
                .parse::<u8>()
                .ok()
                .filter(|l| (1..=5).contains(l))?,
        ),
        None => (text.trim(), 1),
    };
    (!name.is_empty()).then(|| (name.to_string(), level))
}

fn opt_duration(ctx: &mut Ctx, f: &mut Fields, key: &str, max_ms: u64) -> Option<u64> {
    f.take(key).and_then(|n| ctx.duration(n, key, max_ms))
}

fn opt_number<T: std::str::FromStr + PartialOrd + fmt::Display>(
    ctx: &mut Ctx,
    f: &mut Fields,
    key: &str,
    lo: T,
    hi: T,
) -> Option<T> {
    f.take(key).and_then(|n| ctx.number(n, key, lo, hi))
}

fn opt_prompt(ctx: &mut Ctx, f: &mut Fields, key: &str) -> Prompt {
    f.take(key)
        .and_then(|n| ctx.prompt(n, key))
        .unwrap_or_default()
}

fn lookup_source(ctx: &mut Ctx, main: &Node, what: &str) -> Option<LookupSource> {
    let mut f = Fields::new(main);
    let source = if let Some(t) = f.take("table") {
        let table = ctx.text(t, "table");
        let key = f
            .require(ctx, "key", what)
            .and_then(|k| ctx.template(k, "key"));
        table
            .zip(key)
            .map(|(table, key)| LookupSource::Table { table, key })
    } else if let Some(c) = f.take("customer") {
        ctx.template(c, "customer")
            .map(|identifier| LookupSource::Customer { identifier })
    } else if let Some(h) = f.take("http") {
        let mut hf = Fields::new(h);
        let url = hf.require(ctx, "url", "http").and_then(|u| {
            let t = ctx.template(u, "url")?;
            let text = u.as_str().unwrap_or_default();
            if !(text.starts_with("http://") || text.starts_with("https://")) {
                ctx.error(u.span, "url must start with http:// or https://");
                return None;
            }
            Some(t)
        });
        let method = match hf.take("method") {
            Some(m) => match m.as_str().map(|s| s.to_ascii_uppercase()).as_deref() {
                Some("GET") => Some(HttpMethod::Get),
                Some("POST") => Some(HttpMethod::Post),
                _ => {
                    ctx.error(m.span, "method must be GET or POST");
                    None
                }
            },
            None => Some(HttpMethod::Get),
        };
        let mut headers = Vec::new();
        if let Some(hs) = hf.take("headers") {
            match &hs.value {
                Yaml::Map(entries) => {
                    for (k, v) in entries {
                        if let (Some(k), Some(v)) =
                            (ctx.text(k, "a header"), ctx.template(v, "a header"))
                        {
                            headers.push((k, v));
                        }
                    }
                }
                _ => ctx.error(hs.span, "headers must be a mapping"),
            }
        }
        let body = hf.take("body").and_then(|b| ctx.template(b, "body"));
        hf.finish(ctx, &["url", "method", "headers", "body"]);
        match (url, method) {
            (Some(url), Some(method)) => Some(LookupSource::Http {
                method,
                url,
                headers,
                body,
            }),
            _ => None,
        }
    } else {
        ctx.error(
            main.span,
            format!("{what}: look up in a table, the customer base or over http"),
        );
        None
    };
    if matches!(main.value, Yaml::Map(_)) {
        f.finish(ctx, &["table", "key", "customer", "http"]);
    }
    source
}

/// Reads a tenant's calendars file:
///
/// ```yaml
/// calendars:
///   support:
///     timezone: Europe/Moscow
///     hours: { mon-fri: "09:00-18:00", sat: "10:00-16:00" }
///     holidays: [2026-01-01, 2026-01-07]
///     special: { 2026-12-31: "09:00-15:00" }
/// ```
/// `default_timezone` is the tenant's, used where a calendar names none.
pub fn load_calendars(
    file: &str,
    source: &str,
    default_timezone: &str,
) -> Result<Vec<Calendar>, Diagnostics> {
    let known = Known::default();
    let mut ctx = Ctx {
        file,
        errors: Vec::new(),
        names: HashMap::new(),
        known: &known,
    };
    let root = match yaml::parse(source) {
        Ok(Some(root)) => root,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => {
            ctx.error(e.span, format!("not valid YAML: {}", e.message));
            return Err(Diagnostics(ctx.errors));
        }
    };
    let mut top = Fields::new(&root);
    let mut out = Vec::new();
    match top.take("calendars").map(|c| &c.value) {
        Some(Yaml::Map(entries)) => {
            for (k, v) in entries {
                let Some(name) = ctx.text(k, "a calendar's name") else {
                    continue;
                };
                if let Some(c) = calendar(&mut ctx, name, v, default_timezone) {
                    out.push(c);
                }
            }
        }
        _ => ctx.error(root.span, "a calendars file is a mapping with 'calendars'"),
    }
    top.finish(&mut ctx, &["calendars"]);
    if ctx.errors.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(ctx.errors))
    }
}

fn calendar(ctx: &mut Ctx, name: String, node: &Node, default_tz: &str) -> Option<Calendar> {
    let mut f = Fields::new(node);
    let tz_name = match f.take("timezone") {
        Some(t) => ctx.text(t, "timezone").map(|s| (s, t.span)),
        None => Some((default_tz.to_string(), node.span)),
    };
    let timezone = tz_name.and_then(|(tz, span)| match TimeZone::get(&tz) {
        Ok(z) => Some(z),
        Err(_) => {
            ctx.error(
                span,
                format!("'{tz}' is not a time zone (like Europe/Moscow)"),
            );
            None
        }
    });
    let mut weekly: [Vec<(u16, u16)>; 7] = Default::default();
    if let Some(h) = f.require(ctx, "hours", &format!("calendar '{name}'")) {
        match &h.value {
            Yaml::Map(entries) => {
                for (k, v) in entries {
                    let days = ctx.text(k, "days").map(|d| parse_days(&d));
                    let ranges = ctx.text(v, "hours").map(|r| parse_ranges(&r));
                    match (days, ranges) {
                        (Some(Ok(days)), Some(Ok(ranges))) => {
                            for d in days {
                                weekly[d] = ranges.clone();
                            }
                        }
                        (Some(Err(e)), _) => ctx.error(k.span, e),
                        (_, Some(Err(e))) => ctx.error(v.span, e),
                        _ => {}
                    }
                }
            }
            _ => ctx.error(
                h.span,
                "hours must map days to times, like mon-fri: 09:00-18:00",
            ),
        }
    }
    let mut holidays = BTreeSet::new();
    if let Some(h) = f.take("holidays") {
        match &h.value {
            Yaml::Seq(items) => {
                for item in items {
                    if let Some(d) = date(ctx, item) {
                        holidays.insert(d);
                    }
                }
            }
            _ => ctx.error(h.span, "holidays must be a list of dates (YYYY-MM-DD)"),
        }
    }
    let mut special = BTreeMap::new();
    if let Some(s) = f.take("special") {
        match &s.value {
            Yaml::Map(entries) => {
                for (k, v) in entries {
                    let d = date(ctx, k);
                    let r = ctx.text(v, "hours").map(|r| parse_ranges(&r));
                    match (d, r) {
                        (Some(d), Some(Ok(r))) => {
                            special.insert(d, r);
                        }
                        (_, Some(Err(e))) => ctx.error(v.span, e),
                        _ => {}
                    }
                }
            }
            _ => ctx.error(s.span, "special must map dates to hours"),
        }
    }
    f.finish(ctx, &["timezone", "hours", "holidays", "special"]);
    Some(Calendar {
        name,
        timezone: timezone?,
        weekly,
        holidays,
        special,
    })
}

fn date(ctx: &mut Ctx, node: &Node) -> Option<Date> {
    let text = ctx.text(node, "a date")?;
    match text.trim().parse::<Date>() {
        Ok(d) => Some(d),
        Err(_) => {
            ctx.error(node.span, format!("'{text}' is not a date (YYYY-MM-DD)"));
            None
        }
    }
}
