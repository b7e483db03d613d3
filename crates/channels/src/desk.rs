//! What every written channel's service shares: the news for the desks ([`Notice`]), handing a
//! contact to routing, routing's offers put on an agent's desk (and withdrawn), and the files
//! of messages (kept once under their SHA-256).

use hotline_acd::AcdLink;
use hotline_model::{Channel, InteractionState};
use hotline_routing::{AgentId, Command, ContactId, ContactSpec, QueueId};
use hotline_store::{InteractionFilter, NewAttachment, Store};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// News for the desks (the binary forwards it to the live events).
#[derive(Debug, Clone)]
pub struct Notice {
    pub tenant_id: i64,
    /// The agent it is for; `None`: the tenant's supervisors.
    pub agent_id: Option<i64>,
    pub kind: &'static str,
    pub data: serde_json::Value,
}

pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A written channel's link to routing and the desks.
pub(crate) struct Desk {
    pub store: Store,
    pub routing: AcdLink,
    pub notices: broadcast::Sender<Notice>,
    /// Offers on desks: contact → (tenant, offer's end in wall ms). Routing's withdrawals name
    /// no channel; this says which are ours without reading the store (every missed call's
    /// withdrawal comes to every channel).
    offered: Mutex<HashMap<i64, (i64, u64)>>,
}

impl Desk {
    pub fn new(store: Store, routing: AcdLink) -> Desk {
        let (notices, _) = broadcast::channel(4096);
        Desk {
            store,
            routing,
            notices,
            offered: Mutex::new(HashMap::new()),
        }
    }

    pub fn notice(
        &self,
        tenant_id: i64,
        agent_id: Option<i64>,
        kind: &'static str,
        data: serde_json::Value,
    ) {
        let _ = self.notices.send(Notice {
            tenant_id,
            agent_id,
            kind,
            data,
        });
    }

    pub async fn tenant_of(&self, interaction: i64) -> Option<i64> {
        self.store
            .tenant_of_interaction(interaction)
            .await
            .ok()
            .flatten()
    }

    /// Routing's commands for contacts of `channels`: an offer goes to the agent's desk, a
    /// withdrawal takes it back, an overflow (the queue's maximum wait) hands the contact back
    /// to its queue — a written request waits as long as it takes, its wait counting afresh —
    /// and tells the supervisors (`overdue`). Contacts of other channels are left alone.
    pub async fn command(&self, cmd: Command, channels: &[Channel], overdue: &'static str) {
        match cmd {
            Command::Offer {
                contact,
                agent,
                expires_at,
                ..
            } => self.offer(contact.0, agent.0, expires_at.as_millis()).await,
            Command::Withdraw { contact, agent } => {
                self.withdraw(contact.0, agent.0);
            }
            Command::Overflow { contact, from } => {
                let Some(t) = self.tenant_of(contact.0).await else {
                    return;
                };
                let Ok(i) = self.store.get_interaction(t, contact.0).await else {
                    return;
                };
                if !channels.contains(&i.channel) {
                    return;
                }
                tracing::info!(interaction = i.id, queue = from.0, channel = %i.channel, "a written contact waited its queue's maximum");
                self.notice(
                    t,
                    None,
                    overdue,
                    json!({"interaction_id": i.id, "queue_id": from.0}),
                );
                self.route(i.id, i.channel, Some(from.0), None).await;
            }
        }
    }

    /// Hands a stored contact to routing (`preferred`: the agent it had).
    pub async fn route(
        &self,
        interaction: i64,
        channel: Channel,
        queue: Option<i64>,
        preferred: Option<i64>,
    ) {
        let Some(q) = queue else {
            return;
        };
        let mut spec = ContactSpec::new(ContactId(interaction), QueueId(q), channel);
        spec.preferred_agent = preferred.map(AgentId);
        if let Err(e) = self.routing.input(hotline_acd::Input::Contact(spec)).await {
            tracing::warn!(interaction, %channel, error = %e, "routing did not take a contact; it stays queued and is handed over at the next start");
        }
    }

    /// Contacts of `channel` stored as queued that routing does not hold (Hotline stopped
    /// between storing and routing them) are handed to it again.
    pub async fn requeue_unrouted(&self, channel: Channel) {
        for i in self.queued(channel).await {
            if let Ok(None) = self.routing.contact_state(ContactId(i.id)).await {
                self.route(i.id, channel, i.queue_id, i.agent_id).await;
            }
        }
    }

