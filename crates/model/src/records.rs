//! The entities as the rest of Hotline sees them. Every record carries its `tenant_id`: a tenant is
//! one client company of an outsourcing center, and nothing crosses from one tenant to another.
//! Timestamps are UTC and travel as RFC 3339 text.

use crate::enums::{Channel, Direction, IdentifierKind, InteractionState, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    /// Short machine name, unique across the installation.
    pub slug: String,
    /// ISO 3166 region used to read national phone numbers, e.g. `RU`.
    pub default_region: String,
    /// IANA time zone for business hours and reports, e.g. `Europe/Moscow`.
    pub timezone: String,
    /// The tenant that runs the installation (the outsourcing centre): its administrators
    /// create and manage the other tenants (client companies).
    pub operator: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub tenant_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Skill {
    /// Skill name, e.g. `language.ru`, `cards`, `vip`.
    pub name: String,
    /// 1 (basic) to 5 (expert).
    #[schema(minimum = 1, maximum = 5)]
    pub proficiency: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    pub id: i64,
    pub tenant_id: i64,
    /// The user who logs in to the workplace as this agent.
    pub user_id: i64,
    pub display_name: String,
    /// Extension number; also the SIP user name the agent's phone registers with.
    pub extension: String,
    pub skills: Vec<Skill>,
    /// Whether a SIP password is set. The password itself is never shown.
    pub sip_password_set: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// What digest authentication needs to check an agent's phone, without the password itself.
#[derive(Clone, PartialEq, Eq)]
pub struct SipCredentials {
    pub agent_id: i64,
    pub tenant_id: i64,
    pub username: String,
    pub realm: String,
    /// hex MD5(username:realm:password), RFC 2617 HA1.
    pub ha1_md5: String,
    /// hex SHA-256(username:realm:password), RFC 7616 HA1.
    pub ha1_sha256: String,
}

impl std::fmt::Debug for SipCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipCredentials")
            .field("agent_id", &self.agent_id)
            .field("username", &self.username)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Queue {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    /// Channel kinds this queue accepts.
    pub channels: Vec<Channel>,
    /// Service level threshold T: a contact answered within T seconds counts as in service level.
    pub service_level_seconds: i32,
    /// Service level goal in percent (e.g. 80 for 80/20).
    pub service_level_target: i32,
    /// Base priority; higher is served first.
    pub priority: i32,
    /// Wrap-up time after each contact, in seconds.
    pub wrap_up_seconds: i32,
    /// Whether an agent must choose a disposition before leaving wrap-up.
    pub disposition_required: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Disposition {
    pub id: i64,
    pub tenant_id: i64,
    /// Stable machine code, e.g. `sale`, `complaint`.
    pub code: String,
    pub name: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Script {
    pub id: i64,
    pub tenant_id: i64,
    /// The queue whose agents see this script; none for a general script.
    pub queue_id: Option<i64>,
    pub title: String,
    /// The client company's instructions, in Markdown.
    pub body_markdown: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Identifier {
    pub kind: IdentifierKind,
    /// E.164 for phones, lower-cased address for e-mail.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub company: Option<String>,
    pub vip: bool,
    pub tags: Vec<String>,
    /// Fields the client company keeps on its customers (contract number, tariff...).
    #[schema(value_type = Object)]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
    pub notes: String,
    pub identifiers: Vec<Identifier>,
    /// Set when this customer was merged into another one; lookups follow it.
    pub merged_into: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Interaction {
    pub id: i64,
    pub tenant_id: i64,
    pub channel: Channel,
    pub direction: Direction,
    pub state: InteractionState,
    pub customer_id: Option<i64>,
    pub queue_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub disposition_id: Option<i64>,
    /// Subject line of an e-mail, topic of a chat or form.
    pub subject: Option<String>,
    pub notes: String,
    /// Where the call recording is stored, when there is one.
    pub recording_ref: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub answered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<OffsetDateTime>,
}

/// One entry of an interaction's append-only timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InteractionEvent {
    pub id: i64,
    pub interaction_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// What happened: `created`, `state_changed`, `note`, `ivr_step`, `queued`, `answered`, ...
    pub kind: String,
    /// Who did it: a user name, `system`, or a channel adapter.
    pub actor: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    pub interaction: Interaction,
    pub events: Vec<InteractionEvent>,
}

/// What an agent sees on a contact: the customer and every interaction on every channel,
/// newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CustomerCard {
    pub customer: Customer,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub tenant_id: i64,
    /// The user whose role the token acts with.
    pub user_id: i64,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A callback promised for a time: "I will call you back tomorrow at ten". Its interaction (an
/// outbound voice contact) is created when it is scheduled and waits in routing until then;
/// `state` is that interaction's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScheduledCallback {
    /// The callback's own interaction.
    pub interaction_id: i64,
    pub tenant_id: i64,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub queue_id: i64,
    /// Whose callback it is (they get it first); empty: the queue's.
    pub agent_id: Option<i64>,
    /// E.164.
    pub number: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub due_at: OffsetDateTime,
    pub note: String,
    /// The contact during which it was promised.
    pub origin_interaction_id: Option<i64>,
    pub state: InteractionState,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A mailbox Hotline reads (IMAP) and answers from (SMTP) for one queue: the company's own
/// mail server, `support@company` say. Passwords are write-only: never serialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmailAccount {
    pub id: i64,
    pub tenant_id: i64,
    /// New mail becomes an interaction in this queue.
    pub queue_id: i64,
    /// The address customers write to; replies go out from it.
    pub address: String,
    pub display_name: String,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_user: String,
    #[serde(skip_serializing, default)]
    #[schema(write_only)]
    pub imap_password: String,
    /// Read from this folder (INBOX).
    pub imap_folder: String,
    /// A message is moved here once it is stored (created when missing).
    pub done_folder: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// Empty: the SMTP server takes mail without logging in (a relay on the host).
    pub smtp_user: String,
    #[serde(skip_serializing, default)]
    #[schema(write_only)]
    pub smtp_password: String,
    /// Answer a new request with its ticket number (RFC 3834 rules apply).
    pub auto_ack: bool,
    /// `tls` (implicit, port 993), `starttls` or `none` (plain, inside a trusted network).
    pub imap_security: String,
    /// `tls` (implicit, port 465), `starttls` or `none`.
    pub smtp_security: String,
    /// A CA (PEM) trusted besides the system's, for a company's own certificates.
    pub tls_ca_pem: String,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A file that came with a message, or went out with one. Its bytes are kept on disk under
/// the data folder, named by their SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: i64,
    pub message_id: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// One message of a written conversation (an e-mail in or out). The HTML body has been
/// sanitised before it was stored: no scripts, no event handlers, no remote content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: i64,
    pub interaction_id: i64,
    pub account_id: Option<i64>,
    pub direction: Direction,
    /// RFC 5322 Message-ID, without angle brackets.
    pub message_id: Option<String>,
    pub from_addr: String,
    pub from_name: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    /// Sent by a machine (auto-reply, bounce, bulk): never acknowledged.
    pub auto: bool,
    /// `received`; for outgoing mail `sending`, `sent`, `failed` or `bounced`.
    pub status: String,
    pub error: Option<String>,
    /// Who wrote it: `customer`, or `user:<id>` / `system`.
    pub author: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    pub attachments: Vec<Attachment>,
}

/// A company's web site: its chat widget (`<script src=".../chat/widget.js" data-site="KEY">`)
/// and its forms. Browsers may call Hotline for it only from `origins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Site {
    pub id: i64,
    pub tenant_id: i64,
    /// The public key the widget and the forms name (not a secret).
    pub key: String,
    pub name: String,
    /// `https://shop.example` (scheme, host and port); `*` allows any.
    pub origins: Vec<String>,
    /// Chats wait here; none: the site has no chat.
    pub chat_queue_id: Option<i64>,
    /// Forms become requests here; none: the site takes no forms.
    pub form_queue_id: Option<i64>,
    /// Answers what visitors leave by e-mail (offline messages, forms) and sends chat
    /// transcripts; none: nothing is sent by e-mail.
    pub email_account_id: Option<i64>,
    /// What the widget says first.
    pub greeting: String,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl Site {
    /// Whether a browser page from `origin` may use this site's widget and forms.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// A visitor's chat on a site: the interaction it is, who the visitor said they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatSession {
    pub id: i64,
    pub tenant_id: i64,
    pub site_id: i64,
    pub interaction_id: i64,
    pub visitor_name: String,
    pub visitor_email: Option<String>,
    pub visitor_phone: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<OffsetDateTime>,
}

/// A canned response (chat) or reply template (e-mail): text an agent inserts and edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Template {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub body: String,
    /// `chat`, `email` or `any`.
    pub channel: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}
