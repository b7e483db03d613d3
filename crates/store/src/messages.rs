//! Written conversations: the mailboxes Hotline reads and answers from (`email_accounts`), the
//! messages of an interaction (`messages`) and their files (`attachments`, bytes on disk).
//!
//! Ingesting an e-mail is one transaction: the message, its attachments' rows, its timeline
//! event and — for a new request — its interaction, or — for a reply to a closed one — the
//! interaction reopened. A message is known by `(account, dedupe_key)`, so ingesting the same
//! mail twice (a restart between storing it and moving it away on the IMAP server) stores it once.

use crate::{from_ms, now_ms, on_pool, on_writer, Result, Store, StoreError};
use hotline_model::{
    validate, Attachment, Channel, EmailAccount, IdentifierKind, Interaction, Message,
};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct NewEmailAccount {
    pub queue_id: i64,
    pub address: String,
    pub display_name: String,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_user: String,
    pub imap_password: String,
    pub imap_folder: String,
    pub done_folder: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_user: String,
    pub smtp_password: String,
    pub auto_ack: bool,
    /// `none`, `starttls` or `tls`.
    pub imap_security: String,
    pub smtp_security: String,
    pub tls_ca_pem: String,
}

/// A file to record with a message; its bytes are already on disk.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// An e-mail as read from a mailbox, parsed and sanitised.
#[derive(Debug, Clone, Default)]
pub struct InboundEmail {
    pub account_id: i64,
    /// What makes this mail itself: its Message-ID, or a hash of its bytes without one.
    pub dedupe_key: String,
    pub message_id: Option<String>,
    pub from_addr: String,
    pub from_name: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    /// In-Reply-To then References, newest first: the messages it answers.
    pub replies_to: Vec<String>,
    /// The ticket number found in the subject (`[#123]`).
    pub ticket: Option<i64>,
    pub auto: bool,
    /// A delivery report: the Message-IDs of the mail it reports on.
    pub bounce_of: Vec<String>,
    pub attachments: Vec<NewAttachment>,
}

/// What storing an inbound e-mail did.
#[derive(Debug, Clone)]
pub enum Ingested {
    /// Stored before (same account and key): nothing was written.
    Duplicate { interaction_id: i64 },
    /// A new request: a new interaction, `queued` in the account's queue.
    New {
        interaction: Interaction,
        message: Message,
        customer_created: bool,
    },
    /// A reply (or a bounce) joined an interaction; `reopened` when it had been closed.
    Joined {
        interaction: Interaction,
        message: Message,
        reopened: bool,
        bounced: Option<i64>,
    },
}

/// A message an agent (or Hotline) sends.
#[derive(Debug, Clone, Default)]
pub struct NewOutbound {
    pub account_id: Option<i64>,
    pub message_id: String,
    pub from_addr: String,
    pub from_name: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub auto: bool,
    pub author: String,
    pub attachments: Vec<NewAttachment>,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    tenant_id: i64,
    queue_id: i64,
    address: String,
    display_name: String,
    imap_host: String,
    imap_port: i64,
    imap_user: String,
    imap_password: String,
    imap_folder: String,
    done_folder: String,
    smtp_host: String,
    smtp_port: i64,
    smtp_user: String,
    smtp_password: String,
    auto_ack: bool,
    active: bool,
    created_at: i64,
    imap_security: String,
    smtp_security: String,
    tls_ca_pem: String,
}

impl From<AccountRow> for EmailAccount {
    fn from(r: AccountRow) -> Self {
        EmailAccount {
            id: r.id,
            tenant_id: r.tenant_id,
            queue_id: r.queue_id,
            address: r.address,
            display_name: r.display_name,
            imap_host: r.imap_host,
            imap_port: u16::try_from(r.imap_port).unwrap_or_default(),
            imap_user: r.imap_user,
            imap_password: r.imap_password,
            imap_folder: r.imap_folder,
            done_folder: r.done_folder,
            smtp_host: r.smtp_host,
            smtp_port: u16::try_from(r.smtp_port).unwrap_or_default(),
            smtp_user: r.smtp_user,
            smtp_password: r.smtp_password,
            auto_ack: r.auto_ack,
            active: r.active,
            created_at: from_ms(r.created_at),
            imap_security: r.imap_security,
            smtp_security: r.smtp_security,
            tls_ca_pem: r.tls_ca_pem,
        }
    }
}

