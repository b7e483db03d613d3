//! The interpreter: one caller's walk through a flow. Inputs and time go in; actions for the
//! telephony shell, a trace for the timeline, and the next deadline come out.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::expr::{Env, Template, Value};
use crate::flow::*;

/// Unix time in milliseconds (wall time: business hours read it).
pub type Millis = i64;

/// One thing to say, resolved for the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Speech {
    Text { text: String, language: String },
    File { path: String },
    Pause { ms: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LookupRequest {
    Table {
        table: String,
        key: String,
    },
    Customer {
        identifier: String,
    },
    Http {
        method: HttpMethod,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    Agent { agent: String },
    Queue { queue: String },
    Number { number: String },
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Play a phrase; `Input::PromptFinished` when it ends. A new `Play` replaces one playing.
    Play {
        speech: Vec<Speech>,
        barge_in: bool,
    },
    StopPlayback,
    /// Music on hold until `StopMusic`; prompts play over it. `None` is the tenant's default.
    Music(Option<Vec<Speech>>),
    StopMusic,
    /// Answer with `Input::Lookup` carrying the same id; after `budget_ms` it is too late.
    Lookup {
        id: u64,
        request: LookupRequest,
        budget_ms: u64,
    },
    /// The flow stopped waiting for this lookup (its budget ran out).
    CancelLookup {
        id: u64,
    },
    /// Put the call in a queue; `Input::QueueStatus` keeps the flow told of its place.
    Enqueue {
        queue: String,
        priority: i32,
        skills: Vec<(String, u8)>,
    },
    /// Take the call out of its queue (max wait reached, or going elsewhere).
    Dequeue,
    /// Turn the call into a callback to `number` that keeps its place in `queue`.
    Callback {
        queue: String,
        number: String,
    },
    /// Ring the target; `Input::Answered` or `Input::TransferFailed`.
    Transfer {
        target: Target,
        timeout_ms: u64,
    },
    CancelTransfer,
    /// Record the caller after a beep; `Input::RecordingDone` when it ends.
    RecordVoicemail {
        queue: String,
        max_ms: u64,
    },
    StopRecording,
    Hangup,
}

/// What a lookup gave.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupResult {
    /// A JSON object (or array: its first element) whose fields become variables.
    Found(serde_json::Value),
    NotFound,
    Failed(String),
}

/// What happened to the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Digit(char),
    /// The phrase of the last `Play` ended (not sent for a stopped one).
    PromptFinished,
    Lookup {
        id: u64,
        result: LookupResult,
    },
    QueueStatus {
        position: u32,
        estimated_wait_s: Option<u64>,
    },
    /// The queue could not take the call (no such queue, closed to new contacts).
    QueueRejected(String),
    /// An agent (from the queue or a transfer) answered: the flow's work is done.
    Answered {
        agent: String,
    },
    TransferFailed(String),
    RecordingDone {
        duration_ms: u64,
    },
    /// The caller hung up.
    HangUp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The flow hung up (a goodbye, or a menu the caller never answered).
    Completed,
    /// The caller hung up before the flow was done.
    Abandoned,
    /// An agent answered from a queue.
    Connected,
    /// A transfer was answered.
    Transferred,
    Voicemail,
    CallbackRequested,
    /// The flow could not go on (a loop, a callback with no queue); the call was ended.
    Failed,
}

/// One entry of the trace: the timeline's IVR steps and the screen pop's "what happened".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub at: Millis,
    pub node: String,
    #[serde(flatten)]
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    Entered { node_type: String },
    Played { speech: Vec<Speech> },
    MenuChoice { digit: char },
    MenuInvalid { digit: char },
    NoInput,
    MenuFailed,
    Collected { into: String, digits: String },
    CollectInvalid { digits: String },
    CollectFailed,
    LookupFound { into: String },
    LookupNotFound,
    LookupError { error: String },
    LookupTimeout,
    Branch { to: String },
    Set { vars: BTreeMap<String, Value> },
    Queued { queue: String },
    Announced { position: Option<u32> },
    QueueMaxWait,
    QueueRejected { reason: String },
    CallbackKey,
    CallbackRequested { queue: String },
    Answered { agent: String },
    TransferStarted { target: Target },
    TransferFailed { reason: String },
    VoicemailRecorded { duration_ms: u64 },
    Ended { outcome: Outcome },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The node's prompt is playing.
    Prompting,
    /// Waiting for the caller (after the prompt).
    Waiting,
}

