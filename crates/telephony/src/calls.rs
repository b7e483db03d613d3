//! Call control for calls that enter a contact flow: one task per call drives the flow
//! interpreter with what the media endpoint hears (keys, prompt ends), the time, and lookups;
//! it plays what the flow says (speech rendered by espeak-ng, WAV files, music), and writes
//! the call as an interaction whose timeline holds every step as it happens.
//!
//! The caller is recognised by number before the first prompt. Lookups run with the flow's
//! time budget: the built-in tables and customer base from the store, company systems over
//! HTTP. A queue node hands the call to routing (the ACD); the position and estimated wait
//! come back to the flow for its announcements. When routing offers the call to an agent,
//! the agent's desk gets the screen pop (customer card, history, what the caller did in the
//! IVR) first, then the shard rings the agent's registered phone with Hotline's own offer;
//! the phone's answer turns the caller's endpoint into a recorded bridge. A phone that fails
//! or refuses lets routing try the next agent; a caller who hangs up while queued is
//! abandoned; either side's hang-up ends the other and starts the agent's wrap-up.
//! A flow's transfer reaches a queue (routing), an agent (routing, offered to that agent
//! alone) or an outside number (a company specialist, dialled through the tenant's outbound
//! route and bridged; routing takes no part). A transfer that fails or is not answered in the
//! flow's time sends the flow to its `on_failure`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hotline_flow::run::{
    Action, Input, LookupRequest, LookupResult, Outcome, Speech, Step, Target,
};
use hotline_flow::{Call, Value};
use hotline_media::playback::Prompt;
use hotline_model::{CallControl, Channel, Direction, InteractionState};
use hotline_store::{InteractionPatch, NewEvent, NewInteraction, Store};
use serde_json::json;
use tokio::sync::mpsc;

use crate::flows::{AgentEntry, LoadedFlow};
use crate::media::{local_media, EndpointHandle, EndpointNote, Media, PlayItem, Port};
use crate::shard::{Callee, LegNote, RingRequest, ShardCommand, Shared};
use crate::Notice;
use hotline_acd::Input as RoutingInput;
use hotline_routing::{ContactId, ContactSpec, QueueId, Requirement, Time};

/// Who is calling and where.
pub struct Arrival {
    pub tenant_id: i64,
    pub flow_name: String,
    /// The caller's number as the From header gave it.
    pub caller: String,
    pub dialled: String,
    pub call_id: String,
}

/// What routing (and the desk, through the API) tells a live call: the ACD's commands,
/// forwarded by contact, and transfers asked for.
#[derive(Debug)]
pub enum RoutingNote {
    Offer {
        agent: i64,
        expires_at_ms: u64,
    },
    Withdraw {
        agent: i64,
    },
    /// The queue's maximum wait passed with nowhere to overflow to.
    Overflow,
    /// What the desk asks of the call; the answer says whether it is under way.
    Desk {
        action: CallControl,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
}

/// Where a blind transfer sends the call.
#[derive(Debug, Clone)]
enum TransferTo {
    Agent(i64),
    Queue(i64, String),
}

/// How long the desk's transfer to a number, or a consultation, rings before it is given up.
const DESK_RING_MS: i64 = 30_000;

/// A consultation: the agent and a third (specialist's number or another agent's phone)
/// while the caller waits with music, or all three in conference.
struct Consult {
    leg: u64,
    /// The number dialled or the agent's name, for the timeline and the desk.
    target: String,
    /// The agent consulted, when it is one.
    agent: Option<i64>,
    port: Option<Port>,
    local: hotline_media::sdp::LocalMedia,
    answered: bool,
    conference: bool,
    /// When it stops ringing, unanswered.
    ring_until: i64,
    /// The consulted agent is busy for routing while this lives (and, after an attended
    /// transfer to them, until the call ends).
    occupied: Option<Occupied>,
    /// The agent's phone made the consultation itself and asked (REFER with Replaces, on
    /// this leg of its own) to put the caller through: done as soon as the third's leg,
    /// taken over from that consultation, takes our media.
    refer: Option<u64>,
}

/// A supervisor on the agent's call (listening, whispering to the agent, or joined), or
/// their phone ringing for it. Their agent record is busy for routing meanwhile.
struct Monitoring {
    leg: u64,
    /// The supervisor's agent record (their phone).
    supervisor: i64,
    mode: hotline_model::MonitorMode,
    port: Option<Port>,
    local: hotline_media::sdp::LocalMedia,
    answered: bool,
    ring_until: i64,
    _occupied: Option<Occupied>,
}

fn mixer_mode(mode: hotline_model::MonitorMode) -> hotline_media::mixer::Monitor {
    use hotline_media::mixer::Monitor;
    use hotline_model::MonitorMode;
    match mode {
        MonitorMode::Listen => Monitor::Listen,
        MonitorMode::Whisper => Monitor::Whisper,
        MonitorMode::Barge => Monitor::Barge,
    }
}

/// The supervisor's phone is let go (the caller and the agent talk on as before): it is
/// hung up, its media leaves the call, and the timeline says why (`by`).
async fn end_monitoring(
    monitoring: &mut Option<Monitoring>,
    ctx: &Context,
    endpoint: &EndpointHandle,
    timeline: &mut Timeline,
    by: &str,
) {
    let Some(m) = monitoring.take() else {
        return;
    };
    ctx.send(ShardCommand::Drop { leg: m.leg });
    if m.answered {
        endpoint.drop_third().await;
    }
    timeline
        .append(
            "call.monitor_ended",
            json!({ "supervisor_id": m.supervisor, "by": by }),
        )
        .await;
}

/// Routing counts an agent busy with a call it did not give them (a consultation, an
/// attended transfer to them) from `start` until this is dropped, so it offers them nothing
/// meanwhile.
struct Occupied {
    link: hotline_acd::AcdLink,
    agent: i64,
}

impl Occupied {
    async fn start(routing: &Option<hotline_acd::AcdLink>, agent: i64) -> Option<Occupied> {
        let link = routing.clone()?;
        let input = hotline_acd::Input::Direct {
            agent: hotline_routing::AgentId(agent),
            channel: Channel::Voice,
            active: true,
        };
        if let Err(e) = link.input(input).await {
            tracing::info!(agent, error = %e, "routing did not count a consulted agent busy");
            return None;
        }
        Some(Occupied { link, agent })
    }
}

impl Drop for Occupied {
    fn drop(&mut self) {
        let (link, agent) = (self.link.clone(), self.agent);
        // Not awaited: a drop cannot wait. Without a runtime (shutting down) routing is
        // gone too.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let input = hotline_acd::Input::Direct {
                    agent: hotline_routing::AgentId(agent),
                    channel: Channel::Voice,
                    active: false,
                };
                let _ = link.input(input).await;
            });
        }
    }
}

/// How a call task reaches the rest of Hotline.
pub(crate) struct Context {
    pub shared: Arc<Shared>,
    /// The shard that holds the caller's dialog (it places the agents' legs too).
    pub shard: mpsc::UnboundedSender<ShardCommand>,
}

impl Context {
    /// A command about one of the call's legs, to the shard that holds the leg.
    fn send(&self, command: ShardCommand) {
        self.shared.command(&self.shard, command);
    }
}

