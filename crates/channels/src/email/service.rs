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
pub use crate::desk::Notice;
use crate::desk::{wall_ms, Desk};
use hotline_acd::AcdLink;
use hotline_model::{Channel, EmailAccount, Message};
use hotline_routing::Command;
use hotline_store::{InboundEmail, Ingested, NewOutbound, Store};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

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
    desk: Desk,
    files: PathBuf,
    acks: Mutex<AckPolicy>,
    stop: watch::Receiver<bool>,
}

/// The running service; cheap to clone.
#[derive(Clone)]
pub struct EmailService {
    inner: Arc<Inner>,
    stop: Arc<watch::Sender<bool>>,
    supervisor: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl EmailService {
    /// Starts reading every active mailbox. Attachments are kept under `files`.
    pub fn start(store: Store, routing: AcdLink, files: PathBuf) -> EmailService {
        let (stop_tx, stop_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            desk: Desk::new(store, routing),
            files,
            // Three acknowledgements an hour per sender at most.
            acks: Mutex::new(AckPolicy::new(3, 3_600_000)),
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
        self.inner.desk.notices.subscribe()
    }

    /// Where attachment `sha256` is kept.
    pub fn attachment_path(&self, sha256: &str) -> Option<PathBuf> {
        crate::desk::attachment_path(&self.inner.files, sha256)
    }

    /// Routing's commands for e-mail contacts and forms (both answered by e-mail): an offer
    /// puts the card and the mail on the agent's desk (the agent accepts or declines there;
    /// the API tells routing); an overflow is `email.overdue`.
    pub fn command(&self, cmd: Command) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            inner
                .desk
                .command(cmd, &[Channel::Email, Channel::Form], "email.overdue")
                .await;
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

    /// Takes mail for the mailboxes' addresses by SMTP on `addr` (direct delivery: the
    /// company's mail server relays to Hotline). A mail is acknowledged ("250") only once it
    /// is stored for every recipient. Answers the address bound.
    pub async fn listen_smtp(
        &self,
        addr: std::net::SocketAddr,
        hostname: &str,
    ) -> std::io::Result<std::net::SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let inner = self.inner.clone();
        let hostname = hostname.to_string();
        let mut stop = self.inner.stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((tcp, _)) => {
                            tokio::spawn(smtp_connection(inner.clone(), tcp, hostname.clone()));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "SMTP accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    },
                    _ = stop.changed() => return,
                }
            }
        });
        Ok(bound)
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

async fn supervise(inner: Arc<Inner>) {
    inner.desk.requeue_unrouted(Channel::Email).await;
    inner.desk.requeue_unrouted(Channel::Form).await;
    let mut running: HashMap<i64, (EmailAccount, JoinHandle<()>)> = HashMap::new();
    let mut stop = inner.stop.clone();
    loop {
        match inner.desk.store.active_email_accounts().await {
            Ok(mut accounts) => {
                // A mailbox without an IMAP server takes mail by direct delivery only.
                accounts.retain(|a| !a.imap_host.is_empty());
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
    let attachments = crate::desk::keep_files(&inner.files, files).await?;
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
    match inner.desk.store.ingest_email(t, &mail).await? {
        Ingested::Duplicate { interaction_id } => {
            tracing::info!(
                interaction = interaction_id,
                "a mail stored before was seen again"
            );
        }
        Ingested::New { interaction, .. } => {
            tracing::info!(interaction = interaction.id, attachments = mail.attachments.len(), machine = ?parsed.auto, "a new e-mail request");
            inner
                .desk
                .route(
                    interaction.id,
                    interaction.channel,
                    interaction.queue_id,
                    None,
                )
                .await;
            acknowledge(inner, account, &interaction, &parsed).await;
            let _ = inner.desk.notices.send(Notice {
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
                inner
                    .desk
                    .route(
                        interaction.id,
                        interaction.channel,
                        interaction.queue_id,
                        interaction.agent_id,
                    )
                    .await;
            }
            let _ = inner.desk.notices.send(Notice {
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
                .desk
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
    let interaction = inner.desk.store.get_interaction(t, interaction_id).await?;
    let history = inner.desk.store.list_messages(t, interaction_id).await?;
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
        .desk
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
    let kept = crate::desk::keep_files(&inner.files, out.attachments.clone())
        .await
        .map_err(|e| SendError::Refused("files", e.to_string()))?;
    let stored = inner
        .desk
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
            .desk
            .store
            .set_message_status(t, stored.id, "sent", None)
            .await?),
        Err(e) => {
            tracing::warn!(interaction = interaction_id, error = %hotline_model::redact::redact(&e), "the SMTP server refused a mail");
            let m = inner
                .desk
                .store
                .set_message_status(t, stored.id, "failed", Some(&e))
                .await?;
            let _ = inner.desk.notices.send(Notice {
                tenant_id: t,
                agent_id: interaction.agent_id,
                kind: "email.failed",
                data: json!({"interaction_id": interaction_id, "message_id": m.id, "error": e}),
            });
            Ok(m)
        }
    }
}

/// Largest mail taken by direct delivery.
const MAX_DIRECT_MAIL: usize = 50 * 1024 * 1024;

/// One SMTP client (the company's mail server) delivering to Hotline.
async fn smtp_connection(inner: Arc<Inner>, mut tcp: tokio::net::TcpStream, hostname: String) {
    use super::smtpd::{Event, Session};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let accounts: Vec<EmailAccount> = inner
        .desk
        .store
        .active_email_accounts()
        .await
        .unwrap_or_default();
    let served: std::collections::HashSet<String> =
        accounts.iter().map(|a| a.address.clone()).collect();
    let mut session = Session::new(&hostname, MAX_DIRECT_MAIL, move |a| served.contains(a));
    let mut pending = vec![session.greeting()];
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(event) = (!pending.is_empty()).then(|| pending.remove(0)) {
            match event {
                Event::Reply(r) => {
                    if tcp.write_all(r.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Event::Close => {
                    let _ = tcp.shutdown().await;
                    return;
                }
                Event::Mail { from, to, data } => {
                    // RFC 5321 4.4: the delivering server records the envelope's sender.
                    let mut raw = format!("Return-Path: <{from}>\r\n").into_bytes();
                    raw.extend_from_slice(&data);
                    let mut ok = true;
                    for rcpt in &to {
                        let Some(account) = accounts.iter().find(|a| &a.address == rcpt) else {
                            continue;
                        };
                        if let Err(e) = ingest(&inner, account, &raw).await {
                            tracing::warn!(account = account.id, error = %e, "a delivered mail was not stored; the sender keeps it");
                            ok = false;
                            break;
                        }
                    }
                    pending.extend(if ok {
                        session.stored()
                    } else {
                        session.failed()
                    });
                }
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(300), tcp.read(&mut buf)).await;
        match read {
            Ok(Ok(n)) if n > 0 => pending.extend(session.feed(&buf[..n])),
            _ => return,
        }
    }
}
