//! Calls Hotline places itself. Click-to-call: the agent's phone rings first (showing whom it
//! will call); when the agent answers they hear ringback while the customer is dialled out
//! through the tenant's trunk; the customer's answer bridges the two, recorded. Either side's
//! hang-up ends the other. The call is an outbound interaction with its timeline like any
//! other. A callback is the same call offered by routing: the agent's desk gets the screen pop
//! first, routing hears each step (offer accepted or declined, customer reached or not, the
//! end), and a withdrawn offer stops the agent's phone.

use std::sync::Arc;
use std::time::Duration;

use hotline_media::sdp::LocalMedia;
use hotline_model::{Channel, Direction, InteractionState};
use hotline_store::{InteractionPatch, NewInteraction};

use crate::calls::{event, patch, RoutingNote};
use hotline_acd::{AcdLink, Input as RoutingInput};
use hotline_routing::ContactId;
use serde_json::json;
use tokio::sync::mpsc;

use crate::media::{local_media, Driver, EndpointNote, Port};
use crate::shard::{Callee, LegNote, RingRequest, ShardCommand, Shared};

/// How long the agent's phone, then the customer's, may ring.
const RING_TIMEOUT: Duration = Duration::from_secs(40);

/// Ring `agent_id`'s phone, then call `number` for them.
#[derive(Debug, Clone)]
pub struct ClickToCall {
    pub tenant_id: i64,
    pub agent_id: i64,
    /// As the agent typed it (read in the tenant's region).
    pub number: String,
    /// The customer the call is about, when the desk knows; otherwise looked up by number.
    pub customer_id: Option<i64>,
}

/// Why a call could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("no such agent in the tenant")]
    UnknownAgent,
    #[error("not a phone number: {0}")]
    BadNumber(String),
    #[error("no outbound route leads to this number")]
    NoRoute,
    #[error("the media engine is not running")]
    NoMedia,
    #[error("the call could not be stored: {0}")]
    Store(#[from] hotline_store::StoreError),
}

/// Checks the request, creates the interaction and starts the call; its id.
pub(crate) async fn click_to_call(shared: Arc<Shared>, req: ClickToCall) -> Result<i64, DialError> {
    let t = req.tenant_id;
    let agent = shared
        .flows
        .agent(req.agent_id)
        .filter(|a| a.tenant_id == t)
        .ok_or(DialError::UnknownAgent)?;
    let region = shared.flows.tenant(t).region;
    let number = hotline_model::phone::normalize_phone(&req.number, &region)
        .map_err(|e| DialError::BadNumber(e.to_string()))?;
    if !shared.has_route(t, &number) {
        return Err(DialError::NoRoute);
    }
    if shared.media.is_none() {
        return Err(DialError::NoMedia);
    }
    let store = shared.store.clone();
    let customer = match req.customer_id {
        Some(id) => Some(store.get_customer(t, id).await?),
        None => {
            store
                .lookup_customer(t, &region, Some(&number), None)
                .await?
        }
    };
    let (interaction, _) = store
        .create_interaction(
            t,
            &NewInteraction {
                channel: Channel::Voice,
                direction: Direction::Outbound,
                state: InteractionState::Offered,
                customer_id: customer.as_ref().map(|c| c.id),
                queue_id: None,
                agent_id: Some(req.agent_id),
                subject: None,
                notes: String::new(),
                created_at: None,
            },
            "telephony",
        )
        .await?;
    store
        .append_event(
            t,
            interaction.id,
            &event(
                "call.click_to_call",
                json!({ "agent_id": req.agent_id, "to": number, "customer_id": customer.as_ref().map(|c| c.id) }),
            ),
        )
        .await?;
    tracing::info!(interaction = interaction.id, "click-to-call placed");
    // The desk reaches the call (hang-up) as it reaches any call.
    let (tx, rx) = mpsc::unbounded_channel();
    let id = interaction.id;
    shared.register_contact(id, tx);
    let call = Outbound {
        shared,
        tenant: t,
        interaction: interaction.id,
        agent_id: req.agent_id,
        extension: agent.extension,
        number,
        customer_name: customer.map(|c| c.name),
        routing: None,
    };
    let registry = call.shared.clone();
    tokio::spawn(async move {
        call.run(Some(rx)).await;
        registry.unregister_contact(id);
    });
    Ok(id)
}