static NEXT_LEG: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A number for a new leg placed to a phone (unique in the process).
pub(crate) fn next_leg() -> u64 {
    NEXT_LEG.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Wall time as the flow takes it (business hours read it).
fn wall_ms() -> i64 {
    crate::shard::wall_ms() as i64
}

/// A timeline event written by telephony.
pub(crate) fn event(kind: &str, data: serde_json::Value) -> NewEvent {
    NewEvent {
        kind: kind.to_string(),
        actor: "telephony".into(),
        data,
        at: None,
    }
}

/// An offer out to an agent: the leg ringing their phone and our side of its media.
struct Offer {
    agent: i64,
    entry: AgentEntry,
    leg: u64,
    port: Option<Port>,
    local: hotline_media::sdp::LocalMedia,
}

/// The caller is talking to an agent, or to an outside number the flow transferred to.
struct Connected {
    /// The agent (0 for an outside number).
    agent: i64,
    leg: u64,
    agent_hung_up: bool,
    /// Whether routing gave the call (it hears how it ends); not for an outside number.
    routed: bool,
}

/// A flow's transfer to an outside number (a company specialist) while it rings.
struct Outside {
    leg: u64,
    number: String,
    port: Option<Port>,
    local: hotline_media::sdp::LocalMedia,
    /// Asked by the desk of this agent's call (not by the flow): a failure sends the call
    /// back to its queue with that agent first.
    by_desk: Option<i64>,
    /// When the desk's transfer stops ringing (the flow's has the flow's own time-out).
    ring_until: Option<i64>,
}

/// Runs one call through its flow, routing and the agent's phone until the call ends.
pub(crate) async fn run(
    arrival: Arrival,
    loaded: LoadedFlow,
    ctx: Context,
    endpoint: EndpointHandle,
    mut notes: mpsc::UnboundedReceiver<EndpointNote>,
) {
    let library = ctx.shared.flows.clone();
    let store = ctx.shared.store.clone();
    let Some(media) = ctx.shared.media.clone() else {
        return;
    };
    let tenant = library.tenant(arrival.tenant_id);
    let t = arrival.tenant_id;
    // Recognised before the first prompt.
    let normalized = hotline_model::phone::normalize_phone(&arrival.caller, &tenant.region).ok();
    let customer = match &normalized {
        Some(n) => store
            .lookup_customer(t, &tenant.region, Some(n), None)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let caller_number = normalized.clone().unwrap_or_else(|| arrival.caller.clone());
    let mut vars = BTreeMap::new();
    vars.insert(
        "caller.number".to_string(),
        Value::Str(caller_number.clone()),
    );
    vars.insert(
        "call.dialed".to_string(),
        Value::Str(arrival.dialled.clone()),
    );
    if let Some(c) = &customer {
        vars.insert("customer.id".into(), Value::Num(c.id as f64));
        vars.insert("customer.name".into(), Value::Str(c.name.clone()));
        let first = c.name.split_whitespace().next().unwrap_or_default();
        vars.insert("customer.first_name".into(), Value::Str(first.to_string()));
        vars.insert("customer.vip".into(), Value::Bool(c.vip));
        if let Some(company) = &c.company {
            vars.insert("customer.company".into(), Value::Str(company.clone()));
        }
        for (k, v) in &c.custom_fields {
            vars.insert(format!("customer.{k}"), Value::from_json(v));
        }
    }
    let interaction = store
        .create_interaction(
            t,
            &inbound_voice(
                InteractionState::InFlow,
                customer.as_ref().map(|c| c.id),
                None,
            ),
            "telephony",
        )
        .await;
    let interaction = match interaction {
        Ok((i, _)) => i.id,
        Err(e) => {
            // The call is answered already; it goes on unrecorded rather than dropped.
            tracing::error!(error = %e, "interaction not created for a call");
            0
        }
    };
    vars.insert("call.id".into(), Value::Num(interaction as f64));
    let mut timeline = Timeline {
        store: store.clone(),
        tenant: t,
        interaction,
        trace: Vec::new(),
    };
    timeline
        .append(
            "call.arrived",
            json!({
                "flow": arrival.flow_name, "flow_version": loaded.version,
                "from": caller_number,
                "dialled": arrival.dialled, "sip_call_id": arrival.call_id,
                "customer_id": customer.as_ref().map(|c| c.id),
            }),
        )
        .await;
    tracing::info!(
        interaction,
        flow = %arrival.flow_name,
        version = loaded.version,
        known = customer.is_some(),
        "call entered its flow"
    );

    let contact = ContactId(interaction);
    let routing = ctx.shared.routing();
    let mut call = Call::new(loaded.flow.clone(), tenant.calendars.clone(), vars);
    let (lookup_tx, mut lookup_rx) = mpsc::unbounded_channel::<(u64, LookupResult)>();
    let mut lookups: HashMap<u64, tokio::task::JoinHandle<()>> = HashMap::new();
    let (leg_tx, mut leg_rx) = mpsc::unbounded_channel::<(u64, LegNote)>();
    let mut routing_rx: Option<mpsc::UnboundedReceiver<RoutingNote>> = None;
    let mut player = Player {
        media: media.clone(),
        endpoint: endpoint.clone(),
    };
    let started = wall_ms();
    let mut voicemail: Option<(i64, i64)> = None; // (started, deadline)
                                                  // The queue a message is for, and the message's span (wall ms) once it is recorded.
    let mut voicemail_queue = String::new();
    let mut message: Option<(i64, i64)> = None;
    let mut media_ended = false;
    let mut recordings: Vec<(bool, String, u64, u64)> = Vec::new();
    // The queue the call waits in (routing holds the contact), the offer out, the agent.
    let mut queued: Option<(i64, String)> = None;
    let mut offer: Option<Offer> = None;
    let mut connected: Option<Connected> = None;
    let mut status_at: Option<i64> = None;
    let mut card: Option<serde_json::Value> = None;
    // The queue the flow put the call in, and its priority: a transfer goes back through it.
    let mut home: Option<(i64, String, i32)> = None;
    let mut transferred_from: Option<i64> = None;
    // Routing holds a callback for this caller after the call.
    let mut callback_pending = false;
    // A blind transfer (to an agent or a queue), and who asked for it.
    let mut pending_transfer: Option<(TransferTo, &'static str)> = None;
    // The flow's (or the desk's) transfer to an outside number, ringing.
    let mut outside: Option<Outside> = None;
    // The caller is on hold (by the phone or the desk); a consultation under way.
    let mut held = false;
    let mut consult: Option<Consult> = None;
    // A supervisor on the call, or their phone ringing for it.
    let mut monitoring: Option<Monitoring> = None;
    // The agent an attended transfer went to: busy for routing until the call ends.
    let mut taken_over: Option<Occupied> = None;
    call.start(started);
    loop {
        // A blind transfer asked for (by the agent's phone or the API): the agent is let go
        // (their part ends in routing: wrap-up), the caller hears music while routing offers
        // the call to the named agent first.
        // The call may have left its agent already (a transfer to a number that failed).
        let transfer = match (pending_transfer.take(), routing.as_ref(), home.clone()) {
            (Some(asked), Some(link), Some(home))
                if connected.as_ref().is_none_or(|c| c.routed) =>
            {
                Some((asked, connected.take(), link, home))
            }
            _ => None,
        };
        if let Some(((to, by), released, link, (home_id, home_name, priority))) = transfer {
            end_monitoring(&mut monitoring, &ctx, &endpoint, &mut timeline, "transfer").await;
            if let Some(c) = &released {
                endpoint.release().await;
                ctx.send(ShardCommand::Drop { leg: c.leg });
                tell(&routing, RoutingInput::Ended(contact)).await;
                let (to_agent, to_queue) = match &to {
                    TransferTo::Agent(a) => (Some(*a), None),
                    TransferTo::Queue(q, _) => (None, Some(*q)),
                };
                timeline
                    .append(
                        "call.transferred",
                        json!({ "from_agent_id": c.agent, "to_agent_id": to_agent, "to_queue_id": to_queue, "by": by, "kind": "blind" }),
                    )
                    .await;
                notify_ended(&ctx, t, c.agent, interaction, "transferred");
            }
            endpoint.music(Some(media.default_music())).await;
            held = false;
            let (qid, qname, preferred) = match to {
                TransferTo::Agent(a) => (home_id, home_name, Some(hotline_routing::AgentId(a))),
                TransferTo::Queue(q, name) => (q, name, None),
            };
            let mut spec = ContactSpec::new(contact, QueueId(qid), Channel::Voice);
            spec.priority = priority;
            spec.preferred_agent = preferred;
            spec.arrived_at = Some(Time::from_millis(started as u64));
            match link.input(RoutingInput::Contact(spec)).await {
                Ok(()) => {
                    if let Some(c) = &released {
                        transferred_from = Some(c.agent);
                    }
                    queued = Some((qid, qname));
                    patch(
                        &store,
                        t,
                        interaction,
                        InteractionPatch {
                            state: Some(InteractionState::Queued),
                            queue_id: Some(Some(qid)),
                            ..Default::default()
                        },
                    )
                    .await;
                }
                Err(e) => {
                    tracing::warn!(interaction, error = %e, "a transferred call could not be queued");
                    timeline
                        .append("call.transfer_failed", json!({ "reason": e.to_string() }))
                        .await;
                    ctx.send(ShardCommand::HangUp {
                        call_id: arrival.call_id.clone(),
                    });
                }
            }
        }
        // What the flow did (first, so its steps come before what its actions cause), then
        // what it asked for.
        while let Some(step) = call.poll_step() {
            timeline.step(&step).await;
        }
        while let Some(action) = call.poll_action() {
            match action {
                Action::Play { speech, .. } => player.play(&speech).await,
                Action::StopPlayback => endpoint.stop_playback().await,
                Action::Music(m) => {
                    let music = match m {
                        Some(speech) => player.music(&speech).await,
                        None => Some(media.default_music()),
                    };
                    endpoint.music(music).await;
                }
                Action::StopMusic => endpoint.music(None).await,
                Action::Lookup {
                    id,
                    request,
                    budget_ms,
                } => {
                    let tx = lookup_tx.clone();
                    let store = store.clone();
                    let region = tenant.region.clone();
                    let tls = ctx.shared.lookup_tls.clone();
                    lookups.insert(
                        id,
                        tokio::spawn(async move {
                            let budget = Duration::from_millis(budget_ms);
                            let result = match tokio::time::timeout(
                                budget,
                                lookup(&store, t, &region, request, &tls),
                            )
                            .await
                            {
                                Ok(r) => r,
                                Err(_) => LookupResult::Failed("time budget exceeded".into()),
                            };
                            let _ = tx.send((id, result));
                        }),
                    );
                }
                Action::CancelLookup { id } => {
                    if let Some(task) = lookups.remove(&id) {
                        task.abort();
                    }
                }
                Action::Enqueue {
                    queue,
                    priority,
                    skills,
                } => {
                    let queue_id = library.queue_id(t, &queue);
                    let refused = match (&routing, queue_id) {
                        (_, _) if interaction == 0 => Some("the call has no interaction".into()),
                        (None, _) => Some("routing is not running".to_string()),
                        (_, None) => Some(format!("the tenant has no queue named {queue:?}")),
                        (Some(link), Some(qid)) => {
                            routing_rx
                                .get_or_insert_with(|| ctx.shared.contact_channel(interaction));
                            let mut spec = ContactSpec::new(contact, QueueId(qid), Channel::Voice);
                            spec.priority = priority;
                            spec.requirements = skills
                                .iter()
                                .map(|(s, l)| Requirement::new(s.clone(), *l))
                                .collect();
                            spec.arrived_at = Some(Time::from_millis(started as u64));
                            match link.input(RoutingInput::Contact(spec)).await {
                                Ok(()) => {
                                    queued = Some((qid, queue.clone()));
                                    home = Some((qid, queue.clone(), priority));
                                    status_at = Some(wall_ms());
                                    patch(&store, t, interaction, queued_in(qid)).await;
                                    if card.is_none() {
                                        card =
                                            Some(customer_card(&store, t, customer.clone()).await);
                                    }
                                    None
                                }
                                Err(e) => Some(e.to_string()),
                            }
                        }
                    };
                    if let Some(reason) = refused {
                        tracing::warn!(interaction, %reason, "a call could not be queued");
                        timeline
                            .append(
                                "call.queue_unavailable",
                                json!({ "queue": queue, "reason": reason }),
                            )
                            .await;
                        call.handle(wall_ms(), Input::QueueRejected(reason));
                    }
                }
                Action::Dequeue => {
                    if queued.take().is_some() {
                        status_at = None;
                        if let Some(o) = offer.take() {
                            ctx.send(ShardCommand::Drop { leg: o.leg });
                        }
                        timeline.append("call.dequeued", json!({})).await;
                        tell(&routing, RoutingInput::Abandoned(contact)).await;
                    }
                }
                Action::CancelTransfer => {
                    // The flow gave up on its transfer (time-out, or the caller left).
                    if let Some(o) = outside.take() {
                        endpoint.music(None).await;
                        ctx.send(ShardCommand::Drop { leg: o.leg });
                        timeline
                            .append(
                                "call.transfer_failed",
                                json!({ "number": o.number, "reason": "no answer in time" }),
                            )
                            .await;
                    }
                    if queued.take().is_some() {
                        status_at = None;
                        if let Some(o) = offer.take() {
                            ctx.send(ShardCommand::Drop { leg: o.leg });
                        }
                        endpoint.music(None).await;
                        timeline
                            .append(
                                "call.transfer_failed",
                                json!({ "reason": "no answer in time" }),
                            )
                            .await;
                        tell(&routing, RoutingInput::Abandoned(contact)).await;
                    }
                }
                Action::Callback { queue, number } => {
                    // The caller leaves; routing keeps their place (or gives them one) and
                    // offers the callback to an agent later (`outbound::callback`).
                    let number = hotline_model::phone::normalize_phone(&number, &tenant.region)
                        .unwrap_or(number);
                    // From here routing's offers for this contact are callbacks, placed by
                    // `outbound::callback`, not this call's business.
                    if routing_rx.take().is_some() {
                        ctx.shared.unregister_contact(interaction);
                    }
                    let result = match (&routing, library.queue_id(t, &queue)) {
                        (Some(link), _) if queued.is_some() => {
                            if let Some(o) = offer.take() {
                                ctx.send(ShardCommand::Drop { leg: o.leg });
                                let _ = link.input(RoutingInput::OfferDeclined(contact)).await;
                            }
                            link.input(RoutingInput::CallbackRequest {
                                contact,
                                number: number.clone(),
                            })
                            .await
                            .map_err(|e| e.to_string())
                        }
                        (Some(link), Some(qid)) if interaction != 0 => {
                            let mut spec = ContactSpec::new(contact, QueueId(qid), Channel::Voice);
                            spec.callback_number = Some(number.clone());
                            spec.arrived_at = Some(Time::from_millis(started as u64));
                            link.input(RoutingInput::Contact(spec))
                                .await
                                .map_err(|e| e.to_string())
                        }
                        (None, _) => Err("routing is not running".to_string()),
                        _ => Err(format!("the tenant has no queue named {queue:?}")),
                    };
                    queued = None;
                    status_at = None;
                    match result {
                        Ok(()) => {
                            callback_pending = true;
                            timeline
                                .append(
                                    "call.callback_requested",
                                    json!({ "queue": queue, "number": number }),
                                )
                                .await;
                        }
                        Err(reason) => {
                            tracing::warn!(interaction, %reason, "a callback could not be booked");
                            // The caller's place is given up rather than left with nobody
                            // on the line.
                            tell(&routing, RoutingInput::Abandoned(contact)).await;
                            timeline
                                .append(
                                    "call.callback_unavailable",
                                    json!({ "queue": queue, "reason": reason }),
                                )
                                .await;
                        }
                    }
                }
                Action::Transfer { target, .. } => match target {
                    Target::Number { number } => {
                        let number = hotline_model::phone::normalize_phone(&number, &tenant.region)
                            .unwrap_or(number);
                        let refused = if connected.is_some() || outside.is_some() {
                            Some("the call is connected already")
                        } else if number.is_empty() {
                            Some("no number to transfer to")
                        } else {
                            None
                        };
                        let port = if refused.is_none() {
                            media.take_port()
                        } else {
                            None
                        };
                        match (refused, port) {
                            (None, Some(port)) => {
                                let local = local_media(
                                    media.advertise(),
                                    port.port,
                                    crate::shard::random_seed() >> 40,
                                );
                                let leg = next_leg();
                                ctx.send(ShardCommand::Ring(RingRequest {
                                    leg,
                                    tenant_id: t,
                                    callee: Callee::Number(number.clone()),
                                    caller_number: caller_number.clone(),
                                    caller_name: None,
                                    local: local.clone(),
                                    notes: leg_tx.clone(),
                                }));
                                endpoint.music(Some(media.ringback())).await;
                                timeline
                                    .append("call.transfer_dialling", json!({ "number": number }))
                                    .await;
                                outside = Some(Outside {
                                    leg,
                                    number,
                                    port: Some(port),
                                    local,
                                    by_desk: None,
                                    ring_until: None,
                                });
                            }
                            (why, _) => {
                                let reason = why.unwrap_or("no RTP port for the transfer's leg");
                                timeline
                                    .append(
                                        "call.transfer_failed",
                                        json!({ "number": number, "reason": reason }),
                                    )
                                    .await;
                                call.handle(wall_ms(), Input::TransferFailed(reason.into()));
                            }
                        }
                    }
                    Target::Agent { agent } => {
                        // Through routing: offered to that agent alone (their state and
                        // phone respected), in the queue the call came through, or the
                        // tenant's first queue; the flow's time-out withdraws it.
                        let found = library
                            .agent_by_extension(t, &agent)
                            .or_else(|| library.agent_by_name(t, &agent));
                        let queue = home
                            .as_ref()
                            .map(|(q, n, _)| (*q, n.clone()))
                            .or_else(|| library.first_queue(t));
                        let refused = match (&routing, found, &queue) {
                            (_, _, _) if interaction == 0 => {
                                Err("the call has no interaction".to_string())
                            }
                            (None, _, _) => Err("routing is not running".to_string()),
                            (_, None, _) => Err(format!("the tenant has no agent {agent:?}")),
                            (_, _, None) => Err("the tenant has no queue".to_string()),
                            (Some(link), Some(to), Some((qid, qname))) => {
                                routing_rx
                                    .get_or_insert_with(|| ctx.shared.contact_channel(interaction));
                                let mut spec =
                                    ContactSpec::new(contact, QueueId(*qid), Channel::Voice);
                                spec.preferred_agent = Some(hotline_routing::AgentId(to));
                                spec.arrived_at = Some(Time::from_millis(started as u64));
                                link.input(RoutingInput::Contact(spec))
                                    .await
                                    .map(|()| (to, *qid, qname.clone()))
                                    .map_err(|e| e.to_string())
                            }
                        };
                        match refused {
                            Ok((to, qid, qname)) => {
                                // The agent may pass the call on from here, through this queue.
                                home.get_or_insert((qid, qname.clone(), 0));
                                queued = Some((qid, qname));
                                endpoint.music(Some(media.ringback())).await;
                                timeline
                                    .append(
                                        "call.transfer_routed",
                                        json!({ "agent_id": to, "queue_id": qid }),
                                    )
                                    .await;
                                patch(&store, t, interaction, queued_in(qid)).await;
                                if card.is_none() {
                                    card = Some(customer_card(&store, t, customer.clone()).await);
                                }
                            }
                            Err(reason) => {
                                tracing::info!(interaction, %reason, "a flow's transfer to an agent failed");
                                timeline
                                    .append(
                                        "call.transfer_failed",
                                        json!({ "agent": agent, "reason": reason }),
                                    )
                                    .await;
                                call.handle(wall_ms(), Input::TransferFailed(reason));
                            }
                        }
                    }
                    // The flow queues the call itself for a queue target.
                    Target::Queue { .. } => {}
                },
                Action::RecordVoicemail { queue, max_ms } => {
                    let now = wall_ms();
                    voicemail = Some((now, now + max_ms as i64));
                    voicemail_queue = queue.clone();
                    timeline
                        .append(
                            "call.voicemail_started",
                            json!({ "queue": queue, "offset_ms": now - started }),
                        )
                        .await;
                }
                Action::StopRecording => {
                    if let Some((from, _)) = voicemail.take() {
                        message = Some((from, wall_ms()));
                        call.handle(
                            wall_ms(),
                            Input::RecordingDone {
                                duration_ms: (wall_ms() - from).max(0) as u64,
                            },
                        );
                    }
                }
                Action::Hangup => {
                    if connected.is_none() {
                        endpoint.stop();
                    }
                }
            }
        }
        while let Some(step) = call.poll_step() {
            timeline.step(&step).await;
        }
        // The flow is done and the media has ended (after the flow's hang-up, the caller's,
        // or the agent's).
        if call.outcome().is_some() && media_ended {
            break;
        }
        let deadline = [
            call.poll_timeout(),
            voicemail.map(|v| v.1),
            status_at,
            outside.as_ref().and_then(|o| o.ring_until),
            consult
                .as_ref()
                .filter(|k| !k.answered)
                .map(|k| k.ring_until),
            monitoring
                .as_ref()
                .filter(|m| !m.answered)
                .map(|m| m.ring_until),
        ]
        .into_iter()
        .flatten()
        .min();
        let sleep = async {
            match deadline {
                Some(at) => {
                    let wait = (at - wall_ms()).max(0) as u64;
                    tokio::time::sleep(Duration::from_millis(wait)).await
                }
                None => std::future::pending().await,
            }
        };
        let routed = async {
            match routing_rx.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            note = notes.recv() => match note {
                Some(EndpointNote::Digit(d)) => call.handle(wall_ms(), Input::Digit(d)),
                Some(EndpointNote::PromptFinished) => call.handle(wall_ms(), Input::PromptFinished),
                Some(EndpointNote::Recorded { path, duration_ms, bytes, conversation }) => {
                    let r = timeline.recording(conversation, &path, duration_ms, bytes).await;
                    recordings.push(r);
                }
                Some(EndpointNote::Quality { role, quality }) => {
                    timeline.append("call.quality", quality_record(leg_name(role), &quality)).await;
                }
                Some(EndpointNote::Ended { .. }) | None => {
                    media_ended = true;
                    call.handle(wall_ms(), Input::HangUp);
                }
            },
            r = lookup_rx.recv() => {
                if let Some((id, result)) = r {
                    lookups.remove(&id);
                    call.handle(wall_ms(), Input::Lookup { id, result });
                }
            }
            r = routed => match r {
                Some(RoutingNote::Offer { agent, expires_at_ms }) => {
                    if queued.is_none() || offer.is_some() || connected.is_some() || media_ended {
                        // Routing believes in a state the call has left: it is told again.
                        tracing::info!(interaction, "an offer for a call no longer waiting was refused");
                        tell(&routing, RoutingInput::OfferDeclined(contact)).await;
                        continue;
                    }
                    let Some(entry) = library.agent(agent) else {
                        tracing::warn!(interaction, agent, "offered to an agent not in the directory");
                        tell(&routing, RoutingInput::OfferDeclined(contact)).await;
                        continue;
                    };
                    // The desk first: the card is on the agent's screen before the phone rings.
                    let (qid, qname) = queued.clone().unwrap_or_default();
                    ctx.shared.notify(Notice {
                        tenant_id: t,
                        agent_id: Some(agent),
                        kind: "contact.offered",
                        data: json!({
                            "interaction_id": interaction,
                            "channel": "voice",
                            "direction": "inbound",
                            "queue": { "id": qid, "name": qname },
                            "caller": { "number": caller_number },
                            "known": customer.is_some(),
                            "card": card.clone().unwrap_or(serde_json::Value::Null),
                            "ivr": timeline.trace,
                            "transferred_from": transferred_from,
                            "offered_at": crate::shard::wall_ms(),
                            "expires_at": expires_at_ms,
                        }),
                    });
                    let Some(port) = media.take_port() else {
                        tracing::warn!(interaction, "no RTP port for an agent's leg");
                        tell(&routing, RoutingInput::OfferDeclined(contact)).await;
                        continue;
                    };
                    let local = local_media(media.advertise(), port.port, crate::shard::random_seed() >> 40);
                    let leg = next_leg();
                    ctx.send(ShardCommand::Ring(RingRequest {
                        leg,
                        tenant_id: t,
                        callee: Callee::Extension(entry.extension.clone()),
                        caller_number: caller_number.clone(),
                        caller_name: customer.as_ref().map(|c| c.name.clone()),
                        local: local.clone(),
                        notes: leg_tx.clone(),
                    }));
                    timeline
                        .append(
                            "call.offered",
                            json!({ "agent_id": agent, "agent": entry.name, "extension": entry.extension }),
                        )
                        .await;
                    offer = Some(Offer { agent, entry, leg, port: Some(port), local });
                }
                Some(RoutingNote::Withdraw { agent }) => {
                    if let Some(o) = offer.take_if(|o| o.agent == agent) {
                        ctx.send(ShardCommand::Drop { leg: o.leg });
                        ctx.shared.notify(Notice {
                            tenant_id: t,
                            agent_id: Some(agent),
                            kind: "contact.withdrawn",
                            data: json!({ "interaction_id": interaction }),
                        });
                        timeline.append("call.ringing_stopped", json!({ "agent_id": agent })).await;
                    }
                }
                Some(RoutingNote::Overflow) => {
                    if queued.take().is_some() {
                        status_at = None;
                        if let Some(o) = offer.take() {
                            ctx.send(ShardCommand::Drop { leg: o.leg });
                        }
                        timeline.append("call.overflowed", json!({})).await;
                        call.handle(wall_ms(), Input::QueueRejected("the queue's maximum wait passed".into()));
                    }
                }
                Some(RoutingNote::Desk { action, reply }) => {
                    let with_agent = connected.as_ref().filter(|c| c.routed).map(|c| (c.agent, c.leg));
                    let answered_consult = consult.as_ref().is_some_and(|k| k.answered);
                    // The call changes shape (hold, a transfer, a consultation): a supervisor
                    // on it is let go first; they may come back on the new shape.
                    let reshapes = matches!(
                        action,
                        CallControl::Hold
                            | CallControl::TransferToAgent(_)
                            | CallControl::TransferToQueue(_)
                            | CallControl::TransferToNumber(_)
                            | CallControl::ConsultAgent(_)
                            | CallControl::ConsultNumber(_)
                    );
                    if reshapes && with_agent.is_some() && !held && consult.is_none() {
                        end_monitoring(&mut monitoring, &ctx, &endpoint, &mut timeline, "call_changed").await;
                    }
                    let verdict: Result<(), String> = match (&action, with_agent) {
                        (CallControl::StopMonitor { supervisor }, _) => {
                            if monitoring.as_ref().is_some_and(|m| m.supervisor == *supervisor) {
                                end_monitoring(&mut monitoring, &ctx, &endpoint, &mut timeline, "api").await;
                                Ok(())
                            } else {
                                Err("the supervisor is not on the call".into())
                            }
                        }
                        (_, None) => Err("the call is not with an agent now".into()),
                        (CallControl::Monitor { supervisor, mode }, Some((agent, _))) => match monitoring.as_mut() {
                            Some(m) if m.supervisor != *supervisor => Err("another supervisor is on the call".into()),
                            Some(m) if m.mode == *mode => Ok(()),
                            Some(m) => {
                                m.mode = *mode;
                                if m.answered {
                                    endpoint.monitor_mode(mixer_mode(*mode)).await;
                                }
                                timeline
                                    .append("call.monitor_mode", json!({ "supervisor_id": supervisor, "mode": mode }))
                                    .await;
                                Ok(())
                            }
                            None if consult.is_some() => Err("a consultation is under way".into()),
                            None if held => Err("the call is on hold".into()),
                            None if *supervisor == agent => Err("an agent does not monitor their own call".into()),
                            None => match (library.agent(*supervisor).filter(|a| a.tenant_id == t), media.take_port()) {
                                (None, _) => Err("the supervisor has no phone in the tenant".into()),
                                (Some(_), None) => Err("no RTP port for the supervisor's leg".into()),
                                (Some(a), Some(port)) => {
                                    let local = local_media(media.advertise(), port.port, crate::shard::random_seed() >> 40);
                                    let leg = next_leg();
                                    ctx.send(ShardCommand::Ring(RingRequest {
                                        leg,
                                        tenant_id: t,
                                        callee: Callee::Extension(a.extension.clone()),
                                        caller_number: caller_number.clone(),
                                        caller_name: customer.as_ref().map(|c| c.name.clone()),
                                        local: local.clone(),
                                        notes: leg_tx.clone(),
                                    }));
                                    timeline
                                        .append("call.monitor_dialling", json!({ "supervisor_id": supervisor, "supervisor": a.name, "agent_id": agent, "mode": mode }))
                                        .await;
                                    monitoring = Some(Monitoring {
                                        leg, supervisor: *supervisor, mode: *mode, port: Some(port), local,
                                        answered: false, ring_until: wall_ms() + DESK_RING_MS,
                                        _occupied: Occupied::start(&routing, *supervisor).await,
                                    });
                                    Ok(())
                                }
                            },
                        },
                        (CallControl::Hold | CallControl::Resume, _) if consult.is_some() => {
                            Err("the call is in a consultation".into())
                        }
                        (CallControl::Hold, _) if held => Err("the call is on hold already".into()),
                        (CallControl::Resume, _) if !held => Err("the call is not on hold".into()),
                        (CallControl::Hold | CallControl::Resume, Some((agent, _))) => {
                            held = action == CallControl::Hold;
                            set_hold(held, &endpoint, &media, &mut timeline, agent, "api").await;
                            patch(&store, t, interaction, held_patch(held)).await;
                            call_state(&ctx, t, agent, interaction, held, consult.as_ref());
                            Ok(())
                        }
                        (CallControl::HangUp, Some((agent, leg))) => {
                            if let Some(c) = connected.as_mut() {
                                c.agent_hung_up = true;
                            }
                            timeline.append("call.agent_hung_up", json!({ "agent_id": agent, "by": "api" })).await;
                            ctx.send(ShardCommand::Drop { leg });
                            ctx.send(ShardCommand::HangUp { call_id: arrival.call_id.clone() });
                            Ok(())
                        }
                        (CallControl::TransferToAgent(_) | CallControl::TransferToQueue(_) | CallControl::TransferToNumber(_), _)
                            if consult.is_some() =>
                        {
                            Err("a consultation is under way: complete or cancel it".into())
                        }
                        (CallControl::TransferToAgent(to), Some((agent, _))) => {
                            if *to == agent {
                                Err("the call is with that agent already".into())
                            } else if library.agent(*to).is_none_or(|a| a.tenant_id != t) {
                                Err("no such agent in the tenant".into())
                            } else if routing.is_none() || home.is_none() {
                                Err("the call did not come through a queue".into())
                            } else {
                                pending_transfer = Some((TransferTo::Agent(*to), "api"));
                                Ok(())
                            }
                        }
                        (CallControl::TransferToQueue(q), Some(_)) => match library.queue_name(t, *q) {
                            None => Err("no such queue in the tenant".into()),
                            Some(_) if routing.is_none() || home.is_none() => {
                                Err("the call did not come through a queue".into())
                            }
                            Some(name) => {
                                pending_transfer = Some((TransferTo::Queue(*q, name), "api"));
                                Ok(())
                            }
                        },
                        (CallControl::TransferToNumber(number), Some((agent, leg))) => {
                            // E.164 already: the API read it in the tenant's region.
                            let number = number.clone();
                            match media.take_port() {
                                None => Err("no RTP port for the transfer's leg".into()),
                                Some(_) if routing.is_none() || home.is_none() => {
                                    Err("the call did not come through a queue".into())
                                }
                                Some(port) => {
                                    // Blind: the agent is let go now (their part ends: wrap-up).
                                    endpoint.release().await;
                                    endpoint.music(Some(media.ringback())).await;
                                    ctx.send(ShardCommand::Drop { leg });
                                    connected = None;
                                    held = false;
                                    tell(&routing, RoutingInput::Ended(contact)).await;
                                    notify_ended(&ctx, t, agent, interaction, "transferred");
                                    let local = local_media(media.advertise(), port.port, crate::shard::random_seed() >> 40);
                                    let leg = next_leg();
                                    ctx.send(ShardCommand::Ring(RingRequest {
                                        leg,
                                        tenant_id: t,
                                        callee: Callee::Number(number.clone()),
                                        caller_number: caller_number.clone(),
                                        caller_name: None,
                                        local: local.clone(),
                                        notes: leg_tx.clone(),
                                    }));
                                    timeline
                                        .append("call.transfer_dialling", json!({ "number": number, "from_agent_id": agent, "by": "api" }))
                                        .await;
                                    outside = Some(Outside {
                                        leg, number, port: Some(port), local,
                                        by_desk: Some(agent), ring_until: Some(wall_ms() + DESK_RING_MS),
                                    });
                                    Ok(())
                                }
                            }
                        }
                        (CallControl::ConsultNumber(_) | CallControl::ConsultAgent(_), _) if consult.is_some() => {
                            Err("a consultation is under way already".into())
                        }
                        (CallControl::ConsultNumber(_) | CallControl::ConsultAgent(_), Some((agent, _))) => {
                            let target = match &action {
                                CallControl::ConsultAgent(to) => match library.agent(*to) {
                                    Some(a) if a.tenant_id == t && *to != agent => {
                                        Ok((Callee::Extension(a.extension.clone()), a.name.clone(), Some(*to)))
                                    }
                                    _ => Err("no such other agent in the tenant".to_string()),
                                },
                                CallControl::ConsultNumber(n) => Ok((Callee::Number(n.clone()), n.clone(), None)),
                                _ => Err("not a consultation".into()),
                            };
                            match (target, media.take_port()) {
                                (Err(e), _) => Err(e),
                                (Ok(_), None) => Err("no RTP port for the consultation's leg".into()),
                                (Ok((callee, name, to_agent)), Some(port)) => {
                                    if !held {
                                        endpoint.hold().await;
                                        endpoint.music(Some(media.default_music())).await;
                                    }
                                    held = true;
                                    let local = local_media(media.advertise(), port.port, crate::shard::random_seed() >> 40);
                                    let leg = next_leg();
                                    ctx.send(ShardCommand::Ring(RingRequest {
                                        leg,
                                        tenant_id: t,
                                        callee,
                                        caller_number: caller_number.clone(),
                                        caller_name: customer.as_ref().map(|c| c.name.clone()),
                                        local: local.clone(),
                                        notes: leg_tx.clone(),
                                    }));
                                    timeline
                                        .append("call.consult_dialling", json!({ "agent_id": agent, "target": name, "to_agent_id": to_agent }))
                                        .await;
                                    let occupied = match to_agent {
                                        Some(a) => Occupied::start(&routing, a).await,
                                        None => None,
                                    };
                                    consult = Some(Consult {
                                        leg, target: name, agent: to_agent, port: Some(port), local,
                                        answered: false, conference: false, ring_until: wall_ms() + DESK_RING_MS,
                                        occupied, refer: None,
                                    });
                                    patch(&store, t, interaction, held_patch(true)).await;
                                    call_state(&ctx, t, agent, interaction, held, consult.as_ref());
                                    Ok(())
                                }
                            }
                        }
                        (CallControl::Conference | CallControl::CompleteTransfer, _) if !answered_consult => {
                            Err("no answered consultation".into())
                        }
                        (CallControl::Conference, Some((agent, _))) => match consult.as_mut() {
                            Some(k) if k.conference => Err("the conference is on already".into()),
                            Some(k) => {
                                k.conference = true;
                                endpoint.conference(true).await;
                                held = false;
                                timeline.append("call.conference_started", json!({ "agent_id": agent, "target": k.target })).await;
                                patch(&store, t, interaction, held_patch(false)).await;
                                call_state(&ctx, t, agent, interaction, held, consult.as_ref());
                                Ok(())
                            }
                            None => Err("no answered consultation".into()),
                        },
                        (CallControl::CompleteTransfer, Some((agent, leg))) => {
                            if let Some(k) = consult.take() {
                                let (third, busy) = complete_transfer(&ctx, &endpoint, &mut timeline, &routing, agent, leg, k, "api").await;
                                (connected, taken_over, held) = (Some(third), busy, false);
                            }
                            Ok(())
                        }
                        (CallControl::CancelConsult, Some((agent, _))) => match consult.take() {
                            None => Err("no consultation".into()),
                            Some(k) => {
                                end_consult(&ctx, &endpoint, &mut timeline, &k, "api").await;
                                held = false;
                                patch(&store, t, interaction, held_patch(false)).await;
                                call_state(&ctx, t, agent, interaction, held, None);
                                Ok(())
                            }
                        },
                    };
                    if let Err(reason) = &verdict {
                        tracing::info!(interaction, ?action, %reason, "a desk's call control was refused");
                    }
                    let _ = reply.send(verdict);
                }
                None => routing_rx = None,
            },
            Some((leg, note)) = leg_rx.recv() => {
                let current = offer.as_ref().is_some_and(|o| o.leg == leg);
                let dialled = outside.as_ref().is_some_and(|o| o.leg == leg);
                let talking = connected.as_ref().is_some_and(|c| c.leg == leg);
                let consulting = consult.as_ref().is_some_and(|k| k.leg == leg);
                let monitored = monitoring.as_ref().is_some_and(|m| m.leg == leg);
                let agent_now = connected.as_ref().filter(|c| c.routed).map(|c| c.agent).unwrap_or(0);
                match note {
                    LegNote::Answered { sdp } if monitored => {
                        let Some(m) = monitoring.as_mut() else { continue };
                        let agreed = hotline_media::sdp::accept_answer(&sdp, &m.local);
                        match (agreed, m.port.take()) {
                            (Ok(negotiated), Some(port)) => {
                                m.answered = true;
                                endpoint.monitor(port, negotiated, mixer_mode(m.mode)).await;
                                timeline
                                    .append("call.monitor_started", json!({ "supervisor_id": m.supervisor, "agent_id": agent_now, "mode": m.mode }))
                                    .await;
                            }
                            (agreed, _) => {
                                let why = agreed.err().map(|e| e.to_string()).unwrap_or_default();
                                tracing::warn!(interaction, %why, "a supervisor's phone answered with media we cannot use");
                                end_monitoring(&mut monitoring, &ctx, &endpoint, &mut timeline, "unusable_media").await;
                            }
                        }
                    }
                    LegNote::Failed { code } if monitored => {
                        if let Some(m) = monitoring.take() {
                            timeline.append("call.monitor_failed", json!({ "supervisor_id": m.supervisor, "code": code })).await;
                        }
                    }
                    LegNote::HungUp if monitored => {
                        end_monitoring(&mut monitoring, &ctx, &endpoint, &mut timeline, "supervisor").await;
                    }
                    LegNote::Ringing if consulting => {
                        timeline.append("call.consult_ringing", json!({})).await;
                    }
                    LegNote::Answered { sdp } if consulting => {
                        let Some(k) = consult.as_mut() else { continue };
                        let agreed = hotline_media::sdp::accept_answer(&sdp, &k.local);
                        match (agreed, k.port.take()) {
                            (Ok(negotiated), Some(port)) => {
                                k.answered = true;
                                endpoint.consult(port, negotiated).await;
                                if let Some(refer) = k.refer {
                                    // The phone's attended transfer: the third takes our
                                    // media now, the phone hears it worked and is let go.
                                    ctx.send(ShardCommand::ReferOutcome { leg: refer, code: 200 });
                                    let (Some(c), Some(k)) = (connected.take(), consult.take()) else { continue };
                                    let (third, busy) = complete_transfer(&ctx, &endpoint, &mut timeline, &routing, c.agent, c.leg, k, "phone").await;
                                    (connected, taken_over, held) = (Some(third), busy, false);
                                    continue;
                                }
                                timeline
                                    .append("call.consult_answered", json!({ "agent_id": agent_now, "target": k.target, "to_agent_id": k.agent }))
                                    .await;
                                call_state(&ctx, t, agent_now, interaction, held, consult.as_ref());
                            }
                            (agreed, _) => {
                                let why = agreed.err().map(|e| e.to_string()).unwrap_or_default();
                                tracing::warn!(interaction, %why, "a consulted party answered with media we cannot use");
                                if let Some(k) = consult.take() {
                                    end_consult(&ctx, &endpoint, &mut timeline, &k, "unusable_media").await;
                                }
                                held = false;
                                patch(&store, t, interaction, held_patch(false)).await;
                                call_state(&ctx, t, agent_now, interaction, held, None);
                            }
                        }
                    }
                    LegNote::Failed { code } if consulting => {
                        if let Some(k) = consult.take() {
                            timeline.append("call.consult_failed", json!({ "target": k.target, "code": code })).await;
                            end_consult(&ctx, &endpoint, &mut timeline, &k, "failed").await;
                        }
                        held = false;
                        patch(&store, t, interaction, held_patch(false)).await;
                        call_state(&ctx, t, agent_now, interaction, held, None);
                    }
                    LegNote::HungUp if consulting => {
                        if let Some(k) = consult.take() {
                            end_consult(&ctx, &endpoint, &mut timeline, &k, "third").await;
                        }
                        held = false;
                        patch(&store, t, interaction, held_patch(false)).await;
                        call_state(&ctx, t, agent_now, interaction, held, None);
                    }
                    LegNote::HungUp if talking && consult.as_ref().is_some_and(|k| k.answered) => {
                        // The agent hangs up on a consultation or conference: the caller and
                        // the third talk on (as on a PBX: hanging up completes the transfer).
                        let (Some(c), Some(k)) = (connected.take(), consult.take()) else { continue };
                        let (third, busy) = complete_transfer(&ctx, &endpoint, &mut timeline, &routing, c.agent, c.leg, k, "agent_hung_up").await;
                        (connected, taken_over, held) = (Some(third), busy, false);
                    }
                    LegNote::Ringing if dialled => {
                        timeline.append("call.transfer_ringing", json!({})).await;
                    }
                    LegNote::Answered { sdp } if dialled => {
                        let Some(mut o) = outside.take() else { continue };
                        let agreed = hotline_media::sdp::accept_answer(&sdp, &o.local);
                        match (agreed, o.port.take()) {
                            (Ok(negotiated), Some(port)) => {
                                endpoint.music(None).await;
                                endpoint.connect(port, negotiated).await;
                                let mut moved = json!({ "kind": "outside", "number": o.number, "by": "flow" });
                                match o.by_desk {
                                    Some(agent) => {
                                        moved["from_agent_id"] = agent.into();
                                        moved["by"] = "api".into();
                                    }
                                    None => call.handle(wall_ms(), Input::Answered { agent: o.number.clone() }),
                                }
                                timeline.append("call.transferred", moved).await;
                                patch(&store, t, interaction, InteractionPatch {
                                    state: Some(InteractionState::Active),
                                    ..Default::default()
                                }).await;
                                connected = Some(Connected { agent: 0, leg, agent_hung_up: false, routed: false });
                            }
                            (agreed, _) => {
                                let why = agreed.err().map(|e| e.to_string()).unwrap_or_default();
                                ctx.send(ShardCommand::Drop { leg });
                                timeline
                                    .append("call.transfer_failed", json!({ "number": o.number, "code": 488, "reason": why }))
                                    .await;
                                outside_failed(&o, format!("the number's media cannot be used: {why}"), &mut call, &mut pending_transfer);
                            }
                        }
                    }
                    LegNote::Failed { code } if dialled => {
                        let Some(o) = outside.take() else { continue };
                        endpoint.music(None).await;
                        timeline
                            .append("call.transfer_failed", json!({ "number": o.number, "code": code }))
                            .await;
                        outside_failed(&o, format!("the number answered {code}"), &mut call, &mut pending_transfer);
                    }
                    LegNote::Ringing if current => {
                        let agent = offer.as_ref().map(|o| o.agent);
                        timeline.append("call.agent_ringing", json!({ "agent_id": agent })).await;
                    }
                    LegNote::Answered { sdp } if current => {
                        let Some(mut o) = offer.take() else { continue };
                        let agreed = hotline_media::sdp::accept_answer(&sdp, &o.local);
                        match (agreed, o.port.take()) {
                            (Ok(negotiated), Some(port)) => {
                                endpoint.music(None).await;
                                endpoint.connect(port, negotiated).await;
                                queued = None;
                                status_at = None;
                                tell(&routing, RoutingInput::OfferAccepted(contact)).await;
                                call.handle(wall_ms(), Input::Answered { agent: o.entry.name.clone() });
                                timeline
                                    .append("call.answered", json!({ "agent_id": o.agent, "agent": o.entry.name }))
                                    .await;
                                patch(&store, t, interaction, InteractionPatch {
                                    state: Some(InteractionState::Active),
                                    agent_id: Some(Some(o.agent)),
                                    ..Default::default()
                                }).await;
                                ctx.shared.notify(Notice {
                                    tenant_id: t,
                                    agent_id: Some(o.agent),
                                    kind: "contact.connected",
                                    data: json!({ "interaction_id": interaction }),
                                });
                                connected = Some(Connected { agent: o.agent, leg, agent_hung_up: false, routed: true });
                            }
                            (agreed, _) => {
                                let why = agreed.err().map(|e| e.to_string()).unwrap_or_default();
                                tracing::warn!(interaction, %why, "an agent's phone answered with media we cannot use");
                                ctx.send(ShardCommand::Drop { leg });
                                timeline.append("call.agent_failed", json!({ "agent_id": o.agent, "code": 488 })).await;
                                tell(&routing, RoutingInput::OfferDeclined(contact)).await;
                            }
                        }
                    }
                    LegNote::Failed { code } if current => {
                        let Some(o) = offer.take() else { continue };
                        timeline.append("call.agent_failed", json!({ "agent_id": o.agent, "code": code })).await;
                        // The phone refused or cannot be reached: routing tries the next agent
                        // now rather than at the offer's expiry.
                        tell(&routing, RoutingInput::OfferDeclined(contact)).await;
                    }
                    LegNote::Hold(on) if talking && consult.is_none() && on != held => {
                        end_monitoring(&mut monitoring, &ctx, &endpoint, &mut timeline, "call_changed").await;
                        let agent = connected.as_ref().map(|c| c.agent).unwrap_or(0);
                        held = on;
                        set_hold(on, &endpoint, &media, &mut timeline, agent, "phone").await;
                        patch(&store, t, interaction, held_patch(on)).await;
                        call_state(&ctx, t, agent, interaction, held, None);
                    }
                    LegNote::Refer { .. } if talking && connected.as_ref().is_some_and(|c| !c.routed) => {
                        // An outside party does not move the caller on.
                        ctx.send(ShardCommand::ReferOutcome { leg, code: 403 });
                    }
                    LegNote::Refer { target, replaces: Some(replaces) } if talking => {
                        // Attended: the phone consulted `target` through Hotline (a call of
                        // its own) and puts the caller through to them. That call's far leg
                        // is taken over and offered the caller's media; the phone hears how
                        // it went when it has.
                        let from = connected.as_ref().map(|c| c.agent).unwrap_or(0);
                        let port = if consult.is_none() { media.take_port() } else { None };
                        let Some(port) = port else {
                            ctx.send(ShardCommand::ReferOutcome { leg, code: 503 });
                            timeline
                                .append("call.transfer_refused", json!({ "agent_id": from, "target": target, "kind": "attended" }))
                                .await;
                            continue;
                        };
                        let to_agent = library.agent_by_extension(t, &target).filter(|b| *b != from);
                        end_monitoring(&mut monitoring, &ctx, &endpoint, &mut timeline, "call_changed").await;
                        if !held {
                            endpoint.hold().await;
                            endpoint.music(Some(media.default_music())).await;
                            held = true;
                        }
                        let local = local_media(media.advertise(), port.port, crate::shard::random_seed() >> 40);
                        let adopted = next_leg();
                        ctx.shared.adopt(crate::shard::AdoptRequest {
                            leg: adopted,
                            replaces,
                            local: local.clone(),
                            notes: leg_tx.clone(),
                        });
                        timeline
                            .append("call.transfer_requested", json!({ "kind": "attended", "agent_id": from, "target": target, "to_agent_id": to_agent, "by": "phone" }))
                            .await;
                        let occupied = match to_agent {
                            Some(a) => Occupied::start(&routing, a).await,
                            None => None,
                        };
                        consult = Some(Consult {
                            leg: adopted, target, agent: to_agent, port: Some(port), local,
                            answered: false, conference: false, ring_until: wall_ms() + DESK_RING_MS,
                            occupied, refer: Some(leg),
                        });
                        patch(&store, t, interaction, held_patch(true)).await;
                    }
                    LegNote::Refer { target, replaces: None } if talking => {
                        let from = connected.as_ref().map(|c| c.agent);
                        let to = library
                            .agent_by_extension(t, &target)
                            .filter(|b| Some(*b) != from);
                        match to.filter(|_| routing.is_some() && home.is_some()) {
                            Some(to) => {
                                // Blind: the phone is told it worked and is let go.
                                ctx.send(ShardCommand::ReferOutcome { leg, code: 200 });
                                pending_transfer = Some((TransferTo::Agent(to), "phone"));
                            }
                            None => {
                                // Only agents of the tenant (other than oneself) are transfer
                                // targets for now; the phone keeps its call.
                                ctx.send(ShardCommand::ReferOutcome { leg, code: 404 });
                                timeline.append("call.transfer_refused", json!({ "agent_id": from, "target": target })).await;
                            }
                        }
                    }
                    LegNote::HungUp if talking => {
                        if let Some(c) = connected.as_mut() {
                            c.agent_hung_up = true;
                            if c.routed {
                                timeline.append("call.agent_hung_up", json!({ "agent_id": c.agent })).await;
                            } else {
                                timeline.append("call.outside_hung_up", json!({})).await;
                            }
                        }
                        ctx.send(ShardCommand::HangUp { call_id: arrival.call_id.clone() });
                    }
                    // Notes of a leg given up on already.
                    _ => {}
                }
            }
            _ = sleep => {
                let now = wall_ms();
                // The desk's transfer to a number, or its consultation, rang out.
                if let Some(o) = outside.take_if(|o| o.ring_until.is_some_and(|at| at <= now)) {
                    ctx.send(ShardCommand::Drop { leg: o.leg });
                    timeline
                        .append("call.transfer_failed", json!({ "number": o.number, "reason": "no answer in time" }))
                        .await;
                    outside_failed(&o, "no answer in time".into(), &mut call, &mut pending_transfer);
                }
                if monitoring.as_ref().is_some_and(|m| !m.answered && m.ring_until <= now) {
                    end_monitoring(&mut monitoring, &ctx, &endpoint, &mut timeline, "no_answer").await;
                }
                if let Some(k) = consult.take_if(|k| !k.answered && k.ring_until <= now) {
                    end_consult(&ctx, &endpoint, &mut timeline, &k, "no_answer").await;
                    held = false;
                    let agent = connected.as_ref().map(|c| c.agent).unwrap_or(0);
                    patch(&store, t, interaction, held_patch(false)).await;
                    call_state(&ctx, t, agent, interaction, held, None);
                }
                if let Some((from, until)) = voicemail {
                    if until <= now {
                        voicemail = None;
                        message = Some((from, now));
                        call.handle(now, Input::RecordingDone { duration_ms: (now - from).max(0) as u64 });
                    }
                }
                if status_at.is_some_and(|at| at <= now) {
                    status_at = Some(now + 5_000);
                    if let Some(link) = &routing {
                        if let Ok(Some(e)) = link.estimate(contact).await {
                            call.handle(now, Input::QueueStatus {
                                position: e.position as u32,
                                estimated_wait_s: e.expected.map(|d| d.as_secs()),
                            });
                        }
                    }
                }
                call.handle_timeout(now);
            }
        }
    }
    for (_, task) in lookups {
        task.abort();
    }
    if let Some(o) = outside.take() {
        ctx.send(ShardCommand::Drop { leg: o.leg });
    }
    if let Some(k) = consult.take() {
        ctx.send(ShardCommand::Drop { leg: k.leg });
        timeline
            .append(
                "call.consult_ended",
                json!({ "target": k.target, "by": "call_ended" }),
            )
            .await;
    }
    if let Some(m) = monitoring.take() {
        ctx.send(ShardCommand::Drop { leg: m.leg });
        timeline
            .append(
                "call.monitor_ended",
                json!({ "supervisor_id": m.supervisor, "by": "call_ended" }),
            )
            .await;
    }
    drop(taken_over);
    // Routing hears how the call left it.
    if let Some(c) = &connected {
        if !c.agent_hung_up {
            ctx.send(ShardCommand::Drop { leg: c.leg });
            timeline
                .append("call.caller_hung_up", json!({ "agent_id": c.agent }))
                .await;
        }
        if c.routed {
            tell(&routing, RoutingInput::Ended(contact)).await;
        }
    } else if queued.is_some() {
        if let Some(o) = offer.take() {
            ctx.send(ShardCommand::Drop { leg: o.leg });
        }
        tell(&routing, RoutingInput::Abandoned(contact)).await;
    }
    if routing_rx.is_some() {
        ctx.shared.unregister_contact(interaction);
    }
    // Recordings and the legs' figures come right before the media says it ended; notes
    // still in flight are waited for briefly.
    if !media_ended {
        let mut tail = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(n) = notes.recv().await {
                let ended = matches!(n, EndpointNote::Ended { .. });
                tail.push(n);
                if ended {
                    break;
                }
            }
        })
        .await;
        for n in tail {
            match n {
                EndpointNote::Recorded {
                    path,
                    duration_ms,
                    bytes,
                    conversation,
                } => {
                    let r = timeline
                        .recording(conversation, &path, duration_ms, bytes)
                        .await;
                    recordings.push(r);
                }
                EndpointNote::Quality { role, quality } => {
                    timeline
                        .append("call.quality", quality_record(leg_name(role), &quality))
                        .await;
                }
                _ => {}
            }
        }
    }
    // A message left becomes an interaction of its own, queued for the flow's queue.
    if let Some((from, until)) = message.filter(|(f, u)| u - f >= 500) {
        let ivr = recordings.iter().find(|r| !r.0).map(|r| r.1.clone());
        let left = LeftMessage {
            caller: &caller_number,
            customer_id: customer.as_ref().map(|c| c.id),
            queue: &voicemail_queue,
            from_ms: from - started,
            until_ms: until - started,
        };
        leave_message(&ctx, &library, &mut timeline, ivr, left).await;
    }
    let outcome = call.outcome().cloned().unwrap_or(Outcome::Abandoned);
    let state = match outcome {
        Outcome::Abandoned => InteractionState::Abandoned,
        Outcome::Failed => InteractionState::Failed,
        // Waiting in its queue for the callback.
        _ if callback_pending => InteractionState::Queued,
        _ => InteractionState::Closed,
    };
    timeline
        .append(
            "call.ended",
            json!({
                "outcome": outcome, "duration_ms": wall_ms() - started,
                "by": match &connected {
                    Some(c) if c.agent_hung_up => "agent",
                    Some(_) => "caller",
                    None => "flow_or_caller",
                },
            }),
        )
        .await;
    if interaction != 0 {
        // The conversation is the call's recording; the IVR part when nobody answered.
        let main = recordings
            .iter()
            .find(|r| r.0)
            .or_else(|| recordings.first())
            .map(|r| r.1.clone());
        patch(
            &store,
            t,
            interaction,
            InteractionPatch {
                state: Some(state),
                recording_ref: main,
                ..Default::default()
            },
        )
        .await;
    }
    if let Some(c) = connected.as_ref().filter(|c| c.routed) {
        // The desk leaves the call for wrap-up (the state is stored by now).
        notify_ended(
            &ctx,
            t,
            c.agent,
            interaction,
            if c.agent_hung_up { "agent" } else { "caller" },
        );
    }
    tracing::info!(interaction, outcome = ?outcome, "call ended");
}

/// The change of an interaction that routing now holds in `queue`.
/// A leg's figures as the call's timeline keeps them (`call.quality`): what Hotline measured
/// of the peer's audio, and what the peer's RTCP reports said of Hotline's.
/// `leg` names whom the leg faced (`caller`, `agent`, `customer`).
/// A flow call's leg as its timeline names it.
fn leg_name(role: crate::media::LegRole) -> &'static str {
    use crate::media::LegRole;
    match role {
        LegRole::Caller => "caller",
        LegRole::Callee => "agent",
        LegRole::Consulted => "third",
        LegRole::Supervisor => "supervisor",
    }
}

