//! Rebuilding after a restart. The shell stores every [`Event`]; on start it feeds the stored
//! events of the agents and of the interactions still open, in order, to a [`Journal`], and gives
//! the resulting [`Restore`] to [`crate::Engine::restore`].
//!
//! What comes back: every agent's presence (who was logged in, ready or not); contacts that
//! survive a restart — callbacks (waiting or between attempts, with their attempts counted),
//! chats, e-mails and forms waiting (an offer that was out is simply waiting again), and non-voice
//! contacts an agent was working on (so capacity stays honest). A voice call that was waiting or
//! connected did not survive the process that carried it, so it is not restored.

use crate::engine::{ContactSpec, Presence};
use crate::event::Event;
use crate::ids::{AgentId, ContactId, QueueId};
use crate::time::Time;
use hotline_model::Channel;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Restore {
    /// Agent, presence, since when.
    pub agents: Vec<(AgentId, Presence, Time)>,
    /// In their original order of arrival in the engine (which breaks ties between equals).
    pub contacts: Vec<RestoredContact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoredContact {
    /// As first queued, with `arrived_at` set.
    pub spec: ContactSpec,
    /// The queue it is in now (after overflows).
    pub queue: QueueId,
    pub queued_at: Time,
    pub callback_number: Option<String>,
    pub callback_attempts: u32,
    pub parked_until: Option<Time>,
    pub serving_agent: Option<AgentId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Waiting,
    Serving(AgentId),
}

#[derive(Debug)]
struct Entry {
    c: RestoredContact,
    held: Held,
}

/// Folds stored events into the state to restore.
#[derive(Debug, Default)]
pub struct Journal {
    agents: BTreeMap<AgentId, (Presence, Time)>,
    contacts: HashMap<ContactId, Entry>,
    order: Vec<ContactId>,
}

impl Journal {
    pub fn new() -> Journal {
        Journal::default()
    }

    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::AgentState {
                agent,
                presence,
                at,
                ..
            } => {
                let changed = self.agents.get(agent).is_none_or(|(p, _)| p != presence);
                if changed {
                    self.agents.insert(*agent, (presence.clone(), *at));
                }
            }
            Event::Queued {
                contact,
                queue,
                channel,
                priority,
                requirements,
                preferred_agent,
                arrived_at,
                preferred_for_ms,
                not_before,
                at,
                ..
            } => {
                let spec = ContactSpec {
                    id: *contact,
                    queue: *queue,
                    channel: *channel,
                    priority: *priority,
                    requirements: requirements.clone(),
                    preferred_agent: *preferred_agent,
                    arrived_at: Some(*arrived_at),
                    callback_number: None,
                    preferred_for: preferred_for_ms.map(std::time::Duration::from_millis),
                    not_before: *not_before,
                };
                self.order.push(*contact);
                self.contacts.insert(
                    *contact,
                    Entry {
                        c: RestoredContact {
                            spec,
                            queue: *queue,
                            queued_at: not_before.unwrap_or(*at),
                            callback_number: None,
                            callback_attempts: 0,
                            parked_until: *not_before,
                            serving_agent: None,
                        },
                        held: Held::Waiting,
                    },
                );
            }
            Event::Overflowed {
                contact, to, at, ..
            } => match to {
                Some(q) => {
                    if let Some(e) = self.contacts.get_mut(contact) {
                        e.c.queue = *q;
                        e.c.queued_at = *at;
                    }
                }
                None => {
                    self.contacts.remove(contact);
                }
            },
            Event::Accepted { contact, agent, .. } => self.hold(*contact, Held::Serving(*agent)),
            Event::Declined { contact, .. }
            | Event::Missed { contact, .. }
            | Event::Withdrawn { contact, .. } => self.hold(*contact, Held::Waiting),
            Event::Abandoned { contact, .. }
            | Event::Ended { contact, .. }
            | Event::CallbackMerged { contact, .. }
            | Event::Cancelled { contact, .. } => {
                self.contacts.remove(contact);
            }
            Event::CallbackRequested {
                contact, number, ..
            } => {
                if let Some(e) = self.contacts.get_mut(contact) {
                    e.c.callback_number = Some(number.clone());
                }
            }
            Event::CallbackReached { contact, .. } => {
                if let Some(e) = self.contacts.get_mut(contact) {
                    e.c.callback_number = None;
                }
            }
            Event::CallbackUnreached {
                contact,
                attempt,
                retry_at,
                ..
            } => match retry_at {
                Some(t) => {
                    if let Some(e) = self.contacts.get_mut(contact) {
                        e.c.callback_attempts = *attempt;
                        e.c.parked_until = Some(*t);
                        e.held = Held::Waiting;
                    }
                }
                None => {
                    self.contacts.remove(contact);
                }
            },
            Event::Offered { .. }
            | Event::Widened { .. }
            | Event::WrapUp { .. }
            | Event::WrapUpEnded { .. }
            | Event::Reconciled { .. } => {}
        }
    }

    fn hold(&mut self, contact: ContactId, held: Held) {
        if let Some(e) = self.contacts.get_mut(&contact) {
            e.held = held;
        }
    }

    pub fn finish(mut self) -> Restore {
        let agents = self
            .agents
            .into_iter()
            .map(|(a, (p, t))| (a, p, t))
            .collect();
        let mut contacts = Vec::new();
        for id in self.order {
            let Some(mut e) = self.contacts.remove(&id) else {
                continue;
            };
            let voice = e.c.spec.channel == Channel::Voice;
            let callback = e.c.callback_number.is_some();
            match e.held {
                Held::Serving(agent) if !voice => e.c.serving_agent = Some(agent),
                // A call in progress died with the process; a callback being dialled is tried again.
                Held::Serving(_) if callback => {}
                Held::Serving(_) => continue,
                Held::Waiting if voice && !callback => continue,
                Held::Waiting => {}
            }
            contacts.push(e.c);
        }
        Restore { agents, contacts }
    }
}
