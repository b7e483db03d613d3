//! Web chat: visitors of a company's site talk to agents through the widget.
//!
//! A chat is an interaction (channel `chat`) with a session the widget holds by a secret. Each
//! message is stored before anyone is told of it: the visitor's message is acknowledged to its
//! widget (by the widget's own id for it) only once stored, and a resend after a reconnect is
//! stored once (`Store::add_chat_message`). A widget that reconnects is given every message
//! after the last one it has, so nothing said while it was away is lost.
//!
//! Rooms (one per chat, in memory) fan what happens out to the visitor's open widgets; they
//! are rebuilt from the store when a widget comes back, so a restart loses nothing but typing
//! indicators. While a chat waits, its visitors are told their position and expected wait
//! (routing's estimate) when it changes. A visitor gone (no widget open) for
//! [`GONE_AFTER`] while waiting has abandoned.
//!
//! When no agent who could take the site's chats is logged in, the widget offers to leave a
//! message instead: an e-mail interaction answered through the site's mailbox.

use crate::desk::{keep_files, wall_ms, Desk, Notice};
use crate::email::outbound::{self, Draft};
use hotline_acd::{AcdLink, Input};
use hotline_model::{Channel, ChatSession, Direction, InteractionState, Message, Site};
use hotline_routing::{AgentState, Command, ContactId};
use hotline_store::{ChatLine, InteractionPatch, Store, StoreError, Visitor};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// A waiting visitor with no widget open this long has left.
pub const GONE_AFTER: Duration = Duration::from_secs(120);

/// What a visitor's widget is told.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToVisitor {
    /// A message (the visitor's own, from another of their tabs, or an agent's).
    Message {
        message: ChatMessage,
    },
    /// Position in the queue (1 = next) and the expected wait in seconds, when known.
    Queue {
        position: usize,
        wait_seconds: Option<u64>,
    },
    /// An agent took the chat.
    Agent {
        name: String,
    },
    Typing {
        name: String,
    },
    /// The chat is over (`by`: `visitor`, `agent`, `system`).
    Ended {
        by: String,
    },
}

/// A message as the widget shows it: no internal ids beyond its own.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatMessage {
    pub id: i64,
    /// `visitor`, `agent` or `system`.
    pub from: &'static str,
    pub name: String,
    pub text: String,
    /// Wall time in ms.
    pub at: i64,
    pub attachments: Vec<ChatFile>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatFile {
    pub id: i64,
    pub name: String,
    pub size: i64,
    pub content_type: String,
}

impl ChatMessage {
    pub fn of(m: &Message) -> ChatMessage {
        ChatMessage {
            id: m.id,
            from: match (m.direction, m.author.as_str()) {
                (Direction::Inbound, _) => "visitor",
                (_, "system") => "system",
                _ => "agent",
            },
            name: m.from_name.clone(),
            text: m.body_text.clone(),
            at: i64::try_from(m.created_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
            attachments: m
                .attachments
                .iter()
                .map(|a| ChatFile {
                    id: a.id,
                    name: a.name.clone(),
                    size: a.size,
                    content_type: a.content_type.clone(),
                })
                .collect(),
        }
    }
}

/// What a site's widget shows before a chat: its name, greeting, whether anyone can answer.
#[derive(Debug, Clone, Serialize)]
pub struct SiteStatus {
    pub name: String,
    pub greeting: String,
    pub chat: bool,
    /// Someone who could take the chat is logged in (on a break counts: they come back).
    pub online: bool,
    /// Messages can be left (the site has a mailbox), and transcripts sent.
    pub messages: bool,
    pub forms: bool,
}

/// A visitor's widget, connected: its chat, what it missed, what comes next.
pub struct Attached {
    pub session: ChatSession,
    /// Messages after the one the widget had, oldest first.
    pub missed: Vec<ChatMessage>,
    /// The agent serving the chat, if one took it.
    pub agent: Option<String>,
    pub ended: bool,
    pub events: broadcast::Receiver<ToVisitor>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A refusal with a stable code: `unknown_site`, `origin_not_allowed`, `no_chat`,
    /// `unknown_chat`, `chat_ended`, `no_mailbox`, `files`.
    #[error("{1}")]
    Refused(&'static str, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn refused(code: &'static str, message: &str) -> ChatError {
    ChatError::Refused(code, message.to_string())
}

struct Room {
    tenant: i64,
    session: i64,
    events: broadcast::Sender<ToVisitor>,
    /// The agent serving it: (agent id, name).
    agent: Option<(i64, String)>,
    ended: bool,
    /// The last position told, and since when no widget has been open (wall ms).
    told: Option<(usize, Option<u64>)>,
    alone_since: Option<u64>,
}

struct Inner {
    desk: Desk,
    files: PathBuf,
    rooms: Mutex<HashMap<i64, Room>>,
    /// How long a waiting visitor may have no widget open before they have abandoned.
    gone_after: Duration,
}

/// The running chat service; cheap to clone.
#[derive(Clone)]
pub struct ChatService {
    inner: Arc<Inner>,
    stop: Arc<watch::Sender<bool>>,
}

impl ChatService {
    /// Starts the service (files are kept under `files`): chats stored as queued that routing
    /// does not hold are handed to it, and the waiting visitors' positions are kept told.
    pub fn start(store: Store, routing: AcdLink, files: PathBuf) -> ChatService {
        ChatService::start_with(store, routing, files, GONE_AFTER)
    }