pub(crate) fn quality_record(
    leg: &str,
    q: &hotline_media::session::LegQuality,
) -> serde_json::Value {
    let ms = |v: f32| (f64::from(v) * 10.0).round() / 10.0;
    let share = |v: f32| (f64::from(v) * 1000.0).round() / 1000.0;
    let remote = (q.remote.reports > 0).then(|| {
        json!({
            "reports": q.remote.reports,
            "fraction_lost": share(q.remote.fraction_lost),
            "max_fraction_lost": share(q.remote.max_fraction_lost),
            "packets_lost": q.remote.cumulative_lost,
            "jitter_ms": ms(q.remote.jitter_ms),
            "max_jitter_ms": ms(q.remote.max_jitter_ms),
            "rtt_ms": q.remote.rtt_ms,
            "max_rtt_ms": q.remote.max_rtt_ms,
        })
    });
    json!({
        "leg": leg,
        "packets_received": q.packets_received,
        "packets_lost": q.packets_lost,
        "jitter_ms": ms(q.jitter_ms),
        "max_jitter_ms": ms(q.max_jitter_ms),
        "reports_sent": q.reports_sent,
        "remote": remote,
    })
}

fn queued_in(queue: i64) -> InteractionPatch {
    InteractionPatch {
        state: Some(InteractionState::Queued),
        queue_id: Some(Some(queue)),
        ..Default::default()
    }
}

