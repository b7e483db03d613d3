//! Calls Hotline places itself. Click-to-call: the agent's phone rings first (showing whom it
//! will call); when the agent answers they hear ringback while the customer is dialled out
//! through the tenant's trunk; the customer's answer bridges the two, recorded. Either side's
//! hang-up ends the other. The call is an outbound interaction with its timeline like any
//! other.

use std::sync::Arc;
use std::time::Duration;

use hotline_media::sdp::LocalMedia;
use hotline_model::{Channel, Direction, InteractionState};
use hotline_store::{InteractionPatch, NewInteraction};

use crate::calls::{event, patch};
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
    let call = Outbound {
        shared,
        tenant: t,
        interaction: interaction.id,
        agent_id: req.agent_id,
        extension: agent.extension,
        number,
        customer_name: customer.map(|c| c.name),
    };
    tokio::spawn(call.run());
    Ok(interaction.id)
}

struct Outbound {
    shared: Arc<Shared>,
    tenant: i64,
    interaction: i64,
    agent_id: i64,
    extension: String,
    number: String,
    customer_name: Option<String>,
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

    async fn run(self) {
        let outcome = self.call().await;
        let (state, by) = match &outcome {
            Ok(by) => (InteractionState::Closed, *by),
            Err(why) => {
                self.append("call.failed", json!({ "reason": why })).await;
                (InteractionState::Failed, "nobody")
            }
        };
        self.append("call.ended", json!({ "by": by })).await;
        self.patch(InteractionPatch {
            state: Some(state),
            ..Default::default()
        })
        .await;
    }

    /// The call from the first ring to the last hang-up; who hung up, or why it failed.
    async fn call(&self) -> Result<&'static str, &'static str> {
        let shards = self.shared.shard_commands.get().ok_or("no SIP shards")?;
        let shard = shards[(self.interaction as usize) % shards.len()].clone();
        let media = self.shared.media.clone().ok_or("no media engine")?;
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

        // The agent first; their phone shows whom they are about to call.
        let mut a = self.leg().ok_or("no RTP port")?;
        let _ = shard.send(ring(
            &a,
            Callee::Extension(self.extension.clone()),
            &self.number,
            self.customer_name.clone(),
        ));
        let sdp = match wait_answer(&mut notes, a.id, self, "agent").await {
            Ok(sdp) => sdp,
            Err(why) => {
                let _ = shard.send(ShardCommand::Drop { leg: a.id });
                return Err(why);
            }
        };
        let Ok(agreed) = hotline_media::sdp::accept_answer(&sdp, &a.local) else {
            let _ = shard.send(ShardCommand::Drop { leg: a.id });
            return Err("the agent's phone answered with media we cannot use");
        };
        self.append("call.agent_answered", json!({ "agent_id": self.agent_id }))
            .await;
        let (ep_tx, mut ep_notes) = mpsc::unbounded_channel();
        let endpoint = media.start_endpoint(
            a.port.take().ok_or("no RTP port")?,
            agreed,
            Driver::Flow(ep_tx),
            "outbound",
        );
        endpoint.music(Some(media.ringback())).await;
        let mut seen: Vec<EndpointNote> = Vec::new();

        // Then the customer.
        let mut b = self.leg().ok_or("no RTP port")?;
        let _ = shard.send(ring(&b, Callee::Number(self.number.clone()), "", None));
        let answered = tokio::select! {
            r = wait_answer(&mut notes, b.id, self, "customer") => r,
            _ = wait_ended(&mut ep_notes, &mut seen) => Err("the agent hung up before the customer answered"),
        };
        let sdp = match answered {
            Ok(sdp) => sdp,
            Err(why) => {
                let _ = shard.send(ShardCommand::Drop { leg: b.id });
                let _ = shard.send(ShardCommand::Drop { leg: a.id });
                endpoint.stop();
                self.recordings(&mut ep_notes, seen).await;
                return Err(why);
            }
        };
        let Ok(agreed) = hotline_media::sdp::accept_answer(&sdp, &b.local) else {
            let _ = shard.send(ShardCommand::Drop { leg: b.id });
            let _ = shard.send(ShardCommand::Drop { leg: a.id });
            endpoint.stop();
            return Err("the customer's side answered with media we cannot use");
        };
        endpoint.music(None).await;
        endpoint
            .connect(b.port.take().ok_or("no RTP port")?, agreed)
            .await;
        self.append("call.answered", json!({ "to": "customer" }))
            .await;
        self.patch(InteractionPatch {
            state: Some(InteractionState::Active),
            ..Default::default()
        })
        .await;

        // Talking until one side hangs up.
        let by = loop {
            tokio::select! {
                n = notes.recv() => match n {
                    Some((leg, LegNote::HungUp)) if leg == a.id => {
                        let _ = shard.send(ShardCommand::Drop { leg: b.id });
                        break "agent";
                    }
                    Some((leg, LegNote::HungUp)) if leg == b.id => {
                        let _ = shard.send(ShardCommand::Drop { leg: a.id });
                        break "customer";
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
) -> Result<Vec<u8>, &'static str> {
    let deadline = tokio::time::Instant::now() + RING_TIMEOUT;
    loop {
        let n = tokio::time::timeout_at(deadline, notes.recv()).await;
        match n {
            Err(_) => {
                call.append(&format!("call.{who}_no_answer"), json!({}))
                    .await;
                return Err("no answer");
            }
            Ok(None) => return Err("the call's shard stopped"),
            Ok(Some((l, note))) if l == leg => match note {
                LegNote::Ringing => call.append(&format!("call.{who}_ringing"), json!({})).await,
                LegNote::Answered { sdp } => return Ok(sdp),
                LegNote::Failed { code } => {
                    call.append(&format!("call.{who}_failed"), json!({ "code": code }))
                        .await;
                    return Err("the call was refused or could not be reached");
                }
                LegNote::HungUp => return Err("hung up"),
                LegNote::Hold(_) | LegNote::Refer { .. } => {}
            },
            Ok(Some(_)) => {}
        }
    }
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
