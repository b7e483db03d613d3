//! The e-mail service: one task per active mailbox (started and stopped as mailboxes are added
//! or removed, checked every 5 s), the ingest of each mail (attachments to disk, then the
//! store, then routing, then the acknowledgement), routing's offers of e-mail contacts to the
//! agents' desks, and agents' replies.
//!
//! Nothing is lost: a mail leaves the IMAP folder only after `Store::ingest_email` stored it
//! (which recognises a mail stored before, so a restart in between stores it once); a new
//! interaction is handed to routing after it is stored, and at start every queued e-mail
//! interaction routing does not know is handed to it again.

use super::imap;
use super::inbound::{self, ParsedMail};
use super::outbound::{self, Draft};
use super::policy::AckPolicy;
use hotline_acd::AcdLink;
use hotline_model::{Channel, EmailAccount, InteractionState, Message};
use hotline_routing::{AgentId, Command, ContactId, ContactSpec, QueueId};
use hotline_store::{InboundEmail, Ingested, InteractionFilter, NewAttachment, NewOutbound, Store};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// News for the desks (the binary forwards it to the live events).
#[derive(Debug, Clone)]
pub struct Notice {
    pub tenant_id: i64,
    /// The agent it is for; `None`: the tenant's supervisors.
    pub agent_id: Option<i64>,
    pub kind: &'static str,
    pub data: serde_json::Value,
}

/// An agent's reply.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub text: String,
    /// Rich text; sanitised before it is stored or sent.
    pub html: Option<String>,
    /// Defaults to the customer's address.
    pub to: Vec<String>,
    /// Files: name, content type, bytes.
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{1}")]
    Refused(&'static str, String),
    #[error(transparent)]
    Store(#[from] hotline_store::StoreError),
}

struct Inner {
    store: Store,
    routing: AcdLink,
    files: PathBuf,
    notices: broadcast::Sender<Notice>,
    acks: Mutex<AckPolicy>,
    /// E-mail offers on desks: contact → (tenant, offer's end in wall ms). Routing's
    /// withdrawals name no channel; this says which are ours without reading the store
    /// (every missed call's withdrawal comes here too).
    offered: Mutex<HashMap<i64, (i64, u64)>>,
    stop: watch::Receiver<bool>,
}

/// The running service; cheap to clone.
#[derive(Clone)]
pub struct EmailService {
    inner: Arc<Inner>,
    stop: Arc<watch::Sender<bool>>,
    supervisor: Arc<Mutex<Option<JoinHandle<()>>>>,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl EmailService {
    /// Starts reading every active mailbox. Attachments are kept under `files`.
    pub fn start(store: Store, routing: AcdLink, files: PathBuf) -> EmailService {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (notices, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            store,
            routing,
            files,
            notices,
            // Three acknowledgements an hour per sender at most.
            acks: Mutex::new(AckPolicy::new(3, 3_600_000)),
            offered: Mutex::new(HashMap::new()),
            stop: stop_rx,
        });
        let task = tokio::spawn(supervise(inner.clone()));
        EmailService {
            inner,
            stop: Arc::new(stop_tx),
            supervisor: Arc::new(Mutex::new(Some(task))),
        }
    }

    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.inner.notices.subscribe()
    }

    /// Where attachment `sha256` is kept.
    pub fn attachment_path(&self, sha256: &str) -> Option<PathBuf> {
        attachment_path(&self.inner.files, sha256)
    }

    /// Routing's commands for e-mail contacts: an offer puts the card and the mail on the
    /// agent's desk; the agent accepts or declines there (the API tells routing).
    pub fn command(&self, cmd: Command) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            match cmd {
                Command::Offer {
                    contact,
                    agent,
                    expires_at,
                    ..
                } => offer(&inner, contact.0, agent.0, expires_at.as_millis()).await,
                Command::Withdraw { contact, agent } => {
                    let ours = inner
                        .offered
                        .lock()
                        .ok()
                        .and_then(|mut o| o.remove(&contact.0));
                    if let Some((t, _)) = ours {
                        let _ = inner.notices.send(Notice {
                            tenant_id: t,
                            agent_id: Some(agent.0),
                            kind: "contact.withdrawn",
                            data: json!({"interaction_id": contact.0}),
                        });
                    }
                }
                Command::Overflow { contact, from } => {
                    // A written request waits as long as it takes: routing let it go, so it
                    // is handed back to its queue (its wait counts afresh) and the
                    // supervisors hear it waited the queue's maximum.
                    if let Some(t) = email_tenant(&inner.store, contact.0).await {
                        tracing::info!(
                            interaction = contact.0,
                            queue = from.0,
                            "an e-mail waited its queue's maximum"
                        );
                        let _ = inner.notices.send(Notice {
                            tenant_id: t,
                            agent_id: None,
                            kind: "email.overdue",
                            data: json!({"interaction_id": contact.0, "queue_id": from.0}),
                        });
                        route(&inner, contact.0, Some(from.0), None).await;
                    }
                }
            }
        });
    }

    /// Sends an agent's reply and records it; a refusal by the server is stored as `failed`
    /// and returned.
    pub async fn reply(
        &self,
        tenant_id: i64,
        interaction_id: i64,
        author: &str,
        out: Outgoing,
    ) -> Result<Message, SendError> {
        send_reply(&self.inner, tenant_id, interaction_id, author, out, false).await
    }

    /// Stops every mailbox task (a mail being stored is finished first).
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.supervisor.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