#[derive(Debug, Clone, PartialEq)]
enum Wait {
    /// Between nodes, or not started.
    Idle,
    Play,
    Menu {
        phase: Phase,
        tries: u32,
    },
    Collect {
        phase: Phase,
        tries: u32,
        digits: String,
    },
    Lookup {
        id: u64,
    },
    Queue {
        announcing: bool,
    },
    Transfer {
        ringing: bool,
    },
    Voicemail {
        recording: bool,
    },
    /// A goodbye is playing; the call ends with this outcome after it.
    Goodbye(Outcome),
    Done(Outcome),
}

/// Steps through instant nodes at most this many times in one go (validation refuses loops
/// of instant nodes; this is the guard for what it cannot see).
const MAX_INSTANT_STEPS: usize = 1_000;

pub struct Call {
    flow: Arc<Flow>,
    calendars: Arc<Vec<Calendar>>,
    vars: BTreeMap<String, Value>,
    language: String,
    priority: i32,
    skills: Vec<(String, u8)>,
    now: Millis,
    node: NodeId,
    wait: Wait,
    /// Digits typed during a prompt that allowed barge-in, for the next menu or collect.
    typeahead: VecDeque<char>,
    deadline: Option<Millis>,
    /// The next queue announcement.
    announce_at: Option<Millis>,
    /// When the voicemail recording started.
    recording_since: Millis,
    /// The queue the call waits in (left there when a callback key is pressed, until the
    /// callback node converts it).
    queued: Option<String>,
    last_queue: Option<String>,
    lookups: u64,
    actions: VecDeque<Action>,
    steps: VecDeque<Step>,
}

struct Vars<'a> {
    vars: &'a BTreeMap<String, Value>,
    calendars: &'a [Calendar],
    now: Millis,
}

impl Env for Vars<'_> {
    fn var(&self, path: &str) -> Value {
        self.vars.get(path).cloned().unwrap_or_default()
    }

    fn open(&self, calendar: &str) -> Option<bool> {
        self.calendars
            .iter()
            .find(|c| c.name == calendar)
            .map(|c| c.is_open(self.now))
    }

    fn holiday(&self, calendar: &str) -> Option<bool> {
        self.calendars
            .iter()
            .find(|c| c.name == calendar)
            .map(|c| c.is_holiday(self.now))
    }
}

impl Call {
    /// A call entering `flow` with what is known of it (`caller.number`, `customer.*`,
    /// `call.dialed`…). Nothing happens until [`Call::start`].
    pub fn new(
        flow: Arc<Flow>,
        calendars: Arc<Vec<Calendar>>,
        vars: BTreeMap<String, Value>,
    ) -> Call {
        let language = flow.language.clone();
        let start = flow.start;
        Call {
            flow,
            calendars,
            vars,
            language,
            priority: 0,
            skills: Vec::new(),
            now: 0,
            node: start,
            wait: Wait::Idle,
            typeahead: VecDeque::new(),
            deadline: None,
            announce_at: None,
            recording_since: 0,
            queued: None,
            last_queue: None,
            lookups: 0,
            actions: VecDeque::new(),
            steps: VecDeque::new(),
        }
    }

    pub fn start(&mut self, now: Millis) {
        self.now = now;
        if self.wait == Wait::Idle {
            self.enter(self.flow.start);
        }
    }

    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    pub fn vars(&self) -> &BTreeMap<String, Value> {
        &self.vars
    }

    pub fn language(&self) -> &str {
        &self.language
    }