const ACCOUNT_COLUMNS: &str = "id, tenant_id, queue_id, address, display_name, imap_host, imap_port, imap_user,
    imap_password, imap_folder, done_folder, smtp_host, smtp_port, smtp_user, smtp_password, auto_ack, active, created_at,
    imap_security, smtp_security, tls_ca_pem";

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    interaction_id: i64,
    account_id: Option<i64>,
    direction: String,
    message_id: Option<String>,
    from_addr: String,
    from_name: String,
    to_addrs: String,
    subject: String,
    body_text: String,
    body_html: String,
    auto: bool,
    status: String,
    error: Option<String>,
    author: String,
    created_at: i64,
}

const MESSAGE_COLUMNS: &str =
    "id, interaction_id, account_id, direction, message_id, from_addr, from_name,
    to_addrs, subject, body_text, body_html, auto, status, error, author, created_at";

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> Result<Self> {
        Ok(Message {
            id: r.id,
            interaction_id: r.interaction_id,
            account_id: r.account_id,
            direction: r.direction.parse()?,
            message_id: r.message_id,
            from_addr: r.from_addr,
            from_name: r.from_name,
            to: serde_json::from_str(&r.to_addrs).unwrap_or_default(),
            subject: r.subject,
            body_text: r.body_text,
            body_html: r.body_html,
            auto: r.auto,
            status: r.status,
            error: r.error,
            author: r.author,
            created_at: from_ms(r.created_at),
            attachments: Vec::new(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct AttachmentRow {
    id: i64,
    message_id: i64,
    name: String,
    content_type: String,
    size: i64,
    sha256: String,
}

impl From<AttachmentRow> for Attachment {
    fn from(r: AttachmentRow) -> Self {
        Attachment {
            id: r.id,
            message_id: r.message_id,
            name: r.name,
            content_type: r.content_type,
            size: r.size,
            sha256: r.sha256,
        }
    }
}

pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO messages (tenant_id, interaction_id, account_id, direction, message_id,
    dedupe_key, from_addr, from_name, to_addrs, subject, body_text, body_html, auto, status, error, author, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, $15, $16) RETURNING id";

pub(crate) const INSERT_ATTACHMENT: &str =
    "INSERT INTO attachments (tenant_id, message_id, name, content_type, size, sha256)
    VALUES ($1, $2, $3, $4, $5, $6)";

fn nul_free(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn without_nul(m: &InboundEmail) -> InboundEmail {
    let list = |v: &[String]| v.iter().map(|s| nul_free(s)).collect::<Vec<_>>();
    InboundEmail {
        account_id: m.account_id,
        dedupe_key: nul_free(&m.dedupe_key),
        message_id: m.message_id.as_deref().map(nul_free),
        from_addr: nul_free(&m.from_addr),
        from_name: nul_free(&m.from_name),
        to: list(&m.to),
        subject: nul_free(&m.subject),
        body_text: nul_free(&m.body_text),
        body_html: nul_free(&m.body_html),
        replies_to: list(&m.replies_to),
        ticket: m.ticket,
        auto: m.auto,
        bounce_of: list(&m.bounce_of),
        attachments: m
            .attachments
            .iter()
            .map(|a| NewAttachment {
                name: nul_free(&a.name),
                content_type: nul_free(&a.content_type),
                size: a.size,
                sha256: a.sha256.clone(),
            })
            .collect(),
    }
}

/// One message as written: its row, its attachments' rows and its timeline event.
pub(crate) struct MessageWrite<'a> {
    pub account_id: Option<i64>,
    pub direction: &'static str,
    pub message_id: Option<&'a str>,
    pub dedupe_key: Option<&'a str>,
    pub from_addr: &'a str,
    pub from_name: &'a str,
    pub to: String,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: &'a str,
    pub auto: bool,
    pub status: &'static str,
    pub author: &'a str,
    pub attachments: &'a [NewAttachment],
    pub event_kind: &'a str,
    pub event: String,
}

impl<'a> MessageWrite<'a> {
    /// A chat message (no mailbox; `dedupe_key` is the sender's id for it).
    pub(crate) fn chat(line: &'a crate::web::ChatLine, dedupe_key: Option<&'a str>) -> Self {
        MessageWrite {
            account_id: None,
            direction: if line.inbound { "inbound" } else { "outbound" },
            message_id: None,
            dedupe_key,
            from_addr: "",
            from_name: &line.from_name,
            to: "[]".into(),
            subject: "",
            body_text: &line.text,
            body_html: "",
            auto: line.author == "system",
            status: if line.inbound { "received" } else { "sent" },
            author: &line.author,
            attachments: &line.attachments,
            event_kind: "chat.message",
            event: json!({
                "direction": if line.inbound { "inbound" } else { "outbound" },
                "attachments": line.attachments.len(),
            })
            .to_string(),
        }
    }

    /// An inbound mail (`subject` already cut to the column's length).
    fn inbound(mail: &'a InboundEmail, subject: &'a str) -> Self {
        MessageWrite {
            account_id: Some(mail.account_id),
            direction: "inbound",
            message_id: mail.message_id.as_deref(),
            dedupe_key: Some(&mail.dedupe_key),
            from_addr: &mail.from_addr,
            from_name: &mail.from_name,
            to: serde_json::to_string(&mail.to).unwrap_or_else(|_| "[]".into()),
            subject,
            body_text: &mail.body_text,
            body_html: &mail.body_html,
            auto: mail.auto,
            status: "received",
            author: "customer",
            attachments: &mail.attachments,
            event_kind: "email.received",
            event: json!({
                "from": mail.from_addr, "subject": subject, "auto": mail.auto,
                "attachments": mail.attachments.len(),
            })
            .to_string(),
        }
    }
}

/// Writes a [`MessageWrite`] in the transaction `$tx` (either dialect); evaluates to the
/// message's id.
macro_rules! write_message {
    ($tx:expr, $tenant:expr, $interaction:expr, $at:expr, $w:expr) => {{
        let w: &$crate::messages::MessageWrite<'_> = $w;
        let (mid,): (i64,) = sqlx::query_as($crate::messages::INSERT_MESSAGE)
            .bind($tenant)
            .bind($interaction)
            .bind(w.account_id)
            .bind(w.direction)
            .bind(w.message_id)
            .bind(w.dedupe_key)
            .bind(w.from_addr)
            .bind(w.from_name)
            .bind(&w.to)
            .bind(w.subject)
            .bind(w.body_text)
            .bind(w.body_html)
            .bind(w.auto)
            .bind(w.status)
            .bind(w.author)
            .bind($at)
            .fetch_one(&mut *$tx)
            .await?;
        for a in w.attachments {
            sqlx::query($crate::messages::INSERT_ATTACHMENT)
                .bind($tenant)
                .bind(mid)
                .bind(&a.name)
                .bind(&a.content_type)
                .bind(a.size)
                .bind(&a.sha256)
                .execute(&mut *$tx)
                .await?;
        }
        sqlx::query(crate::interactions::APPEND_SQL)
            .bind($tenant)
            .bind($interaction)
            .bind($at)
            .bind(w.event_kind)
            .bind(w.author)
            .bind(&w.event)
            .fetch_one(&mut *$tx)
            .await?;
        mid
    }};
}
pub(crate) use write_message;

/// The message-ids a bounce or a reply names, cut to what a look-up should carry.
fn ids(list: &[String]) -> Vec<String> {
    list.iter()
        .filter(|s| !s.is_empty() && s.len() <= 998)
        .take(50)
        .cloned()
        .collect()
}

impl Store {
    pub async fn create_email_account(
        &self,
        tenant_id: i64,
        new: &NewEmailAccount,
    ) -> Result<EmailAccount> {
        self.check_refs(tenant_id, &[("queues", "queue_id", Some(new.queue_id))])
            .await?;
        let address = hotline_model::email::normalize_email(&new.address)?;
        let display_name = validate::long_text("display_name", &new.display_name, 200)?;
        // Without an IMAP server the mailbox takes mail by direct delivery (SMTP) only.
        let imap_host =
            validate::optional_text("imap_host", &new.imap_host, 253)?.unwrap_or_default();
        let smtp_host = validate::required_text("smtp_host", &new.smtp_host, 253)?;
        let imap_user = if imap_host.is_empty() {
            validate::optional_text("imap_user", &new.imap_user, 320)?.unwrap_or_default()
        } else {
            validate::required_text("imap_user", &new.imap_user, 320)?
        };
        let imap_folder = validate::required_text("imap_folder", &new.imap_folder, 200)?;
        let done_folder = validate::required_text("done_folder", &new.done_folder, 200)?;
        if imap_folder == done_folder {
            return Err(hotline_model::InvalidInput::new(
                "done_folder",
                "must differ from imap_folder (stored mail is moved there)",
            )
            .into());
        }
        for (field, text) in [
            ("imap_password", &new.imap_password),
            ("smtp_user", &new.smtp_user),
            ("smtp_password", &new.smtp_password),
        ] {
            validate::long_text(field, text, 1024)?;
        }
        for (field, port) in [("imap_port", new.imap_port), ("smtp_port", new.smtp_port)] {
            if port == 0 {
                return Err(hotline_model::InvalidInput::new(field, "must be 1..65535").into());
            }
        }
        for (field, value) in [
            ("imap_security", &new.imap_security),
            ("smtp_security", &new.smtp_security),
        ] {
            if !["none", "starttls", "tls"].contains(&value.as_str()) {
                return Err(
                    hotline_model::InvalidInput::new(field, "one of none, starttls, tls").into(),
                );
            }
        }
        let ca = validate::long_text("tls_ca_pem", new.tls_ca_pem.trim(), 64 * 1024)?;
        if !ca.is_empty() && !ca.contains("-----BEGIN CERTIFICATE-----") {
            return Err(hotline_model::InvalidInput::new(
                "tls_ca_pem",
                "PEM certificates (-----BEGIN CERTIFICATE-----)",
            )
            .into());
        }
        let sql = format!(
            "INSERT INTO email_accounts (tenant_id, queue_id, address, display_name, imap_host, imap_port, imap_user,
                imap_password, imap_folder, done_folder, smtp_host, smtp_port, smtp_user, smtp_password, auto_ack, active, created_at,
                imap_security, smtp_security, tls_ca_pem)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, TRUE, $16, $17, $18, $19) RETURNING {ACCOUNT_COLUMNS}"
        );
        let row: AccountRow = on_writer!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(new.queue_id).bind(&address).bind(&display_name).bind(&imap_host)
            .bind(i64::from(new.imap_port)).bind(&imap_user).bind(&new.imap_password).bind(&imap_folder)
            .bind(&done_folder).bind(&smtp_host).bind(i64::from(new.smtp_port)).bind(&new.smtp_user)
            .bind(&new.smtp_password).bind(new.auto_ack).bind(now_ms())
            .bind(&new.imap_security).bind(&new.smtp_security).bind(&ca)
            .fetch_one(p).await)?;
        Ok(row.into())
    }

    pub async fn list_email_accounts(&self, tenant_id: i64) -> Result<Vec<EmailAccount>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM email_accounts WHERE tenant_id = $1 AND active ORDER BY id"
        );
        let rows: Vec<AccountRow> =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Every tenant's active mailboxes: what the e-mail service reads.
    pub async fn active_email_accounts(&self) -> Result<Vec<EmailAccount>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM email_accounts WHERE active ORDER BY id");
        let rows: Vec<AccountRow> = on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn get_email_account(&self, tenant_id: i64, id: i64) -> Result<EmailAccount> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM email_accounts WHERE tenant_id = $1 AND id = $2 AND active"
        );
        let row: AccountRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(id).fetch_one(p).await)?;
        Ok(row.into())
    }

    /// Stops reading a mailbox. Its messages stay (they belong to interactions); the row stays
    /// for them, inactive, and its address may be added again.
    pub async fn deactivate_email_account(&self, tenant_id: i64, id: i64) -> Result<()> {
        let r = on_writer!(self, p => sqlx::query(
            "UPDATE email_accounts SET active = FALSE, address = address || '#' || CAST(id AS TEXT)
             WHERE tenant_id = $1 AND id = $2 AND active")
            .bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        if r == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The interaction a mail belongs to: the newest one holding a message it answers, else
    /// the ticket in its subject when that interaction is an e-mail exchange with this sender.
    async fn thread_of(&self, tenant_id: i64, mail: &InboundEmail) -> Result<Option<i64>> {
        for id in ids(&mail.replies_to) {
            let found: Option<(i64,)> = on_pool!(self, p => sqlx::query_as(
                "SELECT interaction_id FROM messages WHERE tenant_id = $1 AND message_id = $2 ORDER BY id DESC LIMIT 1")
                .bind(tenant_id).bind(&id).fetch_optional(p).await)?;
            if let Some((i,)) = found {
                return Ok(Some(i));
            }
        }
        if let Some(ticket) = mail.ticket {
            let found: Option<(i64,)> = on_pool!(self, p => sqlx::query_as(
                "SELECT m.interaction_id FROM messages m JOIN interactions i ON i.id = m.interaction_id
                 WHERE m.tenant_id = $1 AND m.interaction_id = $2 AND i.channel = 'email'
                   AND (m.from_addr = $3 OR m.to_addrs LIKE $4) LIMIT 1")
                .bind(tenant_id).bind(ticket).bind(&mail.from_addr)
                .bind(format!("%\"{}\"%", mail.from_addr.replace(['%', '_'], "")))
                .fetch_optional(p).await)?;
            if let Some((i,)) = found {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Stores an inbound e-mail (see the module's note). The customer is found by the sender's
    /// address, or created. Returns what happened; the caller routes a new or reopened
    /// interaction.
    pub async fn ingest_email(&self, tenant_id: i64, mail: &InboundEmail) -> Result<Ingested> {
        // A mail may carry NUL characters, which PostgreSQL's TEXT cannot hold: they become
        // U+FFFD, so such a mail is stored (and leaves the mailbox) instead of failing forever.
        let clean = without_nul(mail);
        let mail = &clean;
        let dup: Option<(i64,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT interaction_id FROM messages WHERE tenant_id = $1 AND account_id = $2 AND dedupe_key = $3")
            .bind(tenant_id).bind(mail.account_id).bind(&mail.dedupe_key).fetch_optional(p).await)?;
        if let Some((interaction_id,)) = dup {
            return Ok(Ingested::Duplicate { interaction_id });
        }
        let account = self.get_email_account(tenant_id, mail.account_id).await?;
        let at = now_ms();
        let subject: String = mail.subject.chars().take(500).collect();

        // A bounce joins the interaction of the mail it reports on.
        let mut bounced: Option<(i64, i64)> = None;
        for id in ids(&mail.bounce_of) {
            let found: Option<(i64, i64)> = on_pool!(self, p => sqlx::query_as(
                "SELECT id, interaction_id FROM messages WHERE tenant_id = $1 AND message_id = $2 AND direction = 'outbound'
                 ORDER BY id DESC LIMIT 1")
                .bind(tenant_id).bind(&id).fetch_optional(p).await)?;
            if found.is_some() {
                bounced = found;
                break;
            }
        }
        let thread = match bounced {
            Some((_, interaction)) => Some(interaction),
            None => self.thread_of(tenant_id, mail).await?,
        };

        if let Some(interaction_id) = thread {
            let cur = self.get_interaction(tenant_id, interaction_id).await?;
            // A customer's reply to a closed request reopens it; a machine's does not.
            let reopen = cur.state.is_final() && !mail.auto && bounced.is_none();
            let write = MessageWrite::inbound(mail, &subject);
            let message_row = on_writer!(self, p => {
                let mut tx = p.begin().await?;
                let mid = write_message!(tx, tenant_id, interaction_id, at, &write);
                if let Some((out, _)) = bounced {
                    sqlx::query("UPDATE messages SET status = 'bounced', error = $3 WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id).bind(out).bind(mail.body_text.chars().take(2000).collect::<String>())
                        .execute(&mut *tx).await?;
                    sqlx::query(crate::interactions::APPEND_SQL)
                        .bind(tenant_id).bind(interaction_id).bind(at).bind("email.bounced").bind("system")
                        .bind(json!({"message_id": out}).to_string())
                        .fetch_one(&mut *tx).await?;
                }
                if reopen {
                    sqlx::query("UPDATE interactions SET state = 'queued', ended_at = NULL WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id).bind(interaction_id).execute(&mut *tx).await?;
                    sqlx::query(crate::interactions::APPEND_SQL)
                        .bind(tenant_id).bind(interaction_id).bind(at).bind("reopened").bind("customer")
                        .bind(json!({"from": cur.state, "to": "queued"}).to_string())
                        .fetch_one(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(mid)
            })?;
            let message = self.message(tenant_id, message_row).await?;
            let interaction = self.get_interaction(tenant_id, interaction_id).await?;
            return Ok(Ingested::Joined {
                interaction,
                message,
                reopened: reopen,
                bounced: bounced.map(|(m, _)| m),
            });
        }

        // A new request: its customer by address, created when unknown.
        let mut customer_created = false;
        let customer = match self
            .find_by_identifier(tenant_id, IdentifierKind::Email, &mail.from_addr)
            .await?
        {
            Some(c) => c.id,
            None => {
                let name = if mail.from_name.trim().is_empty() {
                    mail.from_addr.clone()
                } else {
                    mail.from_name.trim().chars().take(200).collect()
                };
                let new = crate::NewCustomer {
                    name,
                    emails: vec![mail.from_addr.clone()],
                    ..Default::default()
                };
                match self.create_customer(tenant_id, &new).await {
                    Ok(c) => {
                        customer_created = true;
                        c.id
                    }
                    // Created meanwhile by another path: take that one.
                    Err(StoreError::Conflict { .. }) => self
                        .find_by_identifier(tenant_id, IdentifierKind::Email, &mail.from_addr)
                        .await?
                        .map(|c| c.id)
                        .ok_or(StoreError::NotFound)?,
                    Err(e) => return Err(e),
                }
            }
        };
        let write = MessageWrite::inbound(mail, &subject);
        let subject_col = (!subject.trim().is_empty()).then(|| subject.clone());
        let (interaction_id, message_row) = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let iid = crate::web::insert_interaction!(tx, tenant_id, "email", customer, account.queue_id, &subject_col, at);
            let mid = write_message!(tx, tenant_id, iid, at, &write);
            tx.commit().await?;
            Ok::<_, sqlx::Error>((iid, mid))
        })?;
        Ok(Ingested::New {
            interaction: self.get_interaction(tenant_id, interaction_id).await?,
            message: self.message(tenant_id, message_row).await?,
            customer_created,
        })
    }

    /// Records a message about to be sent (`sending`), with its event, in one transaction.
    pub async fn add_outbound_message(
        &self,
        tenant_id: i64,
        interaction_id: i64,
        out: &NewOutbound,
    ) -> Result<Message> {
        let cur = self.get_interaction(tenant_id, interaction_id).await?;
        if !matches!(cur.channel, Channel::Email | Channel::Form) {
            return Err(StoreError::conflict(
                "not_email",
                "only an e-mail or a form is answered by e-mail",
            ));
        }
        let body = validate::long_text("body_text", &out.body_text, 1024 * 1024)?;
        let html = validate::long_text("body_html", &out.body_html, 2 * 1024 * 1024)?;
        let subject = validate::long_text("subject", &out.subject, 500)?;
        let at = now_ms();
        let write = MessageWrite {
            account_id: out.account_id,
            direction: "outbound",
            message_id: Some(&out.message_id),
            dedupe_key: None,
            from_addr: &out.from_addr,
            from_name: &out.from_name,
            to: serde_json::to_string(&out.to).unwrap_or_else(|_| "[]".into()),
            subject: &subject,
            body_text: &body,
            body_html: &html,
            auto: out.auto,
            status: "sending",
            author: &out.author,
            attachments: &out.attachments,
            event_kind: if out.auto {
                "email.auto_ack"
            } else {
                "email.sending"
            },
            event: json!({"to": out.to, "subject": subject, "attachments": out.attachments.len()})
                .to_string(),
        };
        let mid = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let mid = write_message!(tx, tenant_id, interaction_id, at, &write);
            tx.commit().await?;
            Ok::<_, sqlx::Error>(mid)
        })?;
        self.message(tenant_id, mid).await
    }

    /// What became of an outgoing message: `sent`, or `failed` with the server's answer; the
    /// timeline says it too.
    pub async fn set_message_status(
        &self,
        tenant_id: i64,
        id: i64,
        status: &str,
        error: Option<&str>,
    ) -> Result<Message> {
        let m = self.message(tenant_id, id).await?;
        let at = now_ms();
        let error: Option<String> = error.map(|e| e.chars().take(2000).collect());
        let event = json!({"message_id": id, "error": error}).to_string();
        let kind = format!("email.{status}");
        on_writer!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE messages SET status = $3, error = $4 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id).bind(id).bind(status).bind(&error).execute(&mut *tx).await?;
            sqlx::query(crate::interactions::APPEND_SQL)
                .bind(tenant_id).bind(m.interaction_id).bind(at).bind(&kind).bind("system").bind(&event)
                .fetch_one(&mut *tx).await?;
            tx.commit().await
        })?;
        self.message(tenant_id, id).await
    }

    pub async fn message(&self, tenant_id: i64, id: i64) -> Result<Message> {
        let sql =
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND id = $2");
        let row: MessageRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(id).fetch_one(p).await)?;
        let mut m: Message = row.try_into()?;
        let rows: Vec<AttachmentRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, message_id, name, content_type, size, sha256 FROM attachments WHERE tenant_id = $1 AND message_id = $2 ORDER BY id")
            .bind(tenant_id).bind(id).fetch_all(p).await)?;
        m.attachments = rows.into_iter().map(Into::into).collect();
        Ok(m)
    }

    /// An interaction's messages, oldest first, with their attachments.
    pub async fn list_messages(&self, tenant_id: i64, interaction_id: i64) -> Result<Vec<Message>> {
        self.get_interaction(tenant_id, interaction_id).await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND interaction_id = $2 ORDER BY id"
        );
        let rows: Vec<MessageRow> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(interaction_id).fetch_all(p).await)?;
        let mut out = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<Message>>>()?;
        let atts: Vec<AttachmentRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT a.id, a.message_id, a.name, a.content_type, a.size, a.sha256 FROM attachments a
             JOIN messages m ON m.id = a.message_id
             WHERE a.tenant_id = $1 AND m.interaction_id = $2 ORDER BY a.id")
            .bind(tenant_id).bind(interaction_id).fetch_all(p).await)?;
        for a in atts {
            if let Some(m) = out.iter_mut().find(|m| m.id == a.message_id) {
                m.attachments.push(a.into());
            }
        }
        Ok(out)
    }

    pub async fn attachment(&self, tenant_id: i64, id: i64) -> Result<Attachment> {
        let row: AttachmentRow = on_pool!(self, p => sqlx::query_as(
            "SELECT id, message_id, name, content_type, size, sha256 FROM attachments WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id).bind(id).fetch_one(p).await)?;
        Ok(row.into())
    }

    /// How many messages a mailbox has stored (the load run counts what arrived).
    pub async fn count_messages(&self, tenant_id: i64, account_id: i64) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, p => sqlx::query_as(
            "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND account_id = $2 AND direction = 'inbound'")
            .bind(tenant_id).bind(account_id).fetch_one(p).await)?;
        Ok(n)
    }
}

impl Store {
    /// Which tenant an interaction is in (routing's commands carry only its id).
    pub async fn tenant_of_interaction(&self, id: i64) -> Result<Option<i64>> {
        let row: Option<(i64,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT tenant_id FROM interactions WHERE id = $1").bind(id).fetch_optional(p).await)?;
        Ok(row.map(|(t,)| t))
    }
}