/// A new inbound voice interaction.
fn inbound_voice(
    state: InteractionState,
    customer_id: Option<i64>,
    queue_id: Option<i64>,
) -> NewInteraction {
    NewInteraction {
        channel: Channel::Voice,
        direction: Direction::Inbound,
        state,
        customer_id,
        queue_id,
        agent_id: None,
        subject: None,
        notes: String::new(),
        created_at: None,
    }
}

/// A message a caller left: who, for which queue, and where it is in the call's IVR recording
/// (ms from the call's start).
struct LeftMessage<'a> {
    caller: &'a str,
    customer_id: Option<i64>,
    queue: &'a str,
    from_ms: i64,
    until_ms: i64,
}

/// Cuts the message out of the IVR recording (the caller's channel, mono) and stores it as a
/// voice interaction of its own, queued for the flow's queue, with the call's timeline and
/// the desks told.
async fn leave_message(
    ctx: &Context,
    library: &crate::flows::FlowLibrary,
    timeline: &mut Timeline,
    ivr: Option<String>,
    m: LeftMessage<'_>,
) {
    let t = timeline.tenant;
    let store = &ctx.shared.store;
    let Some(ivr) = ivr else {
        tracing::warn!(
            interaction = timeline.interaction,
            "a message was left but the call was not recorded"
        );
        return;
    };
    let target = ivr.trim_end_matches(".wav").to_string() + "-voicemail.wav";
    let (from, until) = (m.from_ms.max(0) as usize, m.until_ms.max(0) as usize);
    let cut = {
        let (ivr, target) = (ivr.clone(), target.clone());
        tokio::task::spawn_blocking(move || cut_caller(&ivr, &target, from, until)).await
    };
    let duration_ms = match cut {
        Ok(Ok(ms)) => ms,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "a left message could not be cut from its recording");
            return;
        }
        Err(_) => return,
    };
    let queue_id = library.queue_id(t, m.queue);
    let created = store
        .create_interaction(
            t,
            &inbound_voice(InteractionState::Queued, m.customer_id, queue_id),
            "telephony",
        )
        .await;
    let id = match created {
        Ok((i, _)) => i.id,
        Err(e) => {
            tracing::error!(error = %e, "a left message's interaction was not created");
            return;
        }
    };
    if let Err(e) = store
        .append_event(
            t,
            id,
            &event(
                "voicemail.left",
                json!({
                    "call_interaction_id": timeline.interaction, "from": m.caller,
                    "queue": m.queue, "duration_ms": duration_ms, "path": target,
                }),
            ),
        )
        .await
    {
        tracing::error!(interaction = id, error = %e, "timeline event not stored");
    }
    patch(
        store,
        t,
        id,
        InteractionPatch {
            recording_ref: Some(target.clone()),
            ..Default::default()
        },
    )
    .await;
    timeline
        .append(
            "call.voicemail_left",
            json!({ "voicemail_interaction_id": id, "duration_ms": duration_ms }),
        )
        .await;
    ctx.shared.notify(Notice {
        tenant_id: t,
        agent_id: None,
        kind: "voicemail.received",
        data: json!({
            "interaction_id": id,
            "queue": { "id": queue_id, "name": m.queue },
            "caller": { "number": m.caller },
            "known": m.customer_id.is_some(),
            "duration_ms": duration_ms,
        }),
    });
}

