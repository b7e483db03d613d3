//! A flow as the interpreter runs it: nodes by index, prompts, templates and expressions parsed.

use crate::expr::{Expr, Template};

/// A node's index in [`Flow::nodes`].
pub type NodeId = usize;

#[derive(Debug, Clone)]
pub struct Flow {
    /// The flow's name (its file's name without `.yaml` when loaded from a file).
    pub name: String,
    pub description: String,
    /// The language prompts are spoken in until a `set` node changes it: `ru` or `en`.
    pub language: String,
    pub start: NodeId,
    pub nodes: Vec<NodeDef>,
}

impl Flow {
    pub fn node(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct NodeDef {
    pub name: String,
    pub line: usize,
    pub kind: NodeKind,
}

/// One part of what the caller hears.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptPart {
    /// Spoken by text-to-speech; `language` overrides the call's.
    Text {
        text: Template,
        language: Option<String>,
    },
    /// A WAV file from the tenant's prompt folder.
    File(Template),
    Pause {
        ms: u64,
    },
}

/// A phrase: parts played back to back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prompt(pub Vec<PromptPart>);

impl Prompt {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LookupSource {
    /// A row of the tenant's built-in table by key.
    Table { table: String, key: Template },
    /// A customer of the built-in CRM by phone number or e-mail.
    Customer { identifier: Template },
    /// An HTTP request to a company system; the answer is JSON.
    Http {
        method: HttpMethod,
        url: Template,
        headers: Vec<(String, Template)>,
        body: Option<Template>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TransferTarget {
    /// An agent by extension or login.
    Agent(Template),
    /// A queue by name.
    Queue(String),
    /// An outside number: a company specialist.
    Number(Template),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Announce {
    pub every_ms: u64,
    pub prompt: Prompt,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Play {
        prompt: Prompt,
        /// A key pressed during the prompt stops it (and is kept for the next node).
        barge_in: bool,
        next: NodeId,
    },
    Menu {
        prompt: Prompt,
        options: Vec<(char, NodeId)>,
        timeout_ms: u64,
        /// Further tries after the first, on invalid input or silence.
        retries: u32,
        invalid: Prompt,
        no_input: Prompt,
        /// After the last try; `None` hangs up.
        on_failure: Option<NodeId>,
    },
    Collect {
        prompt: Prompt,
        into: String,
        min: usize,
        max: usize,
        terminator: Option<char>,
        timeout_ms: u64,
        inter_digit_ms: u64,
        retries: u32,
        /// Checked with the digits in `value`; false counts as invalid input.
        valid: Option<Expr>,
        invalid: Prompt,
        no_input: Prompt,
        next: NodeId,
        on_failure: Option<NodeId>,
    },
    Lookup {
        source: LookupSource,
        into: String,
        budget_ms: u64,
        /// Played while waiting for the answer.
        waiting: Prompt,
        next: NodeId,
        not_found: NodeId,
        on_error: NodeId,
    },
    Condition {
        test: Expr,
        then: NodeId,
        otherwise: NodeId,
    },
    Switch {
        value: Template,
        cases: Vec<(String, NodeId)>,
        default: NodeId,
    },
    Set {
        vars: Vec<(String, Template)>,
        /// Added to the contact's priority in the queue.
        priority: Option<i32>,
        /// Skills required of the agent, with a minimum proficiency (1–5).
        skills: Vec<(String, u8)>,
        language: Option<String>,
        next: NodeId,
    },
    Queue {
        queue: String,
        /// Music while waiting; `None` is the tenant's default music.
        music: Option<Prompt>,
        announce: Option<Announce>,
        /// A key that turns the wait into a callback, and the node that confirms it.
        callback: Option<(char, NodeId)>,
        max_wait_ms: Option<u64>,
        /// Where the caller goes after `max_wait`, or when the queue cannot take the call.
        next: Option<NodeId>,
    },
    Transfer {
        target: TransferTarget,
        prompt: Prompt,
        timeout_ms: u64,
        on_failure: Option<NodeId>,
    },
    Voicemail {
        prompt: Prompt,
        max_ms: u64,
        /// The queue whose agents get the message as an interaction.
        queue: String,
        next: Option<NodeId>,
    },
    Callback {
        number: Template,
        /// The queue that will call back; `None` is the queue the caller waited in.
        queue: Option<String>,
        prompt: Prompt,
    },
    Hangup {
        prompt: Prompt,
    },
}

impl NodeKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::Play { .. } => "play",
            NodeKind::Menu { .. } => "menu",
            NodeKind::Collect { .. } => "collect",
            NodeKind::Lookup { .. } => "lookup",
            NodeKind::Condition { .. } => "condition",
            NodeKind::Switch { .. } => "switch",
            NodeKind::Set { .. } => "set",
            NodeKind::Queue { .. } => "queue",
            NodeKind::Transfer { .. } => "transfer",
            NodeKind::Voicemail { .. } => "voicemail",
            NodeKind::Callback { .. } => "callback",
            NodeKind::Hangup { .. } => "hangup",
        }
    }

    /// Nodes that pass control on without waiting for the caller or the world.
    pub fn is_instant(&self) -> bool {
        matches!(
            self,
            NodeKind::Condition { .. } | NodeKind::Switch { .. } | NodeKind::Set { .. }
        )
    }

    /// Every node this one can go to.
    pub fn successors(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        match self {
            NodeKind::Play { next, .. } | NodeKind::Set { next, .. } => out.push(*next),
            NodeKind::Menu {
                options,
                on_failure,
                ..
            } => {
                out.extend(options.iter().map(|(_, n)| *n));
                out.extend(on_failure);
            }
            NodeKind::Collect {
                next, on_failure, ..
            } => {
                out.push(*next);
                out.extend(on_failure);
            }
            NodeKind::Lookup {
                next,
                not_found,
                on_error,
                ..
            } => out.extend([*next, *not_found, *on_error]),
            NodeKind::Condition {
                then, otherwise, ..
            } => out.extend([*then, *otherwise]),
            NodeKind::Switch { cases, default, .. } => {
                out.extend(cases.iter().map(|(_, n)| *n));
                out.push(*default);
            }
            NodeKind::Queue { callback, next, .. } => {
                out.extend(callback.iter().map(|(_, n)| *n));
                out.extend(next);
            }
            NodeKind::Transfer { on_failure, .. } => out.extend(on_failure),
            NodeKind::Voicemail { next, .. } => out.extend(next),
            NodeKind::Callback { .. } | NodeKind::Hangup { .. } => {}
        }
        out
    }
}