    /// Every tenant's interactions of `channel` stored as queued (up to 10,000 a tenant).
    pub async fn queued(&self, channel: Channel) -> Vec<hotline_model::Interaction> {
        let filter = InteractionFilter {
            channel: Some(channel),
            state: Some(InteractionState::Queued),
            limit: 10_000,
            ..Default::default()
        };
        let Ok(tenants) = self.store.list_tenants().await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for t in tenants {
            if let Ok(page) = self.store.list_interactions(t.id, &filter).await {
                out.extend(page.items);
            }
        }
        out
    }

    /// Routing withdrew an offer: the agent's desk hears it if the offer was ours.
    pub fn withdraw(&self, contact: i64, agent: i64) -> bool {
        let ours = self
            .offered
            .lock()
            .ok()
            .and_then(|mut o| o.remove(&contact));
        if let Some((t, _)) = ours {
            self.notice(
                t,
                Some(agent),
                "contact.withdrawn",
                json!({"interaction_id": contact}),
            );
        }
        ours.is_some()
    }

    /// Puts an offered written contact on the agent's desk: the card, the request and when
    /// the offer ends (`contact.offered`).
    pub async fn offer(&self, interaction: i64, agent: i64, expires_at_ms: u64) {
        let store = &self.store;
        let Some(t) = self.tenant_of(interaction).await else {
            let _ = self
                .routing
                .input(hotline_acd::Input::OfferDeclined(ContactId(interaction)))
                .await;
            return;
        };
        let Ok(i) = store.get_interaction(t, interaction).await else {
            return;
        };
        if let Ok(mut o) = self.offered.lock() {
            // An offer is withdrawn at its end at the latest; older entries were taken.
            let now = wall_ms();
            o.retain(|_, (_, until)| *until + 60_000 > now);
            o.insert(interaction, (t, expires_at_ms));
        }
        let card = match i.customer_id {
            Some(c) => store
                .customer_card(t, c, 10)
                .await
                .ok()
                .and_then(|c| serde_json::to_value(c).ok())
                .unwrap_or(serde_json::Value::Null),
            None => serde_json::Value::Null,
        };
        let queue = match i.queue_id {
            Some(q) => store
                .get_queue(t, q)
                .await
                .ok()
                .map(|q| json!({"id": q.id, "name": q.name})),
            None => None,
        };
        let messages = store
            .list_messages(t, interaction)
            .await
            .unwrap_or_default();
        let last = messages
            .iter()
            .rev()
            .find(|m| m.direction == hotline_model::Direction::Inbound);
        let _ = store
            .append_event(
                t,
                interaction,
                &hotline_store::NewEvent {
                    kind: format!("{}.offered", i.channel),
                    actor: "routing".into(),
                    data: json!({"agent_id": agent}),
                    at: None,
                },
            )
            .await;
        let data = json!({
            "interaction_id": interaction,
            "channel": i.channel,
            "direction": "inbound",
            "queue": queue,
            "subject": i.subject,
            "from": last.map(|m| json!({"address": m.from_addr, "name": m.from_name})),
            "preview": last.map(|m| m.body_text.chars().take(300).collect::<String>()),
            "messages": messages.len(),
            "known": i.customer_id.is_some(),
            "card": card,
            "offered_at": wall_ms(),
            "expires_at": expires_at_ms,
        });
        self.notice(t, Some(agent), "contact.offered", data);
    }
}

pub(crate) fn attachment_path(files: &Path, sha256: &str) -> Option<PathBuf> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(files.join(&sha256[..2]).join(sha256))
}

/// Writes a file under its SHA-256 (once; a crash leaves at most a temporary file).
fn keep_file(files: &Path, bytes: &[u8]) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let sha = hex::encode(Sha256::digest(bytes));
    let path = attachment_path(files, &sha).ok_or_else(|| std::io::Error::other("bad hash"))?;
    if path.exists() {
        return Ok(sha);
    }
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no folder"))?;
    std::fs::create_dir_all(dir)?;
    let mut tmp = [0u8; 6];
    let _ = getrandom::fill(&mut tmp);
    let tmp = dir.join(format!(".{sha}.{}", hex::encode(tmp)));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(sha)
}

/// Writes files (name, content type, bytes) off the runtime's threads; their rows to store.
pub(crate) async fn keep_files(
    files: &Path,
    list: Vec<(String, String, Vec<u8>)>,
) -> std::io::Result<Vec<NewAttachment>> {
    let files = files.to_path_buf();
    tokio::task::spawn_blocking(move || {
        list.into_iter()
            .map(|(name, content_type, bytes)| {
                let sha256 = keep_file(&files, &bytes)?;
                Ok(NewAttachment {
                    name,
                    content_type,
                    size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
                    sha256,
                })
            })
            .collect()
    })
    .await
    .map_err(std::io::Error::other)?
}
