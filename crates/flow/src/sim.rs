//! A flow run without telephony: scripted caller input in virtual time gives the trace.
//! Prompts take a length estimated from their text, lookups are answered by a closure, and
//! everything the flow asked of the shell is kept for the test to read.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::calendar::Calendar;
use crate::expr::Value;
use crate::flow::Flow;
use crate::run::*;

/// Answers a lookup: after how long, and with what.
/// `None` leaves it unanswered (the test answers with [`Sim::input`], or the budget runs out).
pub type Responder = Box<dyn FnMut(&LookupRequest) -> Option<(u64, LookupResult)>>;

pub struct Sim {
    pub call: Call,
    pub now: Millis,
    /// Every action with the time it was asked for.
    pub actions: Vec<(Millis, Action)>,
    pub steps: Vec<Step>,
    prompt_ends: Option<Millis>,
    lookup: Option<(Millis, u64, LookupResult)>,
    responder: Responder,
}

/// How long a phrase takes: 65 ms a character of text, a second a file, pauses as written.
pub fn duration_ms(speech: &[Speech]) -> u64 {
    speech
        .iter()
        .map(|s| match s {
            Speech::Text { text, .. } => 65 * text.chars().count() as u64,
            Speech::File { .. } => 1_000,
            Speech::Pause { ms } => *ms,
        })
        .sum()
}

impl Sim {
    pub fn new(
        flow: Arc<Flow>,
        calendars: Vec<Calendar>,
        vars: BTreeMap<String, Value>,
        start: Millis,
    ) -> Sim {
        let mut sim = Sim {
            call: Call::new(flow, Arc::new(calendars), vars),
            now: start,
            actions: Vec::new(),
            steps: Vec::new(),
            prompt_ends: None,
            lookup: None,
            responder: Box::new(|_| None),
        };
        sim.call.start(start);
        sim.drain();
        sim
    }

    /// Lookups are answered by `responder` from now on (one asked at start included).
    pub fn respond(
        mut self,
        responder: impl FnMut(&LookupRequest) -> Option<(u64, LookupResult)> + 'static,
    ) -> Sim {
        self.responder = Box::new(responder);
        let pending = self.actions.iter().rev().find_map(|(_, a)| match a {
            Action::Lookup { id, request, .. } => Some((*id, request.clone())),
            _ => None,
        });
        if let (Some((id, request)), None) = (pending, &self.lookup) {
            if self.call.outcome().is_none() {
                if let Some((delay, result)) = (self.responder)(&request) {
                    self.lookup = Some((self.now + delay as i64, id, result));
                }
            }
        }
        self
    }

    fn drain(&mut self) {
        while let Some(a) = self.call.poll_action() {
            match &a {
                Action::Play { speech, .. } => {
                    self.prompt_ends = Some(self.now + duration_ms(speech) as i64)
                }
                Action::StopPlayback => self.prompt_ends = None,
                Action::Lookup { id, request, .. } => {
                    self.lookup = (self.responder)(request)
                        .map(|(delay, result)| (self.now + delay as i64, *id, result));
                }
                Action::CancelLookup { .. } => self.lookup = None,
                _ => {}
            }
            self.actions.push((self.now, a));
        }
        while let Some(s) = self.call.poll_step() {
            self.steps.push(s);
        }
    }

    pub fn input(&mut self, input: Input) {
        self.call.handle(self.now, input);
        self.drain();
    }

    /// Keys pressed one after another, 300 ms apart (time moves on between them).
    pub fn press(&mut self, keys: &str) {
        for (i, k) in keys.chars().enumerate() {
            if i > 0 {
                self.wait(300);
            }
            self.input(Input::Digit(k));
        }
    }

    /// Lets `ms` pass: prompts end, lookups answer and deadlines fire in time order.
    pub fn wait(&mut self, ms: u64) {
        let until = self.now + ms as i64;
        loop {
            let next = [
                self.prompt_ends,
                self.lookup.as_ref().map(|l| l.0),
                self.call.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    if self.prompt_ends == Some(at) {
                        self.prompt_ends = None;
                        self.call.handle(self.now, Input::PromptFinished);
                    } else if self.lookup.as_ref().map(|l| l.0) == Some(at) {
                        if let Some((_, id, result)) = self.lookup.take() {
                            self.call.handle(self.now, Input::Lookup { id, result });
                        }
                    } else {
                        self.call.handle_timeout(self.now);
                    }
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = until;
    }

    /// The trace's kinds in order, for compact assertions.
    pub fn kinds(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| {
                let v = serde_json::to_value(&s.what).unwrap_or_default();
                let kind = v["kind"].as_str().unwrap_or("?").to_string();
                format!("{}:{kind}", s.node)
            })
            .collect()
    }

    /// Everything said to the caller, text parts joined.
    pub fn said(&self) -> Vec<String> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Play { speech, .. } => Some(
                    speech
                        .iter()
                        .map(|s| match s {
                            Speech::Text { text, .. } => text.clone(),
                            Speech::File { path } => format!("<{path}>"),
                            Speech::Pause { ms } => format!("<{ms}ms>"),
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                _ => None,
            })
            .collect()
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.call.outcome()
    }
}