    /// [`ChatService::start`] with a waiting visitor gone after `gone_after` instead of
    /// [`GONE_AFTER`] (tests).
    pub fn start_with(
        store: Store,
        routing: AcdLink,
        files: PathBuf,
        gone_after: Duration,
    ) -> ChatService {
        let (stop_tx, stop_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            desk: Desk::new(store, routing),
            files,
            rooms: Mutex::new(HashMap::new()),
            gone_after,
        });
        tokio::spawn(watch_rooms(inner.clone(), stop_rx));
        ChatService {
            inner,
            stop: Arc::new(stop_tx),
        }
    }

    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.inner.desk.notices.subscribe()
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The active site named by `key`, if a page from `origin` may use it.
    pub async fn site(&self, key: &str, origin: Option<&str>) -> Result<Site, ChatError> {
        let site = self
            .inner
            .desk
            .store
            .site_by_key(key)
            .await?
            .ok_or_else(|| refused("unknown_site", "no such site"))?;
        if let Some(o) = origin {
            if !site.allows(o) {
                return Err(refused(
                    "origin_not_allowed",
                    "this site's widget may not be used from this page",
                ));
            }
        }
        Ok(site)
    }

    /// What the widget shows first.
    pub async fn status(&self, site: &Site) -> SiteStatus {
        let online = match site.chat_queue_id {
            Some(q) => self.queue_online(site.tenant_id, q).await,
            None => false,
        };
        SiteStatus {
            name: site.name.clone(),
            greeting: site.greeting.clone(),
            chat: site.chat_queue_id.is_some(),
            online,
            messages: site.email_account_id.is_some(),
            forms: site.form_queue_id.is_some(),
        }
    }

    async fn queue_online(&self, tenant: i64, queue: i64) -> bool {
        let Ok(snap) = self
            .inner
            .desk
            .routing
            .tenant_snapshot(hotline_routing::TenantId(tenant))
            .await
        else {
            return false;
        };
        snap.queues
            .iter()
            .filter(|q| q.queue.0 == queue)
            .flat_map(|q| q.agents_by_state.iter())
            .any(|(s, n)| *n > 0 && *s != AgentState::Offline)
    }

    /// Opens a chat from the pre-chat form and hands it to routing. Returns the widget's secret.
    pub async fn open(
        &self,
        site: &Site,
        visitor: &Visitor,
        text: Option<&str>,
    ) -> Result<(String, ChatSession), ChatError> {
        let opened = self.inner.desk.store.open_chat(site, visitor, text).await?;
        let i = &opened.interaction;
        tracing::info!(
            interaction = i.id,
            site = site.id,
            "a visitor opened a chat"
        );
        self.inner
            .desk
            .route(i.id, Channel::Chat, i.queue_id, None)
            .await;
        self.inner.desk.notice(
            site.tenant_id,
            None,
            "chat.started",
            json!({"interaction_id": i.id, "site_id": site.id}),
        );
        Ok((opened.token, opened.session))
    }