/// Performs a callback routing offered to `agent`: the desk's screen pop, then the agent's
/// phone, then the customer's number; the original call's interaction gets the timeline.
pub(crate) fn callback(shared: Arc<Shared>, contact: ContactId, agent_id: i64, number: String) {
    let Some(link) = shared.routing() else {
        return;
    };
    let Some(agent) = shared.flows.agent(agent_id) else {
        tracing::warn!(
            agent_id,
            "a callback offered to an agent not in the directory"
        );
        tokio::spawn(async move {
            let _ = link.input(RoutingInput::OfferDeclined(contact)).await;
        });
        return;
    };
    let (tx, rx) = mpsc::unbounded_channel();
    shared.register_contact(contact.0, tx);
    tokio::spawn(async move {
        let t = agent.tenant_id;
        let store = shared.store.clone();
        let customer = match store.get_interaction(t, contact.0).await {
            Ok(i) => match i.customer_id {
                Some(c) => store.get_customer(t, c).await.ok(),
                None => None,
            },
            Err(e) => {
                tracing::warn!(contact = contact.0, error = %e, "a callback's interaction is gone");
                None
            }
        };
        let card = crate::calls::customer_card(&store, t, customer.clone()).await;
        shared.notify(crate::Notice {
            tenant_id: t,
            agent_id: Some(agent_id),
            kind: "contact.offered",
            data: json!({
                "interaction_id": contact.0,
                "channel": "voice",
                "direction": "outbound",
                "callback": true,
                "caller": { "number": number },
                "known": customer.is_some(),
                "card": card,
                "offered_at": crate::shard::wall_ms(),
            }),
        });
        let call = Outbound {
            shared: shared.clone(),
            tenant: t,
            interaction: contact.0,
            agent_id,
            extension: agent.extension,
            number: number.clone(),
            customer_name: customer.map(|c| c.name),
            routing: Some((link, contact)),
        };
        call.append(
            "callback.started",
            json!({ "agent_id": agent_id, "number": number }),
        )
        .await;
        call.run(Some(rx)).await;
        shared.unregister_contact(contact.0);
    });
}

struct Outbound {
    shared: Arc<Shared>,
    tenant: i64,
    interaction: i64,
    agent_id: i64,
    extension: String,
    number: String,
    customer_name: Option<String>,
    /// A callback: routing and its contact, told how the call goes.
    routing: Option<(AcdLink, ContactId)>,
}

/// One leg: its number, port and our side of its media.
struct Leg {
    id: u64,
    port: Option<Port>,
    local: LocalMedia,
}

impl Outbound {
    async fn append(&self, kind: &str, data: serde_json::Value) {
        if let Err(e) = self
            .shared
            .store
            .append_event(self.tenant, self.interaction, &event(kind, data))
            .await
        {
            tracing::error!(interaction = self.interaction, kind, error = %e, "timeline event not stored");
        }
    }

    async fn patch(&self, change: InteractionPatch) {
        patch(&self.shared.store, self.tenant, self.interaction, change).await;
    }

    fn leg(&self) -> Option<Leg> {
        let media = self.shared.media.as_ref()?;
        let port = media.take_port()?;
        let local = local_media(
            media.advertise(),
            port.port,
            crate::shard::random_seed() >> 40,
        );
        Some(Leg {
            id: crate::calls::next_leg(),
            port: Some(port),
            local,
        })
    }

    async fn tell(&self, input: RoutingInput) {
        if let Some((link, _)) = &self.routing {
            if let Err(e) = link.input(input).await {
                tracing::warn!(interaction = self.interaction, error = %e, "routing refused a callback's news");
            }
        }
    }

    fn contact(&self) -> ContactId {
        ContactId(self.interaction)
    }

    async fn run(self, mut withdrawn: Option<mpsc::UnboundedReceiver<RoutingNote>>) {
        // The agent's own call takes their capacity in routing while it lasts: no contact is
        // offered to a phone that is on a call. (A callback is routing's own contact.)
        let own = if self.routing.is_none() {
            self.shared.routing()
        } else {
            None
        };
        let direct = |active| hotline_acd::Input::Direct {
            agent: hotline_routing::AgentId(self.agent_id),
            channel: Channel::Voice,
            active,
        };
        if let Some(link) = &own {
            if let Err(e) = link.input(direct(true)).await {
                tracing::info!(interaction = self.interaction, error = %e, "routing did not take an agent's own call");
            }
        }
        let outcome = self.call(&mut withdrawn).await;
        if let Some(link) = &own {
            let _ = link.input(direct(false)).await;
        }
        let (state, by) = match &outcome {
            Ok(by) => (InteractionState::Closed, *by),
            // Routing took its offer back (the agent did not answer in time): nothing more
            // to say; the callback waits for the next agent.
            Err(Failure::Withdrawn) => return,
            // A callback not reached is tried again by routing.
            Err(Failure::Unreached) if self.routing.is_some() => {
                self.append("callback.unreached", json!({})).await;
                // Routing tries again later, unless that was its last attempt: then the
                // callback is over, failed.
                let given_up = match &self.routing {
                    Some((link, contact)) => matches!(link.contact_state(*contact).await, Ok(None)),
                    None => false,
                };
                if !given_up {
                    return;
                }
                (InteractionState::Failed, "nobody")
            }
            Err(f) => {
                self.append("call.failed", json!({ "reason": f.to_string() }))
                    .await;
                if self.routing.is_some() {
                    return;
                }
                (InteractionState::Failed, "nobody")
            }
        };
        self.append("call.ended", json!({ "by": by })).await;
        self.patch(InteractionPatch {
            state: Some(state),
            ..Default::default()
        })
        .await;
        self.shared.notify(crate::Notice {
            tenant_id: self.tenant,
            agent_id: Some(self.agent_id),
            kind: "contact.ended",
            data: json!({ "interaction_id": self.interaction, "by": by }),
        });
    }

