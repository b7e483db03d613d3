//! Written channels on the desk: the mailboxes a tenant's admins connect, an interaction's
//! messages and their files, the agent's reply, and taking, declining and finishing a written
//! contact routing offered (a call is answered on the phone; an e-mail is taken here).

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use crate::routes::desk::{routing, unavailable};
use crate::routes::interactions::check_may_change;
use crate::state::{AppState, ReplyDraft};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use hotline_model::{Channel, EmailAccount, Interaction, InteractionState, Message, Role};
use hotline_routing::{ContactId, ContactState};
use hotline_store::{InteractionPatch, NewEmailAccount};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailAccountCreate {
    /// New mail becomes an interaction in this queue (it must take e-mail).
    pub queue_id: i64,
    /// The address customers write to.
    pub address: String,
    #[serde(default)]
    pub display_name: String,
    /// Empty or absent: no IMAP server; the mailbox takes mail by direct delivery to
    /// Hotline's SMTP listener only.
    #[serde(default)]
    pub imap_host: String,
    /// Default 993 with `tls`, else 143.
    pub imap_port: Option<u16>,
    /// `tls` (implicit), `starttls` or `none` (plain: only inside a trusted network). Default
    /// `tls` on port 993, else `starttls`.
    pub imap_security: Option<String>,
    /// `tls` (implicit), `starttls` or `none`. Default `tls` on port 465, else `starttls`.
    pub smtp_security: Option<String>,
    /// A CA (PEM) to trust besides the system's, for the company's own certificates.
    pub tls_ca_pem: Option<String>,
    #[serde(default)]
    pub imap_user: String,
    #[serde(default)]
    pub imap_password: String,
    /// Default `INBOX`.
    pub imap_folder: Option<String>,
    /// Default `Hotline`: stored mail is moved here.
    pub done_folder: Option<String>,
    pub smtp_host: String,
    /// Default 465 with `tls`, 587 with `starttls`, 25 with `none`.
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub smtp_user: String,
    #[serde(default)]
    pub smtp_password: String,
    /// Default true: a new request is acknowledged with its number.
    pub auto_ack: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/email-accounts", tag = "messages",
    responses((status = 200, body = [EmailAccount]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<EmailAccount>>> {
    auth.require(Role::Admin)?;
    Ok(Json(
        state.store.list_email_accounts(auth.tenant_id()).await?,
    ))
}

/// Connects a mailbox: Hotline starts reading it within seconds.
#[utoipa::path(post, path = "/api/v1/email-accounts", tag = "messages", request_body = EmailAccountCreate,
    responses((status = 201, body = EmailAccount), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`already_exists`: the address is a mailbox of the tenant already"),
        (status = 422, body = ErrorBody, description = "`queue_not_email`, `invalid_ca` and field errors"), (status = 400, body = ErrorBody)))]
pub async fn create_account(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<EmailAccountCreate>,
) -> ApiResult<(StatusCode, Json<EmailAccount>)> {
    auth.require(Role::Admin)?;
    let t = auth.tenant_id();
    let queue = state.store.get_queue(t, req.queue_id).await.map_err(|_| {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_queue",
            "no such queue",
        );
        e.field = Some("queue_id".into());
        e
    })?;
    if !queue.channels.contains(&Channel::Email) {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "queue_not_email",
            "this queue does not take e-mail; add the email channel to it first",
        );
        e.field = Some("queue_id".into());
        return Err(e);
    }
    let imap_security = req.imap_security.unwrap_or_else(|| {
        if req.imap_port == Some(993) {
            "tls"
        } else {
            "starttls"
        }
        .into()
    });
    let smtp_security = req.smtp_security.unwrap_or_else(|| {
        if req.smtp_port == Some(465) {
            "tls"
        } else {
            "starttls"
        }
        .into()
    });
    let tls_ca_pem = req.tls_ca_pem.unwrap_or_default();
    if let Err(why) = hotline_channels::email::tls::parse_ca(&tls_ca_pem) {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_ca", why);
        e.field = Some("tls_ca_pem".into());
        return Err(e);
    }
    let new = NewEmailAccount {
        queue_id: req.queue_id,
        address: req.address,
        display_name: req.display_name,
        imap_host: req.imap_host,
        imap_port: req
            .imap_port
            .unwrap_or(if imap_security == "tls" { 993 } else { 143 }),
        imap_user: req.imap_user,
        imap_password: req.imap_password,
        imap_folder: req.imap_folder.unwrap_or_else(|| "INBOX".into()),
        done_folder: req.done_folder.unwrap_or_else(|| "Hotline".into()),
        smtp_host: req.smtp_host,
        smtp_port: req.smtp_port.unwrap_or(match smtp_security.as_str() {
            "tls" => 465,
            "starttls" => 587,
            _ => 25,
        }),
        smtp_user: req.smtp_user,
        smtp_password: req.smtp_password,
        auto_ack: req.auto_ack.unwrap_or(true),
        imap_security,
        smtp_security,
        tls_ca_pem,
    };
    let account = state.store.create_email_account(t, &new).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Stops reading a mailbox; its messages stay with their interactions.