/// Writes the caller's channel (left) of a stereo 8 kHz recording between `from` and `until`
/// ms to `target` as a mono WAV; its duration in ms.
fn cut_caller(source: &str, target: &str, from: usize, until: usize) -> std::io::Result<u64> {
    let bytes = std::fs::read(source)?;
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let left = hotline_media::wav::stereo_channel(&bytes, 0)
        .ok_or_else(|| bad("not a stereo recording"))?;
    let (a, b) = ((from * 8).min(left.len()), (until * 8).min(left.len()));
    if b <= a {
        return Err(bad("the message is not in the recording"));
    }
    std::fs::write(target, hotline_media::wav::write_mono(8000, &left[a..b]))?;
    Ok(((b - a) / 8) as u64)
}

/// Tells routing something; a refusal is logged (routing's view is corrected by the next input).
/// A transfer to an outside number failed: the flow's goes on at its `on_failure`; the
/// desk's sends the call back to its queue, the agent who transferred first.
fn outside_failed(
    o: &Outside,
    reason: String,
    call: &mut Call,
    pending: &mut Option<(TransferTo, &'static str)>,
) {
    match o.by_desk {
        Some(agent) => *pending = Some((TransferTo::Agent(agent), "fallback")),
        None => call.handle(wall_ms(), Input::TransferFailed(reason)),
    }
}

/// The agent's desk leaves the call (for wrap-up): the call ended or went on without them.
fn notify_ended(ctx: &Context, tenant: i64, agent: i64, interaction: i64, by: &str) {
    ctx.shared.notify(Notice {
        tenant_id: tenant,
        agent_id: Some(agent),
        kind: "contact.ended",
        data: json!({ "interaction_id": interaction, "by": by }),
    });
}

/// Tells the agent's desk how the call stands: on hold, and the consultation's state.
fn call_state(
    ctx: &Context,
    tenant: i64,
    agent: i64,
    interaction: i64,
    held: bool,
    consult: Option<&Consult>,
) {
    if agent == 0 {
        return;
    }
    let consult = consult.map(|k| {
        json!({
            "target": k.target,
            "agent_id": k.agent,
            "state": if k.conference { "conference" } else if k.answered { "talking" } else { "ringing" },
        })
    });
    ctx.shared.notify(Notice {
        tenant_id: tenant,
        agent_id: Some(agent),
        kind: "contact.call_state",
        data: json!({ "interaction_id": interaction, "held": held, "consult": consult }),
    });
}

/// The interaction's state for a call held or talking.
fn held_patch(held: bool) -> InteractionPatch {
    InteractionPatch {
        state: Some(if held {
            InteractionState::Held
        } else {
            InteractionState::Active
        }),
        ..Default::default()
    }
}

/// Puts the caller on hold (music; the agent's phone stays connected and hears nothing) or
/// takes them back.
async fn set_hold(
    on: bool,
    endpoint: &EndpointHandle,
    media: &Media,
    timeline: &mut Timeline,
    agent: i64,
    by: &str,
) {
    if on {
        endpoint.hold().await;
        endpoint.music(Some(media.default_music())).await;
        timeline
            .append("call.held", json!({ "agent_id": agent, "by": by }))
            .await;
    } else {
        endpoint.music(None).await;
        endpoint.resume().await;
        timeline
            .append("call.resumed", json!({ "agent_id": agent, "by": by }))
            .await;
    }
}

/// The consultation's third is let go; the caller and the agent talk again.
async fn end_consult(
    ctx: &Context,
    endpoint: &EndpointHandle,
    timeline: &mut Timeline,
    k: &Consult,
    by: &str,
) {
    ctx.send(ShardCommand::Drop { leg: k.leg });
    if let Some(refer) = k.refer {
        // The phone's attended transfer did not happen: it keeps its call.
        ctx.send(ShardCommand::ReferOutcome {
            leg: refer,
            code: 503,
        });
    }
    if k.answered {
        endpoint.drop_third().await;
    } else {
        endpoint.music(None).await;
        endpoint.resume().await;
    }
    timeline
        .append(
            "call.consult_ended",
            json!({ "target": k.target, "by": by }),
        )
        .await;
}

/// The agent leaves an answered consultation: the caller and the third talk on; routing
/// ends the agent's part (wrap-up), the desk hears the agent's part ended, the call is
/// active (not held). Returns the call's party now (the third, not routed) and the guard
/// that keeps a consulted agent busy for routing until the call ends.
#[allow(clippy::too_many_arguments)]
async fn complete_transfer(
    ctx: &Context,
    endpoint: &EndpointHandle,
    timeline: &mut Timeline,
    routing: &Option<hotline_acd::AcdLink>,
    agent: i64,
    agent_leg: u64,
    mut k: Consult,
    by: &str,
) -> (Connected, Option<Occupied>) {
    let (t, interaction) = (timeline.tenant, timeline.interaction);
    endpoint.drop_agent().await;
    ctx.send(ShardCommand::Drop { leg: agent_leg });
    tell(routing, RoutingInput::Ended(ContactId(interaction))).await;
    timeline
        .append(
            "call.transferred",
            json!({
                "kind": "attended", "from_agent_id": agent, "target": k.target,
                "to_agent_id": k.agent, "conference": k.conference, "by": by,
            }),
        )
        .await;
    notify_ended(ctx, t, agent, interaction, "transferred");
    patch(&timeline.store, t, interaction, held_patch(false)).await;
    let third = Connected {
        agent: 0,
        leg: k.leg,
        agent_hung_up: false,
        routed: false,
    };
    (third, k.occupied.take())
}

async fn tell(routing: &Option<hotline_acd::AcdLink>, input: RoutingInput) {
    let Some(link) = routing else {
        return;
    };
    if let Err(e) = link.input(input).await {
        tracing::warn!(error = %e, "routing refused a call's news");
    }
}

/// Stores a change of the call's interaction (a failure is logged: the call goes on).
pub(crate) async fn patch(store: &Store, tenant: i64, interaction: i64, patch: InteractionPatch) {
    if interaction == 0 {
        return;
    }
    if let Err(e) = store
        .update_interaction(tenant, interaction, &patch, "telephony")
        .await
    {
        tracing::error!(interaction, error = %e, "call's state not stored");
    }
}

/// The customer card for the screen pop (the latest interactions on every channel with
/// their timelines), or `null` for an unknown caller: the desk offers a card to fill.
pub(crate) async fn customer_card(
    store: &Store,
    tenant: i64,
    customer: Option<hotline_model::Customer>,
) -> serde_json::Value {
    let Some(c) = customer else {
        return serde_json::Value::Null;
    };
    match store.card_of(tenant, c, 10).await {
        Ok(card) => serde_json::to_value(card).unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "customer card not read for a screen pop");
            serde_json::Value::Null
        }
    }
}