    /// The call from the first ring to the last hang-up; who hung up, or why it failed.
    async fn call(
        &self,
        withdrawn: &mut Option<mpsc::UnboundedReceiver<RoutingNote>>,
    ) -> Result<&'static str, Failure> {
        let shards = self
            .shared
            .shard_commands
            .get()
            .ok_or(Failure::Other("no SIP shards"))?;
        let shard = shards[(self.interaction as usize) % shards.len()].clone();
        let media = self
            .shared
            .media
            .clone()
            .ok_or(Failure::Other("no media engine"))?;
        let (notes_tx, mut notes) = mpsc::unbounded_channel::<(u64, LegNote)>();
        let ring = |leg: &Leg, callee: Callee, shown: &str, name: Option<String>| {
            ShardCommand::Ring(RingRequest {
                leg: leg.id,
                tenant_id: self.tenant,
                callee,
                caller_number: shown.to_string(),
                caller_name: name,
                local: leg.local.clone(),
                notes: notes_tx.clone(),
            })
        };
        let no_port = Failure::Other("no RTP port");

        // The agent first; their phone shows whom they are about to call.
        let mut a = self.leg().ok_or(no_port)?;
        let _ = shard.send(ring(
            &a,
            Callee::Extension(self.extension.clone()),
            &self.number,
            self.customer_name.clone(),
        ));
        let agent_answer = tokio::select! {
            r = wait_answer(&mut notes, a.id, self, "agent") => r,
            _ = wait_withdrawn(withdrawn) => Err(Failure::Withdrawn),
        };
        let sdp = match agent_answer {
            Ok(sdp) => sdp,
            Err(f) => {
                let _ = shard.send(ShardCommand::Drop { leg: a.id });
                if !matches!(f, Failure::Withdrawn) {
                    self.tell(RoutingInput::OfferDeclined(self.contact())).await;
                }
                return Err(f);
            }
        };
        let Ok(agreed) = hotline_media::sdp::accept_answer(&sdp, &a.local) else {
            let _ = shard.send(ShardCommand::Drop { leg: a.id });
            self.tell(RoutingInput::OfferDeclined(self.contact())).await;
            return Err(Failure::Other(
                "the agent's phone answered with media we cannot use",
            ));
        };
        self.tell(RoutingInput::OfferAccepted(self.contact())).await;
        self.append("call.agent_answered", json!({ "agent_id": self.agent_id }))
            .await;
        let (ep_tx, mut ep_notes) = mpsc::unbounded_channel();
        let endpoint = media.start_endpoint(
            a.port.take().ok_or(Failure::Other("no RTP port"))?,
            agreed,
            Driver::Flow(ep_tx),
            "outbound",
        );
        endpoint.music(Some(media.ringback())).await;
        let mut seen: Vec<EndpointNote> = Vec::new();