#[utoipa::path(delete, path = "/api/v1/email-accounts/{id}", tag = "messages", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_account(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    state
        .store
        .deactivate_email_account(auth.tenant_id(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The messages of an interaction, oldest first (HTML bodies are sanitised).
#[utoipa::path(get, path = "/api/v1/interactions/{id}/messages", tag = "messages", params(("id" = i64, Path)),
    responses((status = 200, body = [Message]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Message>>> {
    Ok(Json(state.store.list_messages(auth.tenant_id(), id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileUpload {
    pub name: String,
    /// Default `application/octet-stream`.
    pub content_type: Option<String>,
    /// The file's bytes, base64.
    pub data_base64: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyCreate {
    /// The reply as plain text (what the customer's mail program shows without HTML).
    pub text: String,
    /// The same as rich text; sanitised before it is kept or sent.
    pub html: Option<String>,
    /// Default: the customer's address (the sender of their last mail).
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub attachments: Vec<FileUpload>,
}

/// Answers the customer by e-mail, threaded under their last message (In-Reply-To,
/// References, the ticket in the subject). The answer is the stored message: `sent`, or
/// `failed` with what the mail server said.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/messages", tag = "messages", params(("id" = i64, Path)), request_body = ReplyCreate,
    responses((status = 201, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`not_email`, `no_mailbox`"), (status = 422, body = ErrorBody, description = "`no_recipient`, `invalid_recipient`, `invalid_mail`, `invalid_attachment`, `text_required`"),
        (status = 503, body = ErrorBody, description = "`email_unavailable`"), (status = 400, body = ErrorBody)))]
pub async fn reply(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<ReplyCreate>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    auth.require(Role::Agent)?;
    let t = auth.tenant_id();
    let interaction = state.store.get_interaction(t, id).await?;
    check_may_change(&state, &auth, &interaction).await?;
    if interaction.channel == Channel::Voice {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_email",
            "a call is not answered in writing",
        ));
    }
    if req.text.trim().is_empty()
        && (interaction.channel != Channel::Chat || req.attachments.is_empty())
    {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text_required",
            "the reply has no text",
        );
        e.field = Some("text".into());
        return Err(e);
    }
    let mut attachments = Vec::new();
    for f in req.attachments {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(f.data_base64.trim())
            .map_err(|_| {
                let mut e = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_attachment",
                    "data_base64 is not base64",
                );
                e.field = Some("attachments".into());
                e
            })?;
        let name = f.name.trim().to_string();
        if name.is_empty() || name.len() > 200 || name.contains(['/', '\\']) {
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_attachment",
                "a file name is 1 to 200 characters without slashes",
            );
            e.field = Some("attachments".into());
            return Err(e);
        }
        let ctype = f
            .content_type
            .filter(|c| c.contains('/') && c.len() < 128 && c.is_ascii())
            .unwrap_or_else(|| "application/octet-stream".into());
        attachments.push((name, ctype, bytes));
    }
    if interaction.channel == Channel::Chat {
        let chat = state.chat.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "chat_unavailable",
                "chat is not running in this server",
            )
        })?;
        let name = agent_name(&state, &auth).await;
        let m = chat
            .agent_says(
                t,
                id,
                &format!("user:{}", auth.user.id),
                &name,
                &req.text,
                attachments,
            )
            .await?;
        return Ok((StatusCode::CREATED, Json(m)));
    }
    let Some(mailer) = state.mailer.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "email_unavailable",
            "e-mail is not running in this server",
        ));
    };
    let draft = ReplyDraft {
        text: req.text,
        html: req.html,
        to: req.to,
        attachments,
    };
    let author = format!("user:{}", auth.user.id);
    match mailer.reply(t, id, author, draft).await {
        Ok(m) => Ok((StatusCode::CREATED, Json(m))),
        Err(r) => {
            let status = match r.code {
                "no_mailbox" => StatusCode::CONFLICT,
                "email_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            Err(ApiError::new(status, r.code, r.message))
        }
    }
}

