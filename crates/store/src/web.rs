//! The web channels: a company's sites (`sites`), visitors' chats (`chat_sessions`, their
//! messages in `messages` with no mailbox), what forms and offline visitors leave (an interaction
//! with one inbound message, answered through the site's mailbox), and canned responses
//! (`templates`).
//!
//! A chat message carries the id its sender's widget gave it (`dedupe_key` `chat:<id>`): sent
//! again after a reconnect, it is stored once and the stored one is returned.

use crate::users::{new_secret, token_hash};
use crate::{from_ms, now_ms, on_pool, on_writer, Result, Store, StoreError};
use hotline_model::email::normalize_email;
use hotline_model::phone::normalize_phone;
use hotline_model::{
    validate, Channel, ChatSession, IdentifierKind, Interaction, InvalidInput, Message, Site,
    Template,
};
use serde_json::json;

use crate::messages::NewAttachment;

#[derive(Debug, Clone, Default)]
pub struct NewSite {
    pub name: String,
    pub origins: Vec<String>,
    pub chat_queue_id: Option<i64>,
    pub form_queue_id: Option<i64>,
    pub email_account_id: Option<i64>,
    pub greeting: String,
}

/// Who a visitor says they are (a pre-chat form, a web form).
#[derive(Debug, Clone, Default)]
pub struct Visitor {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A chat message to store.
#[derive(Debug, Clone, Default)]
pub struct ChatLine {
    /// From the visitor (else from an agent or Hotline).
    pub inbound: bool,
    /// The sender's own id for it (the widget's), so a resend is stored once.
    pub client_id: Option<String>,
    /// `customer`, `user:<id>` or `system`.
    pub author: String,
    pub from_name: String,
    pub text: String,
    pub attachments: Vec<NewAttachment>,
}

/// A chat just opened: the secret the widget keeps (shown once), the session, its interaction
/// and the first message, if one was written.
#[derive(Debug, Clone)]
pub struct OpenedChat {
    pub token: String,
    pub session: ChatSession,
    pub interaction: Interaction,
    pub message: Option<Message>,
}

#[derive(sqlx::FromRow)]
struct SiteRow {
    id: i64,
    tenant_id: i64,
    site_key: String,
    name: String,
    origins: String,
    chat_queue_id: Option<i64>,
    form_queue_id: Option<i64>,
    email_account_id: Option<i64>,
    greeting: String,
    active: bool,
    created_at: i64,
}

const SITE_COLUMNS: &str = "id, tenant_id, site_key, name, origins, chat_queue_id, form_queue_id, email_account_id, greeting, active, created_at";

impl From<SiteRow> for Site {
    fn from(r: SiteRow) -> Site {
        Site {
            id: r.id,
            tenant_id: r.tenant_id,
            key: r.site_key,
            name: r.name,
            origins: serde_json::from_str(&r.origins).unwrap_or_default(),
            chat_queue_id: r.chat_queue_id,
            form_queue_id: r.form_queue_id,
            email_account_id: r.email_account_id,
            greeting: r.greeting,
            active: r.active,
            created_at: from_ms(r.created_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: i64,
    tenant_id: i64,
    site_id: i64,
    interaction_id: i64,
    visitor_name: String,
    visitor_email: Option<String>,
    visitor_phone: Option<String>,
    created_at: i64,
    ended_at: Option<i64>,
}

const SESSION_COLUMNS: &str = "id, tenant_id, site_id, interaction_id, visitor_name, visitor_email, visitor_phone, created_at, ended_at";

impl From<SessionRow> for ChatSession {
    fn from(r: SessionRow) -> ChatSession {
        ChatSession {
            id: r.id,
            tenant_id: r.tenant_id,
            site_id: r.site_id,
            interaction_id: r.interaction_id,
            visitor_name: r.visitor_name,
            visitor_email: r.visitor_email,
            visitor_phone: r.visitor_phone,
            created_at: from_ms(r.created_at),
            ended_at: r.ended_at.map(from_ms),
        }
    }
}

#[derive(sqlx::FromRow)]
struct TemplateRow {
    id: i64,
    tenant_id: i64,
    name: String,
    body: String,
    channel: String,
    created_at: i64,
}

impl From<TemplateRow> for Template {
    fn from(r: TemplateRow) -> Template {
        Template {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            body: r.body,
            channel: r.channel,
            created_at: from_ms(r.created_at),
        }
    }
}

/// `scheme://host[:port]` (what a browser sends as `Origin`), or `*`.
fn check_origin(o: &str) -> std::result::Result<String, InvalidInput> {
    let o = o.trim().trim_end_matches('/');
    if o == "*" {
        return Ok(o.into());
    }
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"));
    let ok = rest.is_some_and(|h| {
        !h.is_empty()
            && h.len() <= 253
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    });
    if ok {
        Ok(o.to_ascii_lowercase())
    } else {
        Err(InvalidInput::new(
            "origins",
            format!("not an origin (scheme://host[:port] or *): {o}"),
        ))
    }
}

/// A visitor's checked details: name required, e-mail and phone normalised when given.
struct CheckedVisitor {
    name: String,
    email: Option<String>,
    phone: Option<String>,
}

fn check_visitor(v: &Visitor, region: &str) -> std::result::Result<CheckedVisitor, InvalidInput> {
    let name = validate::required_text("name", &v.name, 200)?;
    let email = v
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(normalize_email)
        .transpose()?;
    let phone = v
        .phone
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| normalize_phone(p, region))
        .transpose()?;
    Ok(CheckedVisitor { name, email, phone })
}

/// Inserts an interaction and its `created` event in the transaction `$tx`; evaluates to its id.
macro_rules! insert_interaction {
    ($tx:expr, $tenant:expr, $channel:expr, $customer:expr, $queue:expr, $subject:expr, $at:expr) => {{
        let channel: &str = $channel;
        let (iid,): (i64,) = sqlx::query_as(
            "INSERT INTO interactions (tenant_id, channel, direction, state, customer_id, queue_id, agent_id,
                subject, notes, created_at, answered_at, ended_at)
             VALUES ($1, $2, 'inbound', 'queued', $3, $4, NULL, $5, '', $6, NULL, NULL) RETURNING id",
        )
        .bind($tenant)
        .bind(channel)
        .bind($customer)
        .bind($queue)
        .bind($subject)
        .bind($at)
        .fetch_one(&mut *$tx)
        .await?;
        sqlx::query(crate::interactions::APPEND_SQL)
            .bind($tenant)
            .bind(iid)
            .bind($at)
            .bind("created")
            .bind("customer")
            .bind(json!({"channel": channel, "direction": "inbound", "state": "queued"}).to_string())
            .fetch_one(&mut *$tx)
            .await?;
        iid
    }};
}
pub(crate) use insert_interaction;

impl Store {
    pub async fn create_site(&self, tenant_id: i64, new: &NewSite) -> Result<Site> {
        let name = validate::required_text("name", &new.name, 200)?;
        let greeting = validate::long_text("greeting", &new.greeting, 2000)?;
        let origins = new
            .origins
            .iter()
            .map(|o| check_origin(o))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if origins.len() > 50 {
            return Err(InvalidInput::new("origins", "at most 50").into());
        }
        self.check_refs(
            tenant_id,
            &[
                ("queues", "chat_queue_id", new.chat_queue_id),
                ("queues", "form_queue_id", new.form_queue_id),
                ("email_accounts", "email_account_id", new.email_account_id),
            ],
        )
        .await?;
        let key = new_secret("hlw_")[..28].to_string();
        let at = now_ms();
        let origins = serde_json::to_string(&origins).unwrap_or_else(|_| "[]".into());
        let sql = format!(
            "INSERT INTO sites (tenant_id, site_key, name, origins, chat_queue_id, form_queue_id, email_account_id, greeting, active, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, $9) RETURNING {SITE_COLUMNS}"
        );
        let row: SiteRow = on_writer!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(&key).bind(&name).bind(&origins).bind(new.chat_queue_id)
            .bind(new.form_queue_id).bind(new.email_account_id).bind(&greeting).bind(at)
            .fetch_one(p).await)?;
        Ok(row.into())
    }

