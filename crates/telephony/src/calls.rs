//! Call control for calls that enter a contact flow: one task per call drives the flow
//! interpreter with what the media endpoint hears (keys, prompt ends), the time, and lookups;
//! it plays what the flow says (speech rendered by espeak-ng, WAV files, music), and writes
//! the call as an interaction whose timeline holds every step as it happens.
//!
//! The caller is recognised by number before the first prompt. Lookups run with the flow's
//! time budget: the built-in tables and customer base from the store, company systems over
//! HTTP. What is not wired yet is said on the timeline and in the logs, never faked: queues
//! refuse the call (the flow goes to its `next`), transfers fail (the flow goes to its
//! `on_failure`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hotline_flow::run::{Action, Input, LookupRequest, LookupResult, Outcome, Speech, Step};
use hotline_flow::{Call, Value};
use hotline_media::playback::Prompt;
use hotline_model::{Channel, Direction, InteractionState};
use hotline_store::{InteractionPatch, NewEvent, NewInteraction, Store};
use serde_json::json;
use tokio::sync::mpsc;

use crate::flows::{FlowLibrary, LoadedFlow};
use crate::media::{EndpointHandle, EndpointNote, Media, PlayItem};

/// Who is calling and where.
pub struct Arrival {
    pub tenant_id: i64,
    pub flow_name: String,
    /// The caller's number as the From header gave it.
    pub caller: String,
    pub dialled: String,
    pub call_id: String,
}

/// Wall time as the flow takes it (business hours read it).
fn wall_ms() -> i64 {
    crate::shard::wall_ms() as i64
}

fn event(kind: &str, data: serde_json::Value) -> NewEvent {
    NewEvent {
        kind: kind.to_string(),
        actor: "telephony".into(),
        data,
        at: None,
    }
}