/// The agent's own agent id, and the written contact routing holds for them.
async fn offered_to_me(
    state: &AppState,
    auth: &Auth,
    id: i64,
) -> ApiResult<(Interaction, i64, Option<ContactState>)> {
    let t = auth.tenant_id();
    let interaction = state.store.get_interaction(t, id).await?;
    if interaction.channel == Channel::Voice {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "voice_contact",
            "a call is answered or refused on the phone",
        ));
    }
    let agent = state
        .store
        .get_agent_by_user(t, auth.user.id)
        .await
        .map_err(|_| ApiError::forbidden())?;
    let link = routing(state)?;
    let routed = link
        .contact_state(ContactId(id))
        .await
        .map_err(unavailable)?;
    Ok((interaction, agent.id, routed))
}

/// Tells routing the caller's answer to the offer of contact `id` (theirs, or `not_offered`);
/// the caller's agent id.
async fn answer_offer(
    state: &AppState,
    auth: &Auth,
    id: i64,
    answer: fn(ContactId) -> hotline_acd::Input,
) -> ApiResult<i64> {
    let (_, me, routed) = offered_to_me(state, auth, id).await?;
    match routed {
        Some(ContactState::Offered { agent, .. }) if agent.0 == me => {}
        _ => return Err(not_offered()),
    }
    routing(state)?
        .input(answer(ContactId(id)))
        .await
        .map_err(|_| not_offered())?;
    Ok(me)
}

fn not_offered() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_offered",
        "this contact is not offered to you now",
    )
}

/// Takes a written contact routing offered to the caller.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/accept", tag = "messages", params(("id" = i64, Path)),
    responses((status = 200, body = Interaction), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`not_offered`, `voice_contact`"), (status = 503, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn accept(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Interaction>> {
    let me = answer_offer(&state, &auth, id, hotline_acd::Input::OfferAccepted).await?;
    let patch = InteractionPatch {
        state: Some(InteractionState::Active),
        agent_id: Some(Some(me)),
        ..Default::default()
    };
    let (interaction, _) = state
        .store
        .update_interaction(auth.tenant_id(), id, &patch, &auth.user.username)
        .await?;
    if let (Channel::Chat, Some(chat)) = (interaction.channel, &state.chat) {
        chat.agent_joined(auth.tenant_id(), id, me).await;
    }
    Ok(Json(interaction))
}