    pub async fn list_sites(&self, tenant_id: i64) -> Result<Vec<Site>> {
        let sql = format!(
            "SELECT {SITE_COLUMNS} FROM sites WHERE tenant_id = $1 AND active = TRUE ORDER BY id"
        );
        let rows: Vec<SiteRow> =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn get_site(&self, tenant_id: i64, id: i64) -> Result<Site> {
        let sql = format!("SELECT {SITE_COLUMNS} FROM sites WHERE tenant_id = $1 AND id = $2");
        let row: SiteRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(id).fetch_one(p).await)?;
        Ok(row.into())
    }

    /// The active site a widget or a form names by its public key.
    pub async fn site_by_key(&self, key: &str) -> Result<Option<Site>> {
        let sql = format!("SELECT {SITE_COLUMNS} FROM sites WHERE site_key = $1 AND active = TRUE");
        let row: Option<SiteRow> =
            on_pool!(self, p => sqlx::query_as(&sql).bind(key).fetch_optional(p).await)?;
        Ok(row.map(Into::into))
    }

    /// Turns a site off (its chats and forms are kept; its key stops working).
    pub async fn delete_site(&self, tenant_id: i64, id: i64) -> Result<()> {
        let done = on_writer!(self, p => sqlx::query(
            "UPDATE sites SET active = FALSE WHERE tenant_id = $1 AND id = $2 AND active = TRUE")
            .bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// A visitor's customer (their details checked: name required, e-mail and phone read as
    /// the tenant reads them): found by phone, then e-mail; created when unknown.
    pub async fn customer_of_visitor(&self, tenant_id: i64, visitor: &Visitor) -> Result<i64> {
        let region = self.get_tenant(tenant_id).await?.default_region;
        let v = check_visitor(visitor, &region)?;
        self.visitor_customer(tenant_id, &v).await
    }

    /// The visitor's customer: found by phone, then e-mail; created when unknown.
    async fn visitor_customer(&self, tenant_id: i64, v: &CheckedVisitor) -> Result<i64> {
        if let Some(p) = &v.phone {
            if let Some(c) = self
                .find_by_identifier(tenant_id, IdentifierKind::Phone, p)
                .await?
            {
                return Ok(c.id);
            }
        }
        if let Some(e) = &v.email {
            if let Some(c) = self
                .find_by_identifier(tenant_id, IdentifierKind::Email, e)
                .await?
            {
                return Ok(c.id);
            }
        }
        let new = crate::NewCustomer {
            name: v.name.clone(),
            emails: v.email.iter().cloned().collect(),
            phones: v.phone.iter().cloned().collect(),
            ..Default::default()
        };
        match self.create_customer(tenant_id, &new).await {
            Ok(c) => Ok(c.id),
            // Created meanwhile by another contact: take that one.
            Err(StoreError::Conflict { .. }) => {
                for (kind, value) in [
                    (IdentifierKind::Phone, &v.phone),
                    (IdentifierKind::Email, &v.email),
                ] {
                    if let Some(value) = value {
                        if let Some(c) = self.find_by_identifier(tenant_id, kind, value).await? {
                            return Ok(c.id);
                        }
                    }
                }
                Err(StoreError::NotFound)
            }
            Err(e) => Err(e),
        }
    }

    /// Opens a visitor's chat on `site`: the customer (found or created), a `queued` chat
    /// interaction in the site's chat queue, the session and the first message, in one
    /// transaction after the customer.
    pub async fn open_chat(
        &self,
        site: &Site,
        visitor: &Visitor,
        first: Option<&str>,
    ) -> Result<OpenedChat> {
        let t = site.tenant_id;
        let queue = site
            .chat_queue_id
            .ok_or(StoreError::conflict("no_chat", "this site has no chat"))?;
        let region = self.get_tenant(t).await?.default_region;
        let v = check_visitor(visitor, &region)?;
        let first = first
            .map(|s| validate::long_text("text", s.trim(), 16 * 1024))
            .transpose()?
            .filter(|s| !s.is_empty());
        let customer = self.visitor_customer(t, &v).await?;
        let token = new_secret("hlc_");
        let hash = token_hash(&token);
        let at = now_ms();
        let event = json!({"site_id": site.id}).to_string();
        let first_line = first.map(|text| ChatLine {
            inbound: true,
            client_id: None,
            author: "customer".into(),
            from_name: v.name.clone(),
            text,
            attachments: Vec::new(),
        });
        let first_write = first_line
            .as_ref()
            .map(|l| crate::messages::MessageWrite::chat(l, None));
        let (iid, sid, mid) = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let iid = insert_interaction!(tx, t, "chat", customer, queue, None::<String>, at);
            let (sid,): (i64,) = sqlx::query_as(
                "INSERT INTO chat_sessions (tenant_id, site_id, interaction_id, token_hash, visitor_name, visitor_email, visitor_phone, created_at, ended_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL) RETURNING id")
                .bind(t).bind(site.id).bind(iid).bind(&hash).bind(&v.name).bind(&v.email).bind(&v.phone).bind(at)
                .fetch_one(&mut *tx).await?;
            sqlx::query(crate::interactions::APPEND_SQL)
                .bind(t).bind(iid).bind(at).bind("chat.started").bind("customer").bind(&event)
                .fetch_one(&mut *tx).await?;
            let mid = match &first_write {
                Some(w) => Some(crate::messages::write_message!(tx, t, iid, at, w)),
                None => None,
            };
            tx.commit().await?;
            Ok::<_, sqlx::Error>((iid, sid, mid))
        })?;
        let message = match mid {
            Some(m) => Some(self.message(t, m).await?),
            None => None,
        };
        Ok(OpenedChat {
            token,
            session: self.chat_session(t, sid).await?,
            interaction: self.get_interaction(t, iid).await?,
            message,
        })
    }