struct Timeline {
    store: Store,
    tenant: i64,
    interaction: i64,
    /// The IVR steps so far, for the screen pop.
    trace: Vec<serde_json::Value>,
}

impl Timeline {
    /// A recording the media closed (the IVR part or the conversation): on the timeline, and
    /// as the call keeps it (conversation, path, duration, bytes).
    async fn recording(
        &mut self,
        conversation: bool,
        path: &std::path::Path,
        duration_ms: u64,
        bytes: u64,
    ) -> (bool, String, u64, u64) {
        let path = path.display().to_string();
        self.append(
            "call.recording",
            json!({
                "part": if conversation { "conversation" } else { "ivr" },
                "path": path, "duration_ms": duration_ms, "bytes": bytes,
            }),
        )
        .await;
        (conversation, path, duration_ms, bytes)
    }

    async fn append(&mut self, kind: &str, data: serde_json::Value) {
        if self.interaction == 0 {
            return;
        }
        if let Err(e) = self
            .store
            .append_event(self.tenant, self.interaction, &event(kind, data))
            .await
        {
            tracing::error!(interaction = self.interaction, kind, error = %e, "timeline event not stored");
        }
    }

    async fn step(&mut self, step: &Step) {
        let data = serde_json::to_value(step).unwrap_or_default();
        let kind = data["kind"].as_str().unwrap_or("step").to_string();
        self.append(&format!("ivr.{kind}"), data.clone()).await;
        self.trace.push(data);
    }
}