    /// A message left when nobody could chat: an e-mail interaction in the site's chat queue,
    /// answered through the site's mailbox. Its id.
    pub async fn leave_message(
        &self,
        site: &Site,
        visitor: &Visitor,
        text: &str,
    ) -> Result<i64, ChatError> {
        if site.email_account_id.is_none() {
            return Err(refused(
                "no_mailbox",
                "this site takes no messages (it has no mailbox)",
            ));
        }
        if visitor.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
            return Err(ChatError::Store(StoreError::Invalid(
                hotline_model::InvalidInput::new("email", "an address to answer to is needed"),
            )));
        }
        let queue = site
            .chat_queue_id
            .or(site.form_queue_id)
            .ok_or_else(|| refused("no_chat", "this site has no chat"))?;
        let subject = "Сообщение с сайта / Message from the web site";
        self.web_message(
            site,
            Channel::Email,
            queue,
            visitor,
            subject,
            text,
            "email.received",
        )
        .await
    }

    /// A "contact us" form: a `form` interaction in the site's form queue, answered by e-mail
    /// through the site's mailbox. Its id.
    pub async fn take_form(
        &self,
        site: &Site,
        visitor: &Visitor,
        subject: &str,
        text: &str,
    ) -> Result<i64, ChatError> {
        let queue = site
            .form_queue_id
            .ok_or_else(|| refused("no_forms", "this site takes no forms"))?;
        self.web_message(
            site,
            Channel::Form,
            queue,
            visitor,
            subject,
            text,
            "form.received",
        )
        .await
    }

    /// Stores what a visitor left, routes it and tells the supervisors (`notice`).
    #[allow(clippy::too_many_arguments)]
    async fn web_message(
        &self,
        site: &Site,
        channel: Channel,
        queue: i64,
        visitor: &Visitor,
        subject: &str,
        text: &str,
        notice: &'static str,
    ) -> Result<i64, ChatError> {
        let (i, _) = self
            .inner
            .desk
            .store
            .create_web_message(site, channel, queue, visitor, subject, text)
            .await?;
        tracing::info!(interaction = i.id, %channel, "a visitor left a written request");
        self.inner
            .desk
            .route(i.id, channel, Some(queue), None)
            .await;
        self.inner.desk.notice(
            site.tenant_id,
            None,
            notice,
            json!({"interaction_id": i.id, "new": true}),
        );
        Ok(i.id)
    }

    /// A widget (re)connects with its secret, having seen messages up to `after`.
    pub async fn attach(&self, token: &str, after: i64) -> Result<Attached, ChatError> {
        let store = &self.inner.desk.store;
        let session = store
            .chat_by_token(token)
            .await?
            .ok_or_else(|| refused("unknown_chat", "no such chat"))?;
        let t = session.tenant_id;
        let interaction = store.get_interaction(t, session.interaction_id).await?;
        let messages = store.list_messages(t, interaction.id).await?;
        let ended = session.ended_at.is_some() || interaction.state.is_final();
        let agent = match (interaction.agent_id, interaction.state) {
            (Some(a), InteractionState::Active | InteractionState::Held) if !ended => store
                .get_agent(t, a)
                .await
                .ok()
                .map(|ag| (a, ag.display_name)),
            _ => None,
        };
        let events = {
            let mut rooms = self.lock_rooms();
            let room = rooms.entry(interaction.id).or_insert_with(|| Room {
                tenant: t,
                session: session.id,
                events: broadcast::channel(256).0,
                agent: agent.clone(),
                ended,
                told: None,
                alone_since: None,
            });
            room.alone_since = None;
            room.told = None;
            room.events.subscribe()
        };
        Ok(Attached {
            missed: messages
                .iter()
                .filter(|m| m.id > after)
                .map(ChatMessage::of)
                .collect(),
            agent: agent.map(|(_, n)| n),
            ended,
            session,
            events,
        })
    }