    /// The node the call is at.
    pub fn current(&self) -> &str {
        &self.flow.nodes[self.node].name
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.wait {
            Wait::Done(o) => Some(o),
            _ => None,
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_step(&mut self) -> Option<Step> {
        self.steps.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        match (self.deadline, self.announce_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Millis) {
        self.now = now;
        if matches!(self.wait, Wait::Done(_)) {
            return;
        }
        if let Some(at) = self.announce_at {
            if at <= now {
                self.announce_at = None;
                self.announce();
            }
        }
        if let Some(at) = self.deadline {
            if at <= now {
                self.deadline = None;
                self.expired();
            }
        }
    }

    pub fn handle(&mut self, now: Millis, input: Input) {
        self.now = now;
        if matches!(self.wait, Wait::Done(_)) {
            return;
        }
        match input {
            Input::HangUp => {
                // Nothing queued for the caller matters any more; what runs elsewhere stops.
                self.actions.clear();
                match self.wait {
                    Wait::Lookup { id } => self.actions.push_back(Action::CancelLookup { id }),
                    Wait::Transfer { ringing: true } => {
                        self.actions.push_back(Action::CancelTransfer)
                    }
                    // Hanging up is how most callers end a message: it is left, not abandoned.
                    Wait::Voicemail { recording: true } => {
                        self.actions.push_back(Action::StopRecording);
                        let duration_ms = (self.now - self.recording_since).max(0) as u64;
                        self.step(What::VoicemailRecorded { duration_ms });
                        self.finish(Outcome::Voicemail, false);
                        return;
                    }
                    _ => {}
                }
                self.finish(Outcome::Abandoned, false);
            }
            Input::Answered { agent } => {
                if self.queued.is_some() || matches!(self.wait, Wait::Transfer { .. }) {
                    let outcome = if matches!(self.wait, Wait::Transfer { .. }) {
                        Outcome::Transferred
                    } else {
                        Outcome::Connected
                    };
                    self.step(What::Answered { agent });
                    self.actions.push_back(Action::StopPlayback);
                    if self.queued.take().is_some() {
                        self.actions.push_back(Action::StopMusic);
                    }
                    self.finish(outcome, false);
                }
            }
            Input::Digit(d) => self.digit(d),
            Input::PromptFinished => self.prompt_finished(),
            Input::Lookup { id, result } => self.lookup_done(id, result),
            Input::QueueStatus {
                position,
                estimated_wait_s,
            } => {
                self.vars
                    .insert("queue.position".into(), Value::Num(position as f64));
                if let Some(s) = estimated_wait_s {
                    self.vars
                        .insert("queue.wait_seconds".into(), Value::Num(s as f64));
                    self.vars.insert(
                        "queue.wait_minutes".into(),
                        Value::Num(s.div_ceil(60).max(1) as f64),
                    );
                }
            }
            Input::QueueRejected(reason) => {
                if matches!(self.wait, Wait::Queue { .. }) {
                    self.queued = None;
                    self.announce_at = None;
                    self.deadline = None;
                    self.actions.push_back(Action::StopMusic);
                    self.step(What::QueueRejected { reason });
                    match self.node_kind() {
                        NodeKind::Queue { next: Some(n), .. } => {
                            let n = *n;
                            self.enter(n)
                        }
                        _ => self.goodbye(Prompt::default(), Outcome::Failed),
                    }
                }
            }
            Input::TransferFailed(reason) => {
                if matches!(self.wait, Wait::Transfer { ringing: true }) {
                    self.transfer_failed(reason);
                }
            }
            Input::RecordingDone { duration_ms } => {
                if let Wait::Voicemail { recording: true } = self.wait {
                    self.deadline = None;
                    self.step(What::VoicemailRecorded { duration_ms });
                    match self.node_kind() {
                        NodeKind::Voicemail { next: Some(n), .. } => {
                            let n = *n;
                            self.vars.insert("voicemail".into(), Value::Bool(true));
                            self.enter(n)
                        }
                        _ => self.finish(Outcome::Voicemail, true),
                    }
                }
            }
        }
    }

    fn node_kind(&self) -> &NodeKind {
        &self.flow.nodes[self.node].kind
    }

    fn env(&self) -> Vars<'_> {
        Vars {
            vars: &self.vars,
            calendars: &self.calendars,
            now: self.now,
        }
    }

    fn step(&mut self, what: What) {
        self.steps.push_back(Step {
            at: self.now,
            node: self.flow.nodes[self.node].name.clone(),
            what,
        });
    }

    fn speech(&self, prompt: &Prompt) -> Vec<Speech> {
        let env = self.env();
        prompt
            .0
            .iter()
            .filter_map(|p| match p {
                PromptPart::Text { text, language } => {
                    let text = text.render(&env);
                    (!text.trim().is_empty()).then(|| Speech::Text {
                        text,
                        language: language.clone().unwrap_or_else(|| self.language.clone()),
                    })
                }
                PromptPart::File(t) => Some(Speech::File {
                    path: t.render(&env),
                }),
                PromptPart::Pause { ms } => Some(Speech::Pause { ms: *ms }),
            })
            .collect()
    }

    /// Plays the phrase made of `prompts`; false when it is empty (nothing to wait for).
    fn play(&mut self, prompts: &[&Prompt], barge_in: bool) -> bool {
        let speech: Vec<Speech> = prompts.iter().flat_map(|p| self.speech(p)).collect();
        if speech.is_empty() {
            return false;
        }
        self.step(What::Played {
            speech: speech.clone(),
        });
        self.actions.push_back(Action::Play { speech, barge_in });
        true
    }

    fn enter(&mut self, mut node: NodeId) {
        for _ in 0..MAX_INSTANT_STEPS {
            self.node = node;
            self.deadline = None;
            self.wait = Wait::Idle;
            let flow = Arc::clone(&self.flow);
            let kind = &flow.nodes[node].kind;
            self.step(What::Entered {
                node_type: kind.type_name().to_string(),
            });
            if self.queued.is_some()
                && !matches!(kind, NodeKind::Callback { .. } | NodeKind::Queue { .. })
                && !kind.is_instant()
            {
                // Left the queue by the callback key but went elsewhere.
                self.queued = None;
                self.actions.push_back(Action::StopMusic);
                self.actions.push_back(Action::Dequeue);
            }
            match kind {
                NodeKind::Condition {
                    test,
                    then,
                    otherwise,
                } => {
                    let to = if test.eval(&self.env()).truthy() {
                        *then
                    } else {
                        *otherwise
                    };
                    node = self.branch(&flow, to);
                }
                NodeKind::Switch {
                    value,
                    cases,
                    default,
                } => {
                    let v = value.render(&self.env());
                    let to = cases
                        .iter()
                        .find(|(c, _)| *c == v)
                        .map_or(*default, |(_, n)| *n);
                    node = self.branch(&flow, to);
                }
                NodeKind::Set {
                    vars,
                    priority,
                    skills,
                    language,
                    next,
                } => {
                    let mut set = BTreeMap::new();
                    for (name, t) in vars {
                        let v = t.value(&self.env());
                        set.insert(name.clone(), v);
                    }
                    self.vars.extend(set.clone());
                    if let Some(p) = priority {
                        self.priority = self.priority.saturating_add(*p);
                        set.insert("priority".into(), Value::Num(self.priority as f64));
                    }
                    for s in skills {
                        if let Some(have) = self.skills.iter_mut().find(|(n, _)| *n == s.0) {
                            have.1 = s.1;
                        } else {
                            self.skills.push(s.clone());
                        }
                        set.insert(format!("skill.{}", s.0), Value::Num(s.1 as f64));
                    }
                    if let Some(l) = language {
                        self.language = l.clone();
                        set.insert("language".into(), Value::Str(l.clone()));
                    }
                    self.step(What::Set { vars: set });
                    node = *next;
                }
                _ => return self.begin(&flow, node),
            }
        }
        self.goodbye(Prompt::default(), Outcome::Failed);
    }

    /// A condition or switch went to `to`: said in the trace.
    fn branch(&mut self, flow: &Flow, to: NodeId) -> NodeId {
        self.step(What::Branch {
            to: flow.nodes[to].name.clone(),
        });
        to
    }

    /// Starts a node that waits for something.
    fn begin(&mut self, flow: &Flow, node: NodeId) {
        match &flow.nodes[node].kind {
            NodeKind::Play {
                prompt,
                barge_in,
                next,
            } => {
                if self.play(&[prompt], *barge_in) {
                    self.wait = Wait::Play;
                } else {
                    self.enter(*next);
                }
            }
            NodeKind::Menu { prompt, .. } => {
                self.wait = Wait::Menu {
                    phase: Phase::Prompting,
                    tries: 0,
                };
                if let Some(d) = self.typeahead.pop_front() {
                    self.typeahead.clear();
                    return self.menu_choice(d);
                }
                self.prompt_or_wait(&[prompt]);
            }
            NodeKind::Collect { prompt, .. } => {
                self.wait = Wait::Collect {
                    phase: Phase::Prompting,
                    tries: 0,
                    digits: String::new(),
                };
                let ahead: Vec<char> = self.typeahead.drain(..).collect();
                if ahead.is_empty() {
                    self.prompt_or_wait(&[prompt]);
                } else {
                    if let Wait::Collect { phase, .. } = &mut self.wait {
                        *phase = Phase::Waiting;
                    }
                    for d in ahead {
                        if !matches!(self.wait, Wait::Collect { .. }) || self.node != node {
                            break;
                        }
                        self.collect_digit(d);
                    }
                }
            }
            NodeKind::Lookup {
                source,
                into: _,
                budget_ms,
                waiting,
                ..
            } => {
                self.lookups += 1;
                let id = self.lookups;
                let env = self.env();
                let request = match source {
                    LookupSource::Table { table, key } => LookupRequest::Table {
                        table: table.clone(),
                        key: key.render(&env),
                    },
                    LookupSource::Customer { identifier } => LookupRequest::Customer {
                        identifier: identifier.render(&env),
                    },
                    LookupSource::Http {
                        method,
                        url,
                        headers,
                        body,
                    } => LookupRequest::Http {
                        method: *method,
                        url: url.render(&env),
                        headers: headers
                            .iter()
                            .map(|(k, v)| (k.clone(), v.render(&env)))
                            .collect(),
                        body: body.as_ref().map(|b| b.render(&env)),
                    },
                };
                self.actions.push_back(Action::Lookup {
                    id,
                    request,
                    budget_ms: *budget_ms,
                });
                self.wait = Wait::Lookup { id };
                self.deadline = Some(self.now + *budget_ms as i64);
                self.play(&[waiting], false);
            }
            NodeKind::Queue {
                queue,
                music,
                announce,
                max_wait_ms,
                ..
            } => {
                self.typeahead.clear();
                self.wait = Wait::Queue { announcing: false };
                if self.queued.as_deref() != Some(queue.as_str()) {
                    if self.queued.take().is_some() {
                        self.actions.push_back(Action::Dequeue);
                    }
                    self.actions.push_back(Action::Enqueue {
                        queue: queue.clone(),
                        priority: self.priority,
                        skills: self.skills.clone(),
                    });
                    self.step(What::Queued {
                        queue: queue.clone(),
                    });
                }
                self.vars
                    .insert("queue.name".into(), Value::Str(queue.clone()));
                self.queued = Some(queue.clone());
                self.last_queue = Some(queue.clone());
                let music = music.as_ref().map(|m| self.speech(m));
                self.actions.push_back(Action::Music(music));
                self.announce_at = announce.as_ref().map(|a| self.now + a.every_ms as i64);
                self.deadline = max_wait_ms.map(|ms| self.now + ms as i64);
            }
            NodeKind::Transfer {
                target,
                prompt,
                timeout_ms,
                ..
            } => {
                self.typeahead.clear();
                let env = self.env();
                let target = match target {
                    TransferTarget::Agent(a) => Target::Agent {
                        agent: a.render(&env),
                    },
                    TransferTarget::Queue(q) => Target::Queue { queue: q.clone() },
                    TransferTarget::Number(n) => Target::Number {
                        number: n.render(&env),
                    },
                };
                self.play(&[prompt], false);
                self.step(What::TransferStarted {
                    target: target.clone(),
                });
                if let Target::Queue { queue } = &target {
                    self.queued = Some(queue.clone());
                    self.last_queue = Some(queue.clone());
                    self.actions.push_back(Action::Enqueue {
                        queue: queue.clone(),
                        priority: self.priority,
                        skills: self.skills.clone(),
                    });
                    self.actions.push_back(Action::Music(None));
                    self.wait = Wait::Queue { announcing: false };
                } else {
                    self.actions.push_back(Action::Transfer {
                        target,
                        timeout_ms: *timeout_ms,
                    });
                    self.wait = Wait::Transfer { ringing: true };
                    self.deadline = Some(self.now + *timeout_ms as i64);
                }
            }
            NodeKind::Voicemail { prompt, .. } => {
                self.typeahead.clear();
                self.wait = Wait::Voicemail { recording: false };
                if !self.play(&[prompt], false) {
                    self.start_recording();
                }
            }
            NodeKind::Callback {
                number,
                queue,
                prompt,
            } => {
                let number = number.render(&self.env());
                let queue = queue.clone().or_else(|| self.last_queue.clone());
                match queue {
                    Some(queue) if !number.trim().is_empty() => {
                        self.queued = None;
                        self.actions.push_back(Action::StopMusic);
                        self.actions.push_back(Action::Callback {
                            queue: queue.clone(),
                            number,
                        });
                        self.step(What::CallbackRequested { queue });
                        let prompt = prompt.clone();
                        self.goodbye(prompt, Outcome::CallbackRequested);
                    }
                    _ => {
                        let prompt = prompt.clone();
                        self.goodbye(prompt, Outcome::Failed)
                    }
                }
            }
            NodeKind::Hangup { prompt } => {
                let prompt = prompt.clone();
                self.goodbye(prompt, Outcome::Completed)
            }
            NodeKind::Condition { .. } | NodeKind::Switch { .. } | NodeKind::Set { .. } => {
                unreachable!("instant nodes are stepped by enter")
            }
        }
    }

    fn prompt_or_wait(&mut self, prompts: &[&Prompt]) {
        if !self.play(prompts, true) {
            self.prompt_finished();
        }
    }

    fn goodbye(&mut self, prompt: Prompt, outcome: Outcome) {
        self.typeahead.clear();
        self.announce_at = None;
        self.deadline = None;
        if self.queued.take().is_some() {
            self.actions.push_back(Action::StopMusic);
            self.actions.push_back(Action::Dequeue);
        }
        if self.play(&[&prompt], false) {
            self.wait = Wait::Goodbye(outcome);
        } else {
            self.finish(outcome, true);
        }
    }

    fn finish(&mut self, outcome: Outcome, hang_up: bool) {
        self.deadline = None;
        self.announce_at = None;
        if hang_up {
            self.actions.push_back(Action::Hangup);
        }
        self.step(What::Ended {
            outcome: outcome.clone(),
        });
        self.wait = Wait::Done(outcome);
    }

    fn prompt_finished(&mut self) {
        let flow = Arc::clone(&self.flow);
        match (&mut self.wait, &flow.nodes[self.node].kind) {
            (Wait::Play, NodeKind::Play { next, .. }) => self.enter(*next),
            (
                Wait::Menu { phase, .. } | Wait::Collect { phase, .. },
                NodeKind::Menu { timeout_ms, .. } | NodeKind::Collect { timeout_ms, .. },
            ) if *phase == Phase::Prompting => {
                *phase = Phase::Waiting;
                self.deadline = Some(self.now + *timeout_ms as i64);
            }
            (Wait::Queue { announcing }, _) => *announcing = false,
            (Wait::Voicemail { recording: false }, _) => self.start_recording(),
            (Wait::Goodbye(outcome), _) => {
                let outcome = outcome.clone();
                self.finish(outcome, true)
            }
            _ => {}
        }
    }

    fn start_recording(&mut self) {
        if let NodeKind::Voicemail { max_ms, queue, .. } = self.node_kind() {
            let (max_ms, queue) = (*max_ms, queue.clone());
            self.actions
                .push_back(Action::RecordVoicemail { queue, max_ms });
            self.wait = Wait::Voicemail { recording: true };
            self.recording_since = self.now;
            // The shell stops at max; this is the guard if it never says so.
            self.deadline = Some(self.now + max_ms as i64 + 5_000);
        }
    }

    fn digit(&mut self, d: char) {
        match &self.wait {
            Wait::Play => {
                if let NodeKind::Play {
                    barge_in: true,
                    next,
                    ..
                } = self.node_kind()
                {
                    let next = *next;
                    self.actions.push_back(Action::StopPlayback);
                    self.typeahead.push_back(d);
                    self.enter(next);
                }
            }
            Wait::Menu { phase, .. } => {
                if *phase == Phase::Prompting {
                    self.actions.push_back(Action::StopPlayback);
                }
                self.menu_choice(d);
            }
            Wait::Collect { .. } => self.collect_digit(d),
            Wait::Queue { announcing } => {
                let announcing = *announcing;
                if let NodeKind::Queue {
                    callback: Some((key, next)),
                    ..
                } = self.node_kind()
                {
                    if *key == d {
                        let next = *next;
                        if announcing {
                            self.actions.push_back(Action::StopPlayback);
                        }
                        self.announce_at = None;
                        self.step(What::CallbackKey);
                        self.enter(next);
                    }
                }
            }
            Wait::Voicemail { recording: true } if d == '#' => {
                self.actions.push_back(Action::StopRecording);
            }
            _ => {}
        }
    }

    fn menu_choice(&mut self, d: char) {
        let NodeKind::Menu { options, .. } = self.node_kind() else {
            return;
        };
        match options.iter().find(|(k, _)| *k == d).map(|(_, n)| *n) {
            Some(to) => {
                self.step(What::MenuChoice { digit: d });
                let name = self.flow.nodes[self.node].name.clone();
                self.vars
                    .insert(format!("menu.{name}"), Value::Str(d.to_string()));
                self.enter(to);
            }
            None => {
                self.step(What::MenuInvalid { digit: d });
                self.retry(true);
            }
        }
    }

    fn collect_digit(&mut self, d: char) {
        let NodeKind::Collect {
            max,
            terminator,
            inter_digit_ms,
            ..
        } = self.node_kind()
        else {
            return;
        };
        let (max, terminator, inter) = (*max, *terminator, *inter_digit_ms);
        let Wait::Collect { phase, digits, .. } = &mut self.wait else {
            return;
        };
        if *phase == Phase::Prompting {
            self.actions.push_back(Action::StopPlayback);
            *phase = Phase::Waiting;
        }
        if Some(d) == terminator {
            return self.collect_done();
        }
        digits.push(d);
        if digits.chars().count() >= max {
            return self.collect_done();
        }
        self.deadline = Some(self.now + inter as i64);
    }

    fn collect_done(&mut self) {
        self.deadline = None;
        let Wait::Collect { digits, .. } = &self.wait else {
            return;
        };
        let digits = digits.clone();
        let NodeKind::Collect {
            min,
            into,
            valid,
            next,
            ..
        } = self.node_kind()
        else {
            return;
        };
        let (min, into, next) = (*min, into.clone(), *next);
        if digits.is_empty() {
            self.step(What::NoInput);
            return self.retry(false);
        }
        let ok = digits.chars().count() >= min
            && valid.as_ref().is_none_or(|v| {
                let mut vars = self.vars.clone();
                vars.insert("value".into(), Value::Str(digits.clone()));
                v.eval(&Vars {
                    vars: &vars,
                    calendars: &self.calendars,
                    now: self.now,
                })
                .truthy()
            });
        if ok {
            self.vars.insert(into.clone(), Value::Str(digits.clone()));
            self.step(What::Collected { into, digits });
            self.enter(next);
        } else {
            self.step(What::CollectInvalid { digits });
            self.retry(true);
        }
    }

    /// Invalid input or silence: play the matching prompt and the node's own again, or fail.
    fn retry(&mut self, invalid: bool) {
        let flow = Arc::clone(&self.flow);
        let (prompt, retries, invalid_p, no_input_p, on_failure) = match &flow.nodes[self.node].kind
        {
            NodeKind::Menu {
                prompt,
                retries,
                invalid,
                no_input,
                on_failure,
                ..
            }
            | NodeKind::Collect {
                prompt,
                retries,
                invalid,
                no_input,
                on_failure,
                ..
            } => (prompt, *retries, invalid, no_input, *on_failure),
            _ => return,
        };
        let tries = match &mut self.wait {
            Wait::Menu { tries, phase } => {
                *tries += 1;
                *phase = Phase::Prompting;
                *tries
            }
            Wait::Collect {
                tries,
                phase,
                digits,
            } => {
                *tries += 1;
                *phase = Phase::Prompting;
                digits.clear();
                *tries
            }
            _ => return,
        };
        self.typeahead.clear();
        if tries > retries {
            let what = if matches!(self.wait, Wait::Menu { .. }) {
                What::MenuFailed
            } else {
                What::CollectFailed
            };
            self.step(what);
            match on_failure {
                Some(n) => self.enter(n),
                None => self.goodbye(Prompt::default(), Outcome::Completed),
            }
            return;
        }
        let first = if invalid { invalid_p } else { no_input_p };
        self.prompt_or_wait(&[first, prompt]);
    }

    fn expired(&mut self) {
        match &self.wait {
            Wait::Menu { .. } => {
                self.step(What::NoInput);
                self.retry(false);
            }
            Wait::Collect { .. } => self.collect_done(),
            Wait::Lookup { id } => {
                let id = *id;
                self.actions.push_back(Action::CancelLookup { id });
                self.actions.push_back(Action::StopPlayback);
                self.step(What::LookupTimeout);
                if let NodeKind::Lookup { on_error, .. } = self.node_kind() {
                    let n = *on_error;
                    self.enter(n);
                }
            }
            Wait::Queue { .. } => {
                self.step(What::QueueMaxWait);
                self.queued = None;
                self.announce_at = None;
                self.actions.push_back(Action::StopMusic);
                self.actions.push_back(Action::Dequeue);
                if let NodeKind::Queue { next: Some(n), .. } = self.node_kind() {
                    let n = *n;
                    self.enter(n);
                }
            }
            Wait::Transfer { ringing: true } => {
                self.actions.push_back(Action::CancelTransfer);
                self.transfer_failed("no answer".into());
            }
            Wait::Voicemail { recording: true } => {
                self.actions.push_back(Action::StopRecording);
                self.step(What::VoicemailRecorded { duration_ms: 0 });
                self.finish(Outcome::Voicemail, true);
            }
            _ => {}
        }
    }

    fn transfer_failed(&mut self, reason: String) {
        self.deadline = None;
        self.wait = Wait::Transfer { ringing: false };
        self.step(What::TransferFailed { reason });
        match self.node_kind() {
            NodeKind::Transfer {
                on_failure: Some(n),
                ..
            } => {
                let n = *n;
                self.enter(n)
            }
            _ => self.goodbye(Prompt::default(), Outcome::Failed),
        }
    }

    fn lookup_done(&mut self, id: u64, result: LookupResult) {
        if self.wait != (Wait::Lookup { id }) {
            return; // late: the budget already ran out
        }
        self.deadline = None;
        self.actions.push_back(Action::StopPlayback);
        let NodeKind::Lookup {
            into,
            next,
            not_found,
            on_error,
            ..
        } = self.node_kind()
        else {
            return;
        };
        let (into, next, not_found, on_error) = (into.clone(), *next, *not_found, *on_error);
        match result {
            LookupResult::Found(json) => {
                let json = match json {
                    serde_json::Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
                    other => other,
                };
                if !json.is_object() {
                    self.step(What::LookupNotFound);
                    return self.enter(not_found);
                }
                let prefix = format!("{into}.");
                self.vars.retain(|k, _| !k.starts_with(&prefix));
                flatten(&into, &json, &mut self.vars, 0);
                self.vars.insert(into.clone(), Value::Bool(true));
                self.step(What::LookupFound { into });
                self.enter(next);
            }
            LookupResult::NotFound => {
                self.step(What::LookupNotFound);
                self.enter(not_found);
            }
            LookupResult::Failed(error) => {
                self.step(What::LookupError { error });
                self.enter(on_error);
            }
        }
    }

    fn announce(&mut self) {
        let NodeKind::Queue {
            announce: Some(a), ..
        } = self.node_kind()
        else {
            return;
        };
        let (every, prompt) = (a.every_ms, a.prompt.clone());
        if let Wait::Queue { announcing } = &mut self.wait {
            *announcing = true;
        }
        let position = match self.vars.get("queue.position") {
            Some(Value::Num(n)) => Some(*n as u32),
            _ => None,
        };
        self.step(What::Announced { position });
        self.play(&[&prompt], false);
        self.announce_at = Some(self.now + every as i64);
    }
}

/// Fields of a JSON object as `prefix.field`, nested objects deeper (to a bound).
fn flatten(
    prefix: &str,
    json: &serde_json::Value,
    out: &mut BTreeMap<String, Value>,
    depth: usize,
) {
    match json {
        serde_json::Value::Object(map) if depth < 4 => {
            for (k, v) in map.iter().take(200) {
                flatten(&format!("{prefix}.{k}"), v, out, depth + 1);
            }
        }
        serde_json::Value::Object(_) | serde_json::Value::Array(_) => {}
        v => {
            if depth > 0 {
                out.insert(prefix.to_string(), Value::from_json(v));
            }
        }
    }
}

/// Variables as a template sees them (for the shell's own texts).
pub fn render(template: &Template, vars: &BTreeMap<String, Value>) -> String {
    template.render(&Vars {
        vars,
        calendars: &[],
        now: 0,
    })
}