struct Player {
    media: Media,
    endpoint: EndpointHandle,
}

impl Player {
    async fn render(&self, speech: &[Speech]) -> Vec<PlayItem> {
        let mut items = Vec::new();
        for s in speech {
            match s {
                Speech::Text { text, language } => {
                    let voice = if language == "en" { "en" } else { "ru" };
                    match self.media.speech_in(voice, text).await {
                        Some(p) => items.push(PlayItem::Prompt(p)),
                        None => tracing::warn!("a prompt could not be spoken"),
                    }
                }
                Speech::File { path } => match self.media.file_prompt(path).await {
                    Some(p) => items.push(PlayItem::Prompt(p)),
                    None => tracing::warn!(file = %path, "a prompt file could not be read"),
                },
                Speech::Pause { ms } => items.push(PlayItem::Pause((*ms).min(60_000) as u32)),
            }
        }
        items
    }

    /// A phrase as one looping prompt: its parts (pauses as silence) joined.
    async fn music(&self, speech: &[Speech]) -> Option<Prompt> {
        let mut samples: Vec<i16> = Vec::new();
        for item in self.render(speech).await {
            match item {
                PlayItem::Prompt(p) => samples.extend_from_slice(p.samples()),
                PlayItem::Pause(ms) => samples.extend(std::iter::repeat_n(0, ms as usize * 8)),
            }
        }
        (!samples.is_empty()).then(|| Prompt(samples.into()))
    }