/// Passes a written contact on: routing offers it to the next agent.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/decline", tag = "messages", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`not_offered`, `voice_contact`"), (status = 503, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn decline(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    answer_offer(&state, &auth, id, hotline_acd::Input::OfferDeclined).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agent is done with a written contact: it is closed and the agent's wrap-up begins
/// (ended with `POST /agents/{id}/wrap-up`). A customer's later reply reopens it.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/finish", tag = "messages", params(("id" = i64, Path)),
    responses((status = 200, body = Interaction), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`not_serving`, `voice_contact`"), (status = 503, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn finish(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Interaction>> {
    let (interaction, me, routed) = offered_to_me(&state, &auth, id).await?;
    if interaction.channel == Channel::Chat
        && interaction.state.is_final()
        && interaction.agent_id == Some(me)
    {
        // The visitor left first: routing has ended it; the agent closes their tab.
        return Ok(Json(interaction));
    }
    let serving = matches!(routed, Some(ContactState::Serving { agent }) if agent.0 == me);
    let supervising = auth.user.role.at_least(Role::Supervisor) && routed.is_some();
    if !(serving || supervising) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_serving",
            "you are not working on this contact",
        ));
    }
    check_may_change(&state, &auth, &interaction).await?;
    routing(&state)?
        .input(hotline_acd::Input::Ended(ContactId(id)))
        .await
        .map_err(unavailable)?;
    let patch = InteractionPatch {
        state: Some(InteractionState::Closed),
        ..Default::default()
    };
    let (interaction, _) = state
        .store
        .update_interaction(auth.tenant_id(), id, &patch, &auth.user.username)
        .await?;
    if let (Channel::Chat, Some(chat)) = (interaction.channel, &state.chat) {
        chat.agent_finished(auth.tenant_id(), id, &format!("user:{}", auth.user.id))
            .await;
    }
    Ok(Json(interaction))
}

/// The agent's name as customers see it: their agent record's, else their user's.
async fn agent_name(state: &AppState, auth: &Auth) -> String {
    match state
        .store
        .get_agent_by_user(auth.tenant_id(), auth.user.id)
        .await
    {
        Ok(a) => a.display_name,
        Err(_) => auth.user.display_name.clone(),
    }
}

/// The agent is typing in a chat: the visitor's widget shows it.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/typing", tag = "messages", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`not_chat`"), (status = 400, body = ErrorBody)))]
pub async fn typing(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Agent)?;
    let interaction = state.store.get_interaction(auth.tenant_id(), id).await?;
    if interaction.channel != Channel::Chat {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_chat",
            "this interaction is not a chat",
        ));
    }
    check_may_change(&state, &auth, &interaction).await?;
    if let Some(chat) = &state.chat {
        chat.agent_typing(id, &agent_name(&state, &auth).await);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A message's file, sent as it is read.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "messages", params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/octet-stream", description = "The file, as an attachment (never shown inline)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn attachment(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let a = state.store.attachment(auth.tenant_id(), id).await?;
    serve_attachment(&state, &a).await
}

/// Streams an attachment's file as a download (never rendered as the sender chose).
pub(crate) async fn serve_attachment(
    state: &AppState,
    a: &hotline_model::Attachment,
) -> ApiResult<Response> {
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "file_missing",
            "the file is not on this server",
        )
    };
    let dir = state.attachments.as_ref().ok_or_else(missing)?;
    if a.sha256.len() != 64 || !a.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(missing());
    }
    let path = dir.join(&a.sha256[..2]).join(&a.sha256);
    let file = tokio::fs::File::open(&path).await.map_err(|_| missing())?;
    let len = file.metadata().await.map_err(|_| missing())?.len();
    let disposition = format!(
        "attachment; filename=\"download\"; filename*=UTF-8''{}",
        percent(&a.name)
    );
    Ok((
        StatusCode::OK,
        [
            // Never rendered by the browser as the sender chose: a download.
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        Body::from_stream(crate::routes::desk::file_chunks(file, len)),
    )
        .into_response())
}

/// RFC 5987 percent-encoding of a file name.
fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