        // Then the customer.
        let mut b = self.leg().ok_or(Failure::Other("no RTP port"))?;
        let _ = shard.send(ring(&b, Callee::Number(self.number.clone()), "", None));
        let answered = tokio::select! {
            r = wait_answer(&mut notes, b.id, self, "customer") => r,
            _ = wait_ended(&mut ep_notes, &mut seen) => Err(Failure::Other("the agent hung up before the customer answered")),
        };
        let agreed = answered.and_then(|sdp| {
            hotline_media::sdp::accept_answer(&sdp, &b.local).map_err(|_| {
                Failure::Other("the customer's side answered with media we cannot use")
            })
        });
        let agreed = match agreed {
            Ok(agreed) => agreed,
            Err(f) => {
                let _ = shard.send(ShardCommand::Drop { leg: b.id });
                let _ = shard.send(ShardCommand::Drop { leg: a.id });
                endpoint.stop();
                self.recordings(&mut ep_notes, seen).await;
                // For routing, a callback whose customer was not talked to is unreached.
                self.tell(RoutingInput::CallbackUnreached(self.contact()))
                    .await;
                return Err(match f {
                    Failure::Other(_) if self.routing.is_some() => Failure::Unreached,
                    f => f,
                });
            }
        };
        endpoint.music(None).await;
        endpoint
            .connect(b.port.take().ok_or(Failure::Other("no RTP port"))?, agreed)
            .await;
        self.tell(RoutingInput::CallbackReached(self.contact()))
            .await;
        self.append("call.answered", json!({ "to": "customer" }))
            .await;
        self.patch(InteractionPatch {
            state: Some(InteractionState::Active),
            agent_id: Some(Some(self.agent_id)),
            ..Default::default()
        })
        .await;
        self.shared.notify(crate::Notice {
            tenant_id: self.tenant,
            agent_id: Some(self.agent_id),
            kind: "contact.connected",
            data: json!({ "interaction_id": self.interaction, "direction": "outbound" }),
        });

        // Talking until one side hangs up (or the desk hangs up).
        let by = loop {
            tokio::select! {
                desk = desk_note(withdrawn) => {
                    let Some((action, reply)) = desk else { continue };
                    if action == hotline_model::CallControl::HangUp {
                        let _ = reply.send(Ok(()));
                        self.append("call.agent_hung_up", json!({ "agent_id": self.agent_id, "by": "api" })).await;
                        let _ = shard.send(ShardCommand::Drop { leg: a.id });
                        let _ = shard.send(ShardCommand::Drop { leg: b.id });
                        break "agent";
                    }
                    // The endpoint of a call placed for the agent sits on the agent's leg:
                    // its hold would put the agent, not the customer, on music; a
                    // supervisor's room would have the agent in the caller's place.
                    let why = match action {
                        hotline_model::CallControl::Monitor { .. } | hotline_model::CallControl::StopMonitor { .. } => {
                            "calls placed for an agent (click-to-call, callbacks) cannot be monitored yet"
                        }
                        _ => "on a call you placed, the desk can only hang up; hold from your phone (a placed call cannot be transferred yet)",
                    };
                    let _ = reply.send(Err(why.into()));
                }
                n = notes.recv() => match n {
                    Some((leg, LegNote::HungUp)) if leg == a.id => {
                        let _ = shard.send(ShardCommand::Drop { leg: b.id });
                        break "agent";
                    }
                    Some((leg, LegNote::HungUp)) if leg == b.id => {
                        let _ = shard.send(ShardCommand::Drop { leg: a.id });
                        break "customer";
                    }
                    Some((leg, LegNote::Refer { target, replaces })) if leg == a.id || leg == b.id => {
                        // A placed call is not moved on yet (the endpoint sits on the agent's
                        // leg): the phone is told at once (NOTIFY with the refusal, after the
                        // REFER's 202) instead of waiting for a transfer that never comes. The
                        // far side never moves the customer on.
                        let agent = leg == a.id;
                        let code = if agent { 501 } else { 403 };
                        let _ = shard.send(ShardCommand::ReferOutcome { leg, code });
                        let kind = if replaces.is_some() { "attended" } else { "blind" };
                        self.append(
                            "call.transfer_refused",
                            json!({
                                "agent_id": self.agent_id,
                                "target": target,
                                "kind": kind,
                                "by": if agent { "phone" } else { "customer" },
                                "reason": "a call placed for an agent cannot be transferred yet",
                            }),
                        )
                        .await;
                    }
                    Some(_) => {}
                    None => break "nobody",
                },
                _ = wait_ended(&mut ep_notes, &mut seen) => {
                    let _ = shard.send(ShardCommand::Drop { leg: a.id });
                    let _ = shard.send(ShardCommand::Drop { leg: b.id });
                    break "media";
                }
            }
        };
        self.append("call.hung_up", json!({ "by": by })).await;
        endpoint.stop();
        self.recordings(&mut ep_notes, seen).await;
        self.tell(RoutingInput::Ended(self.contact())).await;
        Ok(by)
    }

    /// Stores the recordings the endpoint closed (`seen` already, or until it has ended).
    async fn recordings(
        &self,
        notes: &mut mpsc::UnboundedReceiver<EndpointNote>,
        mut seen: Vec<EndpointNote>,
    ) {
        if !seen.iter().any(|n| matches!(n, EndpointNote::Ended { .. })) {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), wait_ended(notes, &mut seen)).await;
        }
        for n in &seen {
            // The session's own leg faces the agent, who was called first.
            if let EndpointNote::Quality { role, quality } = n {
                use crate::media::LegRole;
                let leg = match role {
                    LegRole::Caller => "agent",
                    LegRole::Callee => "customer",
                    LegRole::Consulted => "third",
                    LegRole::Supervisor => "supervisor",
                };
                self.append("call.quality", crate::calls::quality_record(leg, quality))
                    .await;
            }
        }
        let found: Vec<(bool, String, u64, u64)> = seen
            .into_iter()
            .filter_map(|n| match n {
                EndpointNote::Recorded {
                    path,
                    duration_ms,
                    bytes,
                    conversation,
                } => Some((conversation, path.display().to_string(), duration_ms, bytes)),
                _ => None,
            })
            .collect();
        for (conversation, path, duration_ms, bytes) in &found {
            let part = if *conversation {
                "conversation"
            } else {
                "dialling"
            };
            self.append(
                "call.recording",
                json!({ "part": part, "path": path, "duration_ms": duration_ms, "bytes": bytes }),
            )
            .await;
        }
        if let Some((_, path, _, _)) = found.iter().find(|r| r.0) {
            self.patch(InteractionPatch {
                recording_ref: Some(path.clone()),
                ..Default::default()
            })
            .await;
        }
    }
}