    fn lock_rooms(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Room>> {
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn broadcast(&self, interaction: i64, what: ToVisitor) {
        if let Some(r) = self.lock_rooms().get(&interaction) {
            let _ = r.events.send(what);
        }
    }

    fn serving_agent(&self, interaction: i64) -> Option<i64> {
        self.lock_rooms()
            .get(&interaction)
            .and_then(|r| r.agent.as_ref().map(|(a, _)| *a))
    }

    /// The visitor said something (with files: name, content type, bytes). Stored, then told
    /// to their other widgets and to the agent; the stored message is the acknowledgement.
    pub async fn visitor_says(
        &self,
        session: &ChatSession,
        client_id: &str,
        text: &str,
        files: Vec<(String, String, Vec<u8>)>,
    ) -> Result<ChatMessage, ChatError> {
        let attachments = keep_files(&self.inner.files, files)
            .await
            .map_err(|e| ChatError::Refused("files", e.to_string()))?;
        let line = ChatLine {
            inbound: true,
            client_id: Some(client_id.to_string()),
            author: "customer".into(),
            from_name: session.visitor_name.clone(),
            text: text.to_string(),
            attachments,
        };
        let (m, fresh) = self
            .inner
            .desk
            .store
            .add_chat_message(session.tenant_id, session.interaction_id, &line)
            .await?;
        let out = ChatMessage::of(&m);
        if fresh {
            self.broadcast(
                session.interaction_id,
                ToVisitor::Message {
                    message: out.clone(),
                },
            );
            let agent = self.serving_agent(session.interaction_id);
            if let Some(a) = agent {
                self.inner.desk.notice(
                    session.tenant_id,
                    Some(a),
                    "chat.message",
                    json!({"interaction_id": session.interaction_id, "message": m}),
                );
            }
        }
        Ok(out)
    }

    /// The visitor is typing: the agent serving the chat is told.
    pub fn visitor_typing(&self, session: &ChatSession) {
        if let Some(a) = self.serving_agent(session.interaction_id) {
            self.inner.desk.notice(
                session.tenant_id,
                Some(a),
                "chat.typing",
                json!({"interaction_id": session.interaction_id}),
            );
        }
    }

    /// The visitor closed the chat (a transcript mailed to them if asked and possible). A
    /// waiting chat is abandoned; a served one ends (the agent wraps up).
    pub async fn visitor_ends(
        &self,
        session: &ChatSession,
        transcript: bool,
    ) -> Result<(), ChatError> {
        let store = &self.inner.desk.store;
        let t = session.tenant_id;
        let iid = session.interaction_id;
        if !store.end_chat(t, session.id, "customer").await? {
            return Ok(());
        }
        let i = store.get_interaction(t, iid).await?;
        let served = matches!(i.state, InteractionState::Active | InteractionState::Held)
            && i.agent_id.is_some();
        if !i.state.is_final() {
            let input = if served {
                Input::Ended(ContactId(iid))
            } else {
                Input::Abandoned(ContactId(iid))
            };
            if let Err(e) = self.inner.desk.routing.input(input).await {
                tracing::warn!(interaction = iid, error = %e, "routing did not take a chat's end");
            }
            let state = if served {
                InteractionState::Closed
            } else {
                InteractionState::Abandoned
            };
            store
                .update_interaction(
                    t,
                    iid,
                    &InteractionPatch {
                        state: Some(state),
                        ..Default::default()
                    },
                    "customer",
                )
                .await?;
        }
        if let Some(a) = i.agent_id {
            self.inner.desk.notice(
                t,
                Some(a),
                "chat.ended",
                json!({"interaction_id": iid, "by": "visitor"}),
            );
        }
        self.close_room(iid, "visitor");
        if transcript {
            self.send_transcript(session).await;
        }
        Ok(())
    }

    fn close_room(&self, interaction: i64, by: &str) {
        if let Some(mut r) = self.lock_rooms().remove(&interaction) {
            r.ended = true;
            let _ = r.events.send(ToVisitor::Ended { by: by.into() });
        }
    }

    /// An agent took the chat (the API accepted routing's offer): the visitor is told who.
    pub async fn agent_joined(&self, tenant: i64, interaction: i64, agent: i64) {
        let name = self
            .inner
            .desk
            .store
            .get_agent(tenant, agent)
            .await
            .map(|a| a.display_name)
            .unwrap_or_default();
        let mut rooms = self.lock_rooms();
        if let Some(r) = rooms.get_mut(&interaction) {
            r.agent = Some((agent, name.clone()));
            r.told = None;
            let _ = r.events.send(ToVisitor::Agent { name });
        }
    }

    /// An agent's message (files: name, content type, bytes): stored, then sent to the widget.
    pub async fn agent_says(
        &self,
        tenant: i64,
        interaction: i64,
        author: &str,
        name: &str,
        text: &str,
        files: Vec<(String, String, Vec<u8>)>,
    ) -> Result<Message, ChatError> {
        let attachments = keep_files(&self.inner.files, files)
            .await
            .map_err(|e| ChatError::Refused("files", e.to_string()))?;
        let line = ChatLine {
            inbound: false,
            client_id: None,
            author: author.into(),
            from_name: name.into(),
            text: text.into(),
            attachments,
        };
        let (m, _) = self
            .inner
            .desk
            .store
            .add_chat_message(tenant, interaction, &line)
            .await?;
        self.broadcast(
            interaction,
            ToVisitor::Message {
                message: ChatMessage::of(&m),
            },
        );
        Ok(m)
    }

    pub fn agent_typing(&self, interaction: i64, name: &str) {
        self.broadcast(interaction, ToVisitor::Typing { name: name.into() });
    }

    /// The agent finished the chat (the API closed it): the visitor's widget hears it ended.
    pub async fn agent_finished(&self, tenant: i64, interaction: i64, by: &str) {
        let store = &self.inner.desk.store;
        if let Ok(Some(s)) = store.chat_of_interaction(tenant, interaction).await {
            let _ = store.end_chat(tenant, s.id, by).await;
        }
        self.close_room(interaction, "agent");
    }

    /// Mails the visitor the chat's transcript through the site's mailbox, if both exist.
    async fn send_transcript(&self, session: &ChatSession) {
        let store = &self.inner.desk.store;
        let t = session.tenant_id;
        let Some(to) = session.visitor_email.clone() else {
            return;
        };
        let Ok(site) = store.get_site(t, session.site_id).await else {
            return;
        };
        let Some(acc) = site.email_account_id else {
            return;
        };
        let Ok(account) = store.get_email_account(t, acc).await else {
            return;
        };
        let Ok(messages) = store.list_messages(t, session.interaction_id).await else {
            return;
        };
        let text = transcript_text(&site.name, &messages);
        let draft = Draft {
            from_addr: account.address.clone(),
            from_name: account.display_name.clone(),
            to: vec![to],
            subject: format!("Ваш чат / Your chat — {}", site.name),
            text,
            html: None,
            interaction_id: session.interaction_id,
            in_reply_to: None,
            references: Vec::new(),
            message_id: outbound::new_message_id(&account.address, session.interaction_id),
            auto_submitted: true,
            attachments: Vec::new(),
        };
        let (kind, data) = match outbound::compose(&draft) {
            Ok(mail) => match crate::email::smtp::send(&account, mail).await {
                Ok(()) => ("chat.transcript_sent", json!({})),
                Err(e) => ("chat.transcript_failed", json!({"error": e})),
            },
            Err(e) => ("chat.transcript_failed", json!({"error": e.to_string()})),
        };
        tracing::info!(
            interaction = session.interaction_id,
            kind,
            "chat transcript"
        );
        let _ = store
            .append_event(
                t,
                session.interaction_id,
                &hotline_store::NewEvent {
                    kind: kind.into(),
                    actor: "system".into(),
                    data,
                    at: None,
                },
            )
            .await;
    }

    /// Routing's commands for chats: an offer goes to the agent's desk, a withdrawal takes it
    /// back, an overflow hands the chat back to its queue (`chat.overdue` to supervisors).
    pub fn command(&self, cmd: Command) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            inner
                .desk
                .command(cmd, &[Channel::Chat], "chat.overdue")
                .await;
        });
    }
}