    async fn chat_session(&self, tenant_id: i64, id: i64) -> Result<ChatSession> {
        let sql =
            format!("SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE tenant_id = $1 AND id = $2");
        let row: SessionRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(id).fetch_one(p).await)?;
        Ok(row.into())
    }

    /// The chat a widget's secret opens.
    pub async fn chat_by_token(&self, token: &str) -> Result<Option<ChatSession>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE token_hash = $1");
        let row: Option<SessionRow> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(token_hash(token)).fetch_optional(p).await)?;
        Ok(row.map(Into::into))
    }

    /// The chat session of an interaction, if it is a visitor's chat.
    pub async fn chat_of_interaction(
        &self,
        tenant_id: i64,
        interaction_id: i64,
    ) -> Result<Option<ChatSession>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE tenant_id = $1 AND interaction_id = $2"
        );
        let row: Option<SessionRow> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(interaction_id).fetch_optional(p).await)?;
        Ok(row.map(Into::into))
    }

    /// Marks a chat ended (`by`: `customer`, `user:<id>`, `system`); `false` when it had ended.
    pub async fn end_chat(&self, tenant_id: i64, session_id: i64, by: &str) -> Result<bool> {
        let s = self.chat_session(tenant_id, session_id).await?;
        let at = now_ms();
        let event = json!({"by": by}).to_string();
        let ended = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let done = sqlx::query("UPDATE chat_sessions SET ended_at = $3 WHERE tenant_id = $1 AND id = $2 AND ended_at IS NULL")
                .bind(tenant_id).bind(session_id).bind(at).execute(&mut *tx).await?;
            if done.rows_affected() > 0 {
                sqlx::query(crate::interactions::APPEND_SQL)
                    .bind(tenant_id).bind(s.interaction_id).bind(at).bind("chat.ended").bind(by).bind(&event)
                    .fetch_one(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected() > 0)
        })?;
        Ok(ended)
    }

    /// Stores a chat message; with a `client_id` seen before on this chat, returns the stored
    /// one and `false`. Refused (`chat_ended`) once the interaction is over.
    pub async fn add_chat_message(
        &self,
        tenant_id: i64,
        interaction_id: i64,
        line: &ChatLine,
    ) -> Result<(Message, bool)> {
        let cur = self.get_interaction(tenant_id, interaction_id).await?;
        if cur.channel != Channel::Chat {
            return Err(StoreError::conflict(
                "not_chat",
                "this interaction is not a chat",
            ));
        }
        let key = match &line.client_id {
            Some(c) => {
                let c = validate::required_text("client_id", c, 100)?;
                Some(format!("chat:{c}"))
            }
            None => None,
        };
        if let Some(k) = &key {
            let found: Option<(i64,)> = on_pool!(self, p => sqlx::query_as(
                "SELECT id FROM messages WHERE interaction_id = $1 AND dedupe_key = $2 AND account_id IS NULL")
                .bind(interaction_id).bind(k).fetch_optional(p).await)?;
            if let Some((id,)) = found {
                return Ok((self.message(tenant_id, id).await?, false));
            }
        }
        if cur.state.is_final() {
            return Err(StoreError::conflict("chat_ended", "this chat has ended"));
        }
        let text = validate::long_text("text", line.text.trim(), 16 * 1024)?;
        if text.is_empty() && line.attachments.is_empty() {
            return Err(InvalidInput::new("text", "must not be empty").into());
        }
        let line = ChatLine {
            text,
            from_name: line.from_name.chars().take(200).collect(),
            ..line.clone()
        };
        let at = now_ms();
        let w = crate::messages::MessageWrite::chat(&line, key.as_deref());
        let mid = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let mid = crate::messages::write_message!(tx, tenant_id, interaction_id, at, &w);
            tx.commit().await?;
            Ok::<_, sqlx::Error>(mid)
        })?;
        Ok((self.message(tenant_id, mid).await?, true))
    }

    /// What a form or an offline visitor left: the customer (found or created), a `queued`
    /// interaction of `channel` in `queue_id` with the text as its one inbound message (from
    /// the visitor's address, through the site's mailbox, so agents answer it by e-mail).
    pub async fn create_web_message(
        &self,
        site: &Site,
        channel: Channel,
        queue_id: i64,
        visitor: &Visitor,
        subject: &str,
        text: &str,
    ) -> Result<(Interaction, Message)> {
        let t = site.tenant_id;
        let region = self.get_tenant(t).await?.default_region;
        let v = check_visitor(visitor, &region)?;
        let text = validate::long_text("text", text.trim(), 64 * 1024)?;
        let subject = validate::optional_text("subject", subject, 500)?;
        let customer = self.visitor_customer(t, &v).await?;
        let at = now_ms();
        let subject_text = subject.clone().unwrap_or_default();
        let to = json!([]).to_string();
        let w = crate::messages::MessageWrite {
            account_id: site.email_account_id,
            direction: "inbound",
            message_id: None,
            dedupe_key: None,
            from_addr: v.email.as_deref().unwrap_or(""),
            from_name: &v.name,
            to,
            subject: &subject_text,
            body_text: &text,
            body_html: "",
            auto: false,
            status: "received",
            author: "customer",
            attachments: &[],
            event_kind: "web.message",
            event: json!({"site_id": site.id, "channel": channel, "phone": v.phone}).to_string(),
        };
        let (iid, mid) = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let iid = insert_interaction!(tx, t, channel.as_str(), customer, queue_id, &subject, at);
            let mid = crate::messages::write_message!(tx, t, iid, at, &w);
            tx.commit().await?;
            Ok::<_, sqlx::Error>((iid, mid))
        })?;
        Ok((
            self.get_interaction(t, iid).await?,
            self.message(t, mid).await?,
        ))
    }

    pub async fn create_template(
        &self,
        tenant_id: i64,
        name: &str,
        body: &str,
        channel: &str,
    ) -> Result<Template> {
        let name = validate::required_text("name", name, 200)?;
        let body = validate::long_text("body", body, 16 * 1024)?;
        if body.trim().is_empty() {
            return Err(InvalidInput::new("body", "must not be empty").into());
        }
        if !["chat", "email", "any"].contains(&channel) {
            return Err(InvalidInput::new("channel", "one of chat, email, any").into());
        }
        let at = now_ms();
        let row: TemplateRow = on_writer!(self, p => sqlx::query_as(
            "INSERT INTO templates (tenant_id, name, body, channel, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING id, tenant_id, name, body, channel, created_at")
            .bind(tenant_id).bind(&name).bind(&body).bind(channel).bind(at).fetch_one(p).await)?;
        Ok(row.into())
    }

    pub async fn list_templates(&self, tenant_id: i64) -> Result<Vec<Template>> {
        let rows: Vec<TemplateRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, tenant_id, name, body, channel, created_at FROM templates WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant_id).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn delete_template(&self, tenant_id: i64, id: i64) -> Result<()> {
        let done = on_writer!(self, p => sqlx::query("DELETE FROM templates WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