/// Waits for `leg`'s answer (its SDP), saying the ringing on the timeline.
async fn wait_answer(
    notes: &mut mpsc::UnboundedReceiver<(u64, LegNote)>,
    leg: u64,
    call: &Outbound,
    who: &str,
) -> Result<Vec<u8>, Failure> {
    let deadline = tokio::time::Instant::now() + RING_TIMEOUT;
    loop {
        let n = tokio::time::timeout_at(deadline, notes.recv()).await;
        match n {
            Err(_) => {
                call.append(&format!("call.{who}_no_answer"), json!({}))
                    .await;
                return Err(Failure::Other("no answer"));
            }
            Ok(None) => return Err(Failure::Other("the call's shard stopped")),
            Ok(Some((l, note))) if l == leg => match note {
                LegNote::Ringing => call.append(&format!("call.{who}_ringing"), json!({})).await,
                LegNote::Answered { sdp } => return Ok(sdp),
                LegNote::Failed { code } => {
                    call.append(&format!("call.{who}_failed"), json!({ "code": code }))
                        .await;
                    return Err(Failure::Other(
                        "the call was refused or could not be reached",
                    ));
                }
                LegNote::HungUp => return Err(Failure::Other("hung up")),
                LegNote::Hold(_) | LegNote::Refer { .. } => {}
            },
            Ok(Some(_)) => {}
        }
    }
}

/// Why a call did not happen.
#[derive(Debug, Clone, Copy, thiserror::Error)]
enum Failure {
    /// Routing took the offer back.
    #[error("the offer was withdrawn")]
    Withdrawn,
    /// The customer of a callback was not talked to.
    #[error("the customer was not reached")]
    Unreached,
    #[error("{0}")]
    Other(&'static str),
}

/// The next thing the desk asks of the call (`None`: a note that is not the desk's).
async fn desk_note(
    notes: &mut Option<mpsc::UnboundedReceiver<RoutingNote>>,
) -> Option<(
    hotline_model::CallControl,
    tokio::sync::oneshot::Sender<Result<(), String>>,
)> {
    let Some(rx) = notes.as_mut() else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Some(RoutingNote::Desk { action, reply }) => Some((action, reply)),
        Some(_) => None,
        None => std::future::pending().await,
    }
}

/// Waits for routing to take its offer back (forever without routing).
async fn wait_withdrawn(notes: &mut Option<mpsc::UnboundedReceiver<RoutingNote>>) {
    let Some(rx) = notes.as_mut() else {
        return std::future::pending().await;
    };
    while let Some(n) = rx.recv().await {
        if matches!(n, RoutingNote::Withdraw { .. }) {
            return;
        }
    }
    std::future::pending().await
}

/// Waits until the endpoint has ended, keeping what else it said (its recordings).
async fn wait_ended(
    notes: &mut mpsc::UnboundedReceiver<EndpointNote>,
    seen: &mut Vec<EndpointNote>,
) {
    while let Some(n) = notes.recv().await {
        if matches!(n, EndpointNote::Ended { .. }) {
            seen.push(n);
            return;
        }
        seen.push(n);
    }
}