/// A chat's transcript as plain text.
pub fn transcript_text(site: &str, messages: &[Message]) -> String {
    let mut out = format!("{site}\n\n");
    for m in messages {
        let at = m.created_at;
        out.push_str(&format!(
            "[{:02}:{:02}] {}: {}\n",
            at.hour(),
            at.minute(),
            if m.from_name.is_empty() {
                "—"
            } else {
                &m.from_name
            },
            m.body_text
        ));
        for a in &m.attachments {
            out.push_str(&format!("    📎 {}\n", a.name));
        }
    }
    out
}

/// Every 2 s: waiting visitors hear their position when it changed; a waiting visitor with no
/// widget open for [`GONE_AFTER`] has abandoned.
async fn watch_rooms(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    inner.desk.requeue_unrouted(Channel::Chat).await;
    keep_waiting_rooms(&inner).await;
    let gone_after = u64::try_from(inner.gone_after.as_millis()).unwrap_or(u64::MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
        let now = wall_ms();
        let waiting: Vec<(i64, i64, i64, bool)> = {
            let mut rooms = inner
                .rooms
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            rooms.retain(|_, r| !r.ended);
            rooms
                .iter_mut()
                .filter(|(_, r)| r.agent.is_none())
                .map(|(id, r)| {
                    let open = r.events.receiver_count() > 0;
                    if open {
                        r.alone_since = None;
                    } else if r.alone_since.is_none() {
                        r.alone_since = Some(now);
                    }
                    let gone = r
                        .alone_since
                        .is_some_and(|s| now.saturating_sub(s) > gone_after);
                    (*id, r.tenant, r.session, gone)
                })
                .collect()
        };
        for (iid, t, session, gone) in waiting {
            if gone {
                abandon(&inner, t, iid, session).await;
                continue;
            }
            let Ok(Some(e)) = inner.desk.routing.estimate(ContactId(iid)).await else {
                continue;
            };
            let now_told = (e.position, e.expected.map(|d| d.as_secs()));
            let mut rooms = inner
                .rooms
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(r) = rooms.get_mut(&iid) {
                if r.agent.is_none() && r.told != Some(now_told) {
                    r.told = Some(now_told);
                    let _ = r.events.send(ToVisitor::Queue {
                        position: now_told.0,
                        wait_seconds: now_told.1,
                    });
                }
            }
        }
    }
}