/// Runs one call through its flow until the flow ends and the media has closed.
pub async fn run(
    arrival: Arrival,
    loaded: LoadedFlow,
    library: Arc<FlowLibrary>,
    store: Store,
    media: Media,
    endpoint: EndpointHandle,
    mut notes: mpsc::UnboundedReceiver<EndpointNote>,
) {
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
    let mut vars = BTreeMap::new();
    vars.insert(
        "caller.number".to_string(),
        Value::Str(normalized.clone().unwrap_or_else(|| arrival.caller.clone())),
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
            &NewInteraction {
                channel: Channel::Voice,
                direction: Direction::Inbound,
                state: InteractionState::InFlow,
                customer_id: customer.as_ref().map(|c| c.id),
                queue_id: None,
                agent_id: None,
                subject: None,
                notes: String::new(),
                created_at: None,
            },
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
    };
    timeline
        .append(
            "call.arrived",
            json!({
                "flow": arrival.flow_name, "flow_version": loaded.version,
                "from": normalized.as_deref().unwrap_or(&arrival.caller),
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

    let mut call = Call::new(loaded.flow.clone(), tenant.calendars.clone(), vars);
    let (lookup_tx, mut lookup_rx) = mpsc::unbounded_channel::<(u64, LookupResult)>();
    let mut lookups: HashMap<u64, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut player = Player {
        media: media.clone(),
        endpoint: endpoint.clone(),
    };
    let started = wall_ms();
    let mut voicemail: Option<(i64, i64)> = None; // (started, deadline)
    let mut media_ended = false;
    let mut recording: Option<(String, u64, u64)> = None;
    call.start(started);
    loop {
        // What the flow asked for, and what it did.
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
                    lookups.insert(
                        id,
                        tokio::spawn(async move {
                            let budget = Duration::from_millis(budget_ms);
                            let result = match tokio::time::timeout(
                                budget,
                                lookup(&store, t, &region, request),
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
                Action::Enqueue { queue, .. } => {
                    tracing::warn!(
                        interaction,
                        "queueing calls for agents is not wired yet; the flow goes on"
                    );
                    timeline
                        .append("call.queue_unavailable", json!({ "queue": queue }))
                        .await;
                    call.handle(
                        wall_ms(),
                        Input::QueueRejected("calls are not yet routed to agents".into()),
                    );
                }
                Action::Dequeue | Action::CancelTransfer => {}
                Action::Callback { queue, .. } => {
                    timeline
                        .append("call.callback_requested", json!({ "queue": queue }))
                        .await;
                }
                Action::Transfer { target, .. } => {
                    tracing::warn!(interaction, "transfers from flows are not wired yet");
                    timeline
                        .append("call.transfer_unavailable", json!({ "target": target }))
                        .await;
                    call.handle(
                        wall_ms(),
                        Input::TransferFailed("transfers are not connected yet".into()),
                    );
                }
                Action::RecordVoicemail { queue, max_ms } => {
                    let now = wall_ms();
                    voicemail = Some((now, now + max_ms as i64));
                    timeline
                        .append(
                            "call.voicemail_started",
                            json!({ "queue": queue, "offset_ms": now - started }),
                        )
                        .await;
                }
                Action::StopRecording => {
                    if let Some((from, _)) = voicemail.take() {
                        call.handle(
                            wall_ms(),
                            Input::RecordingDone {
                                duration_ms: (wall_ms() - from).max(0) as u64,
                            },
                        );
                    }
                }
                Action::Hangup => endpoint.stop(),
            }
        }
        while let Some(step) = call.poll_step() {
            timeline.step(&step).await;
        }
        // The flow is done and the media has ended (after the flow's hang-up, or the caller's).
        if call.outcome().is_some() && media_ended {
            break;
        }
        let deadline = [call.poll_timeout(), voicemail.map(|v| v.1)]
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
        tokio::select! {
            note = notes.recv() => match note {
                Some(EndpointNote::Digit(d)) => call.handle(wall_ms(), Input::Digit(d)),
                Some(EndpointNote::PromptFinished) => call.handle(wall_ms(), Input::PromptFinished),
                Some(EndpointNote::Recorded { path, duration_ms, bytes }) => {
                    recording = Some((path.display().to_string(), duration_ms, bytes));
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
            _ = sleep => {
                let now = wall_ms();
                if let Some((from, until)) = voicemail {
                    if until <= now {
                        voicemail = None;
                        call.handle(now, Input::RecordingDone { duration_ms: (now - from).max(0) as u64 });
                    }
                }
                call.handle_timeout(now);
            }
        }
    }
    for (_, task) in lookups {
        task.abort();
    }
    // The recording is closed right after the media ends.
    if recording.is_none() {
        let wait = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(n) = notes.recv().await {
                if let EndpointNote::Recorded {
                    path,
                    duration_ms,
                    bytes,
                } = n
                {
                    return Some((path.display().to_string(), duration_ms, bytes));
                }
            }
            None
        });
        recording = wait.await.ok().flatten();
    }
    let outcome = call.outcome().cloned().unwrap_or(Outcome::Abandoned);
    let state = match outcome {
        Outcome::Abandoned => InteractionState::Abandoned,
        Outcome::Failed => InteractionState::Failed,
        _ => InteractionState::Closed,
    };
    if let Some((path, duration_ms, bytes)) = &recording {
        timeline
            .append(
                "call.recording",
                json!({ "path": path, "duration_ms": duration_ms, "bytes": bytes }),
            )
            .await;
    }
    timeline
        .append(
            "call.ended",
            json!({ "outcome": outcome, "duration_ms": wall_ms() - started }),
        )
        .await;
    if interaction != 0 {
        let patch = InteractionPatch {
            state: Some(state),
            recording_ref: recording.map(|r| r.0),
            ..Default::default()
        };
        if let Err(e) = store
            .update_interaction(t, interaction, &patch, "telephony")
            .await
        {
            tracing::error!(interaction, error = %e, "call's end not stored");
        }
    }
    tracing::info!(interaction, outcome = ?outcome, "call left its flow");
}

struct Timeline {
    store: Store,
    tenant: i64,
    interaction: i64,
}

impl Timeline {
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
        self.append(&format!("ivr.{kind}"), data).await;
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
async fn lookup(store: &Store, tenant: i64, region: &str, request: LookupRequest) -> LookupResult {
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
        } => crate::http::request(method, &url, &headers, body.as_deref()).await,
    }
}