fn attachment_path(files: &Path, sha256: &str) -> Option<PathBuf> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(files.join(&sha256[..2]).join(sha256))
}

async fn tenant_of(store: &Store, interaction: i64) -> Option<i64> {
    store
        .tenant_of_interaction(interaction)
        .await
        .ok()
        .flatten()
}

/// The tenant of an e-mail interaction (`None` for another channel's contact).
async fn email_tenant(store: &Store, interaction: i64) -> Option<i64> {
    let t = tenant_of(store, interaction).await?;
    let i = store.get_interaction(t, interaction).await.ok()?;
    (i.channel == Channel::Email).then_some(t)
}

async fn supervise(inner: Arc<Inner>) {
    requeue_unrouted(&inner).await;
    let mut running: HashMap<i64, (EmailAccount, JoinHandle<()>)> = HashMap::new();
    let mut stop = inner.stop.clone();
    loop {
        match inner.store.active_email_accounts().await {
            Ok(accounts) => {
                running.retain(|id, (old, task)| {
                    let keep = accounts.iter().any(|a| a == old) && !task.is_finished();
                    if !keep {
                        tracing::info!(
                            account = id,
                            "mailbox changed or removed: its reader stops"
                        );
                        task.abort();
                    }
                    keep
                });
                for a in accounts {
                    if let std::collections::hash_map::Entry::Vacant(slot) = running.entry(a.id) {
                        let task = tokio::spawn(read_mailbox(inner.clone(), a.clone()));
                        slot.insert((a, task));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "mailboxes not read from the store"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => break,
        }
    }
    for (_, (_, task)) in running {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
}

/// E-mail interactions stored as queued that routing does not hold (Hotline stopped between
/// storing a mail and routing it) are handed to it again.
async fn requeue_unrouted(inner: &Inner) {
    let filter = InteractionFilter {
        channel: Some(Channel::Email),
        state: Some(InteractionState::Queued),
        limit: 10_000,
        ..Default::default()
    };
    let Ok(tenants) = inner.store.list_tenants().await else {
        return;
    };
    for t in tenants {
        let Ok(page) = inner.store.list_interactions(t.id, &filter).await else {
            continue;
        };
        for i in page.items {
            if let Ok(None) = inner.routing.contact_state(ContactId(i.id)).await {
                route(inner, i.id, i.queue_id, i.agent_id).await;
            }
        }
    }
}

async fn route(inner: &Inner, interaction: i64, queue: Option<i64>, preferred: Option<i64>) {
    let Some(q) = queue else {
        return;
    };
    let mut spec = ContactSpec::new(ContactId(interaction), QueueId(q), Channel::Email);
    spec.preferred_agent = preferred.map(AgentId);
    if let Err(e) = inner.routing.input(hotline_acd::Input::Contact(spec)).await {
        tracing::warn!(interaction, error = %e, "routing did not take an e-mail; it stays queued and is handed over at the next start");
    }
}

async fn read_mailbox(inner: Arc<Inner>, account: EmailAccount) {
    let mut stop = inner.stop.clone();
    let mut backoff = 1u64;
    loop {
        if *stop.borrow() {
            return;
        }
        match read_once(&inner, &account, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(account = account.id, error = %e, retry_s = backoff, "mailbox not read");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(backoff)) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(60);
    }
}

/// One connection's life: drain the folder, IDLE, again, until stopped.
async fn read_once(
    inner: &Arc<Inner>,
    account: &EmailAccount,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), imap::ImapError> {
    let mut session = imap::connect(account).await?;
    let caps = session.capabilities().await?;
    let can_move = caps.has_str("MOVE");
    let idle = caps.has_str("IDLE");
    tracing::info!(account = account.id, idle, can_move, "mailbox connected");
    loop {
        let uids = imap::pending(&mut session).await?;
        for uid in uids {
            if *stop.borrow() {
                let _ = session.logout().await;
                return Ok(());
            }
            let Some(raw) = imap::fetch(&mut session, uid).await? else {
                continue;
            };
            match ingest(inner, account, &raw).await {
                Ok(()) => imap::done(&mut session, uid, &account.done_folder, can_move).await?,
                Err(e) => {
                    // Left in the folder: tried again on the next pass.
                    tracing::error!(account = account.id, uid, error = %e, "a mail was not stored; it stays in the mailbox");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
        if *stop.borrow() {
            let _ = session.logout().await;
            return Ok(());
        }
        session = imap::wait(session, idle, stop).await?;
    }
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

async fn keep_files(
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

#[derive(Debug, thiserror::Error)]
enum IngestError {
    #[error("attachment not written: {0}")]
    Files(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] hotline_store::StoreError),
}

/// Stores one mail and acts on it. `Ok` means it is stored (or was before).
async fn ingest(inner: &Arc<Inner>, account: &EmailAccount, raw: &[u8]) -> Result<(), IngestError> {
    let raw = raw.to_vec();
    let parsed: ParsedMail = tokio::task::spawn_blocking(move || inbound::parse(&raw))
        .await
        .map_err(std::io::Error::other)?;
    let files = parsed
        .attachments
        .iter()
        .map(|a| (a.name.clone(), a.content_type.clone(), a.bytes.clone()))
        .collect();
    let attachments = keep_files(&inner.files, files).await?;
    let mail = InboundEmail {
        account_id: account.id,
        dedupe_key: parsed.dedupe_key.clone(),
        message_id: parsed.message_id.clone(),
        from_addr: parsed.from_addr.clone(),
        from_name: parsed.from_name.clone(),
        to: parsed.to.clone(),
        subject: parsed.subject.clone(),
        body_text: parsed.body_text.clone(),
        body_html: parsed.body_html.clone(),
        replies_to: parsed.replies_to.clone(),
        ticket: parsed.ticket,
        auto: parsed.auto.is_some() || parsed.malformed,
        bounce_of: parsed.bounce_of.clone(),
        attachments,
    };
    let t = account.tenant_id;
    match inner.store.ingest_email(t, &mail).await? {
        Ingested::Duplicate { interaction_id } => {
            tracing::info!(
                interaction = interaction_id,
                "a mail stored before was seen again"
            );
        }
        Ingested::New { interaction, .. } => {
            tracing::info!(interaction = interaction.id, attachments = mail.attachments.len(), machine = ?parsed.auto, "a new e-mail request");
            route(inner, interaction.id, interaction.queue_id, None).await;
            acknowledge(inner, account, &interaction, &parsed).await;
            let _ = inner.notices.send(Notice {
                tenant_id: t,
                agent_id: None,
                kind: "email.received",
                data: json!({"interaction_id": interaction.id, "new": true}),
            });
        }
        Ingested::Joined {
            interaction,
            message,
            reopened,
            bounced,
        } => {
            tracing::info!(
                interaction = interaction.id,
                reopened,
                bounce = bounced.is_some(),
                "a mail joined its conversation"
            );
            if reopened {
                route(
                    inner,
                    interaction.id,
                    interaction.queue_id,
                    interaction.agent_id,
                )
                .await;
            }
            let _ = inner.notices.send(Notice {
                tenant_id: t,
                agent_id: interaction.agent_id.filter(|_| !reopened),
                kind: if bounced.is_some() { "email.bounced" } else { "email.received" },
                data: json!({"interaction_id": interaction.id, "message_id": message.id, "new": false}),
            });
        }
    }
    Ok(())
}

/// The automatic acknowledgement of a new request, within RFC 3834's rules and the limit.
async fn acknowledge(
    inner: &Arc<Inner>,
    account: &EmailAccount,
    interaction: &hotline_model::Interaction,
    mail: &ParsedMail,
) {
    if !account.auto_ack {
        return;
    }
    let verdict = inner.acks.lock().map(|mut p| {
        p.decide(
            wall_ms(),
            &mail.from_addr,
            &[account.address.as_str()],
            if mail.malformed {
                Some("malformed")
            } else {
                mail.auto
            },
            true,
        )
    });
    let verdict = verdict.map_err(|_| ());
    match verdict {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            tracing::info!(interaction = interaction.id, ?why, "no acknowledgement");
            let _ = inner
                .store
                .append_event(
                    account.tenant_id,
                    interaction.id,
                    &hotline_store::NewEvent {
                        kind: "email.ack_skipped".into(),
                        actor: "system".into(),
                        data: json!({"why": format!("{why:?}")}),
                        at: None,
                    },
                )
                .await;
            return;
        }
        Err(_) => return,
    }
    let text = format!(
        "Здравствуйте!\n\nВаше обращение получено и зарегистрировано под номером {n}. Мы ответим вам в ближайшее время.\n\n\
Hello,\n\nwe have received your request; its number is {n}. We will answer you shortly.\n\n— {name}",
        n = interaction.id,
        name = if account.display_name.is_empty() { &account.address } else { &account.display_name },
    );
    let out = Outgoing {
        text,
        ..Default::default()
    };
    if let Err(e) = send_reply(
        inner,
        account.tenant_id,
        interaction.id,
        "system",
        out,
        true,
    )
    .await
    {
        tracing::warn!(interaction = interaction.id, error = %e, "acknowledgement not sent");
    }
}

async fn send_reply(
    inner: &Arc<Inner>,
    t: i64,
    interaction_id: i64,
    author: &str,
    out: Outgoing,
    auto: bool,
) -> Result<Message, SendError> {
    let interaction = inner.store.get_interaction(t, interaction_id).await?;
    let history = inner.store.list_messages(t, interaction_id).await?;
    // The mailbox it came through answers it.
    let account_id = history
        .iter()
        .rev()
        .find_map(|m| m.account_id)
        .ok_or(SendError::Refused(
            "no_mailbox",
            "this interaction came through no mailbox".into(),
        ))?;
    let account = inner
        .store
        .get_email_account(t, account_id)
        .await
        .map_err(|e| match e {
            hotline_store::StoreError::NotFound => SendError::Refused(
                "no_mailbox",
                "the mailbox of this interaction was removed".into(),
            ),
            e => e.into(),
        })?;
    let last_in = history
        .iter()
        .rev()
        .find(|m| m.direction == hotline_model::Direction::Inbound && !m.auto);
    let mut to = out.to.clone();
    if to.is_empty() {
        if let Some(m) = last_in.filter(|m| !m.from_addr.is_empty()) {
            to.push(m.from_addr.clone());
        }
    }
    let mut checked = Vec::new();
    for a in &to {
        match hotline_model::email::normalize_email(a) {
            Ok(a) => checked.push(a),
            Err(_) => {
                return Err(SendError::Refused(
                    "invalid_recipient",
                    format!("not an e-mail address: {a}"),
                ))
            }
        }
    }
    if checked.is_empty() {
        return Err(SendError::Refused(
            "no_recipient",
            "nobody to send it to: the request has no sender address".into(),
        ));
    }
    let subject = outbound::reply_subject(
        interaction
            .subject
            .as_deref()
            .or(last_in.map(|m| m.subject.as_str()))
            .unwrap_or(""),
        interaction_id,
    );
    let references: Vec<String> = history
        .iter()
        .filter_map(|m| m.message_id.clone())
        .collect();
    let message_id = outbound::new_message_id(&account.address, interaction_id);
    let html = out.html.as_deref().map(inbound::sanitize_html);
    let draft = Draft {
        from_addr: account.address.clone(),
        from_name: account.display_name.clone(),
        to: checked.clone(),
        subject: subject.clone(),
        text: out.text.clone(),
        html: html.clone(),
        interaction_id,
        in_reply_to: last_in.and_then(|m| m.message_id.clone()),
        references,
        message_id: message_id.clone(),
        auto_submitted: auto,
        attachments: out.attachments.clone(),
    };
    let message =
        outbound::compose(&draft).map_err(|e| SendError::Refused("invalid_mail", e.to_string()))?;
    let kept = keep_files(&inner.files, out.attachments.clone())
        .await
        .map_err(|e| SendError::Refused("files", e.to_string()))?;
    let stored = inner
        .store
        .add_outbound_message(
            t,
            interaction_id,
            &NewOutbound {
                account_id: Some(account.id),
                message_id,
                from_addr: account.address.clone(),
                from_name: account.display_name.clone(),
                to: checked,
                subject,
                body_text: out.text,
                body_html: html.unwrap_or_default(),
                auto,
                author: author.to_string(),
                attachments: kept,
            },
        )
        .await?;
    match super::smtp::send(&account, message).await {
        Ok(()) => Ok(inner
            .store
            .set_message_status(t, stored.id, "sent", None)
            .await?),
        Err(e) => {
            tracing::warn!(interaction = interaction_id, error = %hotline_model::redact::redact(&e), "the SMTP server refused a mail");
            let m = inner
                .store
                .set_message_status(t, stored.id, "failed", Some(&e))
                .await?;
            let _ = inner.notices.send(Notice {
                tenant_id: t,
                agent_id: interaction.agent_id,
                kind: "email.failed",
                data: json!({"interaction_id": interaction_id, "message_id": m.id, "error": e}),
            });
            Ok(m)
        }
    }
}

/// Puts an offered e-mail on the agent's desk: the card, the request and when the offer ends.
async fn offer(inner: &Arc<Inner>, interaction: i64, agent: i64, expires_at_ms: u64) {
    let store = &inner.store;
    let Some(t) = tenant_of(store, interaction).await else {
        let _ = inner
            .routing
            .input(hotline_acd::Input::OfferDeclined(ContactId(interaction)))
            .await;
        return;
    };
    let Ok(i) = store.get_interaction(t, interaction).await else {
        return;
    };
    if let Ok(mut o) = inner.offered.lock() {
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
                kind: "email.offered".into(),
                actor: "routing".into(),
                data: json!({"agent_id": agent}),
                at: None,
            },
        )
        .await;
    let _ = inner.notices.send(Notice {
        tenant_id: t,
        agent_id: Some(agent),
        kind: "contact.offered",
        data: json!({
            "interaction_id": interaction,
            "channel": "email",
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
        }),
    });
}