/// Chats still waiting from before a start (a restart): each gets a room with no widget open
/// yet, so a visitor who never comes back has abandoned `gone_after` after the start instead
/// of waiting in the queue for ever.
async fn keep_waiting_rooms(inner: &Arc<Inner>) {
    let now = wall_ms();
    for i in inner.desk.queued(Channel::Chat).await {
        let Ok(Some(session)) = inner
            .desk
            .store
            .chat_of_interaction(i.tenant_id, i.id)
            .await
        else {
            continue;
        };
        let mut rooms = inner
            .rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rooms.entry(i.id).or_insert_with(|| Room {
            tenant: i.tenant_id,
            session: session.id,
            events: broadcast::channel(256).0,
            agent: None,
            ended: false,
            told: None,
            alone_since: Some(now),
        });
    }
}

async fn abandon(inner: &Arc<Inner>, t: i64, iid: i64, session: i64) {
    inner
        .rooms
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&iid);
    let store = &inner.desk.store;
    let Ok(i) = store.get_interaction(t, iid).await else {
        return;
    };
    if i.state != InteractionState::Queued {
        return;
    }
    tracing::info!(interaction = iid, "a waiting visitor left the site");
    let _ = inner
        .desk
        .routing
        .input(Input::Abandoned(ContactId(iid)))
        .await;
    let _ = store.end_chat(t, session, "system").await;
    let _ = store
        .update_interaction(
            t,
            iid,
            &InteractionPatch {
                state: Some(InteractionState::Abandoned),
                ..Default::default()
            },
            "system",
        )
        .await;
}