    async fn play(&mut self, speech: &[Speech]) {
        let items = self.render(speech).await;
        self.endpoint.play(items).await;
    }
}

/// Answers a lookup from the store or a company system.
async fn lookup(
    store: &Store,
    tenant: i64,
    region: &str,
    request: LookupRequest,
    tls: &Result<std::sync::Arc<hotline_tls::ClientConfig>, String>,
) -> LookupResult {
    match request {
        LookupRequest::Table { table, key } => match store.lookup_row(tenant, &table, &key).await {
            Ok(Some(row)) => LookupResult::Found(row),
            Ok(None) => LookupResult::NotFound,
            Err(e) => LookupResult::Failed(e.to_string()),
        },
        LookupRequest::Customer { identifier } => {
            let (phone, email) = if identifier.contains('@') {
                (None, Some(identifier.as_str()))
            } else {
                (Some(identifier.as_str()), None)
            };
            match store.lookup_customer(tenant, region, phone, email).await {
                Ok(Some(c)) => LookupResult::Found(json!({
                    "id": c.id, "name": c.name, "vip": c.vip, "company": c.company,
                    "fields": c.custom_fields,
                })),
                Ok(None) => LookupResult::NotFound,
                Err(e) => LookupResult::Failed(e.to_string()),
            }
        }
        LookupRequest::Http {
            method,
            url,
            headers,
            body,
        } => crate::http::request(method, &url, &headers, body.as_deref(), tls).await,
    }
}
