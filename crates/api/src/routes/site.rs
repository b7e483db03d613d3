//! The web channels: a tenant's sites (admins), templates (canned responses), and what a
//! company's web pages call without logging in — the chat widget (`/api/v1/public/chat`, a
//! WebSocket), its files, messages left when nobody can chat, and forms.
//!
//! Public routes answer browsers from other origins (CORS: `Access-Control-Allow-Origin` is the
//! page's origin and preflights are answered by [`cors`]); whether that origin may use a site
//! is decided by each route against the site's `origins` (`origin_not_allowed`), so a page not
//! listed gets nothing done. Opening chats, leaving messages and sending forms are limited per
//! client address (`rate_limited`); a form whose hidden `website` field is filled (a bot) is
//! answered as if taken and dropped.

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use crate::routes::auth::ClientAddr;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hotline_channels::chat::{ChatError, ChatService, SiteStatus, ToVisitor};
use hotline_model::{Channel, ChatSession, Role, Site, Template};
use hotline_store::{NewCallback, NewSite, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// Largest file a visitor may send in a chat.
pub const MAX_CHAT_FILE: usize = 10 * 1024 * 1024;

// ---- admins: sites ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteCreate {
    pub name: String,
    /// Pages allowed to use the widget and forms: `https://shop.example` (scheme, host and
    /// port), or `*` for any.
    pub origins: Vec<String>,
    /// The queue chats wait in (it must take chats); none: no chat.
    pub chat_queue_id: Option<i64>,
    /// The queue forms go to (it must take forms); none: no forms.
    pub form_queue_id: Option<i64>,
    /// The mailbox that answers messages and forms and sends transcripts.
    pub email_account_id: Option<i64>,
    #[serde(default)]
    pub greeting: String,
}

fn unprocessable(code: &'static str, field: &str, message: &str) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    e.field = Some(field.into());
    e
}

#[utoipa::path(get, path = "/api/v1/sites", tag = "web",
    responses((status = 200, body = [Site]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_sites(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Site>>> {
    auth.require(Role::Admin)?;
    Ok(Json(state.store.list_sites(auth.tenant_id()).await?))
}

/// Adds a site; its `key` goes in the widget's script tag and the forms' address.
#[utoipa::path(post, path = "/api/v1/sites", tag = "web", request_body = SiteCreate,
    responses((status = 201, body = Site), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_input`, `queue_not_chat`, `queue_not_form`"), (status = 400, body = ErrorBody)))]
pub async fn create_site(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<SiteCreate>,
) -> ApiResult<(StatusCode, Json<Site>)> {
    auth.require(Role::Admin)?;
    let t = auth.tenant_id();
    for (q, channel, code, field) in [
        (
            req.chat_queue_id,
            Channel::Chat,
            "queue_not_chat",
            "chat_queue_id",
        ),
        (
            req.form_queue_id,
            Channel::Form,
            "queue_not_form",
            "form_queue_id",
        ),
    ] {
        if let Some(q) = q {
            let queue = state
                .store
                .get_queue(t, q)
                .await
                .map_err(|_| unprocessable("invalid_queue", field, "no such queue"))?;
            if !queue.channels.contains(&channel) {
                return Err(unprocessable(
                    code,
                    field,
                    "the queue does not take this channel",
                ));
            }
        }
    }
    let site = state
        .store
        .create_site(
            t,
            &NewSite {
                name: req.name,
                origins: req.origins,
                chat_queue_id: req.chat_queue_id,
                form_queue_id: req.form_queue_id,
                email_account_id: req.email_account_id,
                greeting: req.greeting,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(site)))
}

#[utoipa::path(delete, path = "/api/v1/sites/{id}", tag = "web", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_site(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    state.store.delete_site(auth.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- templates ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateCreate {
    pub name: String,
    pub body: String,
    /// `chat`, `email` or `any` (default).
    pub channel: Option<String>,
}

/// Canned responses and reply templates (every agent reads them).
#[utoipa::path(get, path = "/api/v1/templates", tag = "web",
    responses((status = 200, body = [Template]), (status = 401, body = ErrorBody)))]
pub async fn list_templates(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<Template>>> {
    Ok(Json(state.store.list_templates(auth.tenant_id()).await?))
}

#[utoipa::path(post, path = "/api/v1/templates", tag = "web", request_body = TemplateCreate,
    responses((status = 201, body = Template), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create_template(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<TemplateCreate>,
) -> ApiResult<(StatusCode, Json<Template>)> {
    auth.require(Role::Supervisor)?;
    let t = state
        .store
        .create_template(
            auth.tenant_id(),
            &req.name,
            &req.body,
            req.channel.as_deref().unwrap_or("any"),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "web", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Supervisor)?;
    state.store.delete_template(auth.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- public ----

/// CORS for the public routes: every answer names the page's origin (each route decides
/// whether that origin may use the site); a preflight (each route's `OPTIONS`, 204) also gets
/// the methods and headers allowed.
pub async fn cors(req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let preflight = req.method() == Method::OPTIONS;
    let mut res = next.run(req).await;
    if let Some(o) = origin {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type, x-chat-token"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    res
}

fn chat_service(state: &AppState) -> ApiResult<&ChatService> {
    state.chat.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "chat_unavailable",
            "chat is not running in this server",
        )
    })
}

fn origin_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string)
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> ApiError {
        match e {
            ChatError::Refused(code, message) => {
                let status = match code {
                    "unknown_site" | "unknown_chat" => StatusCode::NOT_FOUND,
                    "origin_not_allowed" => StatusCode::FORBIDDEN,
                    "files" => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => StatusCode::CONFLICT,
                };
                ApiError::new(status, code, message)
            }
            ChatError::Store(e) => e.into(),
        }
    }
}

async fn public_site(state: &AppState, key: &str, headers: &HeaderMap) -> ApiResult<Site> {
    let origin = origin_of(headers);
    let site = chat_service(state)?.site(key, origin.as_deref()).await;
    if let Err(ChatError::Refused("origin_not_allowed", _)) = &site {
        tracing::info!(origin = ?origin, "a page from an origin not allowed used a site's key");
    }
    Ok(site?)
}

/// One request from a client address against the public limit.
fn limit(state: &AppState, addr: &ClientAddr, site: &Site) -> ApiResult<()> {
    let key = vec![format!(
        "{}|{}",
        site.id,
        addr.0.map_or_else(|| "local".into(), |a| a.to_string())
    )];
    let now = Instant::now();
    if let Some(wait) = state.public_limiter.check(&key, now) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests from this address; try again in {wait} s"),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    state.public_limiter.record_failure(&key, now);
    Ok(())
}

/// What the widget shows before a chat.
#[utoipa::path(get, path = "/api/v1/public/sites/{key}", tag = "web", params(("key" = String, Path)),
    responses((status = 200, body = Object, description = "name, greeting, chat, online, messages, forms"),
        (status = 403, body = ErrorBody, description = "`origin_not_allowed`"), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn site_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> ApiResult<Json<SiteStatus>> {
    let site = public_site(&state, &key, &headers).await?;
    Ok(Json(chat_service(&state)?.status(&site).await))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatOpen {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The first message.
    pub text: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatOpened {
    /// The chat's secret: the widget keeps it and says it first on the WebSocket.
    pub token: String,
}

/// Opens a chat (the pre-chat form); the chat waits for an agent in the site's chat queue.
#[utoipa::path(post, path = "/api/v1/public/sites/{key}/chats", tag = "web", params(("key" = String, Path)), request_body = ChatOpen,
    responses((status = 201, body = ChatOpened), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`no_chat`"), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn open_chat(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    Path(key): Path<String>,
    Json(req): Json<ChatOpen>,
) -> ApiResult<(StatusCode, Json<ChatOpened>)> {
    let site = public_site(&state, &key, &headers).await?;
    limit(&state, &addr, &site)?;
    let visitor = Visitor {
        name: req.name,
        email: req.email,
        phone: req.phone,
    };
    let (token, _) = chat_service(&state)?
        .open(&site, &visitor, req.text.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(ChatOpened { token })))
}

/// What a visitor leaves on a site: a form (`kind` `message` or `callback`), or a message
/// when nobody could chat. JSON or `application/x-www-form-urlencoded`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WebForm {
    /// `message` (default) or `callback`.
    pub kind: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    /// For a callback: when (RFC 3339); default now.
    pub when: Option<String>,
    /// Left empty by people; bots fill it in.
    pub website: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Taken {
    pub ok: bool,
}

fn read_form(headers: &HeaderMap, body: &Bytes) -> ApiResult<WebForm> {
    let urlencoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let parsed = if urlencoded {
        serde_urlencoded::from_bytes::<WebForm>(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice::<WebForm>(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e))
}

/// A public form post: the site (its origin checked), counted against the limit, read; `None`
/// for a bot's (the hidden `website` field filled), which is answered as taken and dropped.
async fn take_post(
    state: &AppState,
    key: &str,
    headers: &HeaderMap,
    addr: &ClientAddr,
    body: &Bytes,
) -> ApiResult<Option<(Site, WebForm)>> {
    let site = public_site(state, key, headers).await?;
    limit(state, addr, &site)?;
    let form = read_form(headers, body)?;
    if form
        .website
        .as_deref()
        .is_some_and(|w| !w.trim().is_empty())
    {
        tracing::info!(
            site = site.id,
            "a post with the trap field filled was dropped"
        );
        return Ok(None);
    }
    Ok(Some((site, form)))
}

const TAKEN: Taken = Taken { ok: true };

/// A message left when nobody could chat: answered by e-mail.
#[utoipa::path(post, path = "/api/v1/public/sites/{key}/messages", tag = "web", params(("key" = String, Path)), request_body = WebForm,
    responses((status = 201, body = Taken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`no_mailbox`, `no_chat`"), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn leave_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Taken>)> {
    let Some((site, form)) = take_post(&state, &key, &headers, &addr, &body).await? else {
        return Ok((StatusCode::CREATED, Json(TAKEN)));
    };
    let visitor = Visitor {
        name: form.name,
        email: form.email,
        phone: form.phone,
    };
    chat_service(&state)?
        .leave_message(&site, &visitor, form.text.as_deref().unwrap_or(""))
        .await?;
    Ok((StatusCode::CREATED, Json(TAKEN)))
}

/// A "contact us" or "call me back" form: a request in the site's form queue (answered by
/// e-mail through the site's mailbox), or a callback booked in it.
#[utoipa::path(post, path = "/api/v1/public/sites/{key}/forms", tag = "web", params(("key" = String, Path)), request_body = WebForm,
    responses((status = 201, body = Taken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`no_forms`"), (status = 422, body = ErrorBody, description = "`invalid_input`, `invalid_phone`, `phone_required`, `invalid_kind`, `text_required`"),
        (status = 429, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn submit_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Taken>)> {
    let Some((site, form)) = take_post(&state, &key, &headers, &addr, &body).await? else {
        return Ok((StatusCode::CREATED, Json(TAKEN)));
    };
    let queue = site.form_queue_id.ok_or_else(|| {
        ApiError::new(StatusCode::CONFLICT, "no_forms", "this site takes no forms")
    })?;
    let t = site.tenant_id;
    let visitor = Visitor {
        name: form.name.clone(),
        email: form.email.clone(),
        phone: form.phone.clone(),
    };
    match form.kind.as_deref().unwrap_or("message") {
        "message" => {
            let text = form.text.as_deref().unwrap_or("").trim();
            if text.is_empty() {
                return Err(unprocessable(
                    "text_required",
                    "text",
                    "the message is empty",
                ));
            }
            chat_service(&state)?
                .take_form(
                    &site,
                    &visitor,
                    form.subject
                        .as_deref()
                        .unwrap_or("Форма на сайте / Web form"),
                    text,
                )
                .await?;
        }
        "callback" => {
            let tenant = state.store.get_tenant(t).await?;
            let number = form
                .phone
                .as_deref()
                .filter(|p| !p.trim().is_empty())
                .ok_or_else(|| {
                    unprocessable("phone_required", "phone", "a number to call is needed")
                })?;
            let number = hotline_model::phone::normalize_phone(number, &tenant.default_region)
                .map_err(|e| unprocessable("invalid_phone", "phone", &e.message))?;
            let due = crate::routes::interactions::parse_time("when", form.when.as_deref())?
                .unwrap_or_else(time::OffsetDateTime::now_utc);
            let customer = state.store.customer_of_visitor(t, &visitor).await?;
            let queue_voice = state.store.get_queue(t, queue).await?;
            if !queue_voice.channels.contains(&Channel::Voice) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "no_forms",
                    "this site's form queue takes no calls, so it books no callbacks",
                ));
            }
            let note = format!(
                "{}{}",
                form.subject
                    .as_deref()
                    .map(|s| format!("{s}\n"))
                    .unwrap_or_default(),
                form.text.as_deref().unwrap_or("")
            );
            crate::routes::callbacks::book(
                &state,
                t,
                NewCallback {
                    queue_id: queue,
                    customer_id: Some(customer),
                    agent_id: None,
                    number,
                    due_at: due,
                    note,
                    origin_interaction_id: None,
                },
                "web",
            )
            .await?;
        }
        _ => {
            return Err(unprocessable(
                "invalid_kind",
                "kind",
                "kind is message or callback",
            ))
        }
    }
    Ok((StatusCode::CREATED, Json(TAKEN)))
}

/// The session a widget's secret names, if the page's origin may use its site.
async fn session_of(state: &AppState, headers: &HeaderMap) -> ApiResult<ChatSession> {
    let token = headers
        .get("x-chat-token")
        .and_then(|t| t.to_str().ok())
        .unwrap_or("");
    let session = state
        .store
        .chat_by_token(token)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown_chat", "no such chat"))?;
    check_origin(state, &session, origin_of(headers).as_deref()).await?;
    Ok(session)
}

async fn check_origin(state: &AppState, s: &ChatSession, origin: Option<&str>) -> ApiResult<()> {
    if let Some(o) = origin {
        let site = state.store.get_site(s.tenant_id, s.site_id).await?;
        if !site.allows(o) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "this site's widget may not be used from this page",
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct FileParams {
    /// The widget's id for the message.
    pub client_id: String,
    pub name: String,
}

/// A visitor's file (the body is the file; `X-Chat-Token` names the chat): a message of its
/// own, stored once per `client_id`.
#[utoipa::path(post, path = "/api/v1/public/chat/files", tag = "web", params(FileParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Object, description = "The stored message as the widget shows it"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`chat_ended`"), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn visitor_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<FileParams>,
    body: Bytes,
) -> ApiResult<Response> {
    let session = session_of(&state, &headers).await?;
    let name = p.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 || name.contains(['/', '\\', '\0']) {
        return Err(unprocessable(
            "invalid_attachment",
            "name",
            "a file name is 1 to 200 characters without slashes",
        ));
    }
    if body.is_empty() {
        return Err(unprocessable(
            "invalid_attachment",
            "body",
            "the file is empty",
        ));
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .filter(|c| c.contains('/') && c.len() < 128)
        .unwrap_or("application/octet-stream")
        .to_string();
    let m = chat_service(&state)?
        .visitor_says(
            &session,
            &p.client_id,
            "",
            vec![(name, ctype, body.to_vec())],
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(m)).into_response())
}

/// A file of the visitor's chat (`X-Chat-Token`), as a download.
#[utoipa::path(get, path = "/api/v1/public/chat/files/{id}", tag = "web", params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/octet-stream"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn visitor_download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let session = session_of(&state, &headers).await?;
    let a = state.store.attachment(session.tenant_id, id).await?;
    let m = state.store.message(session.tenant_id, a.message_id).await?;
    if m.interaction_id != session.interaction_id {
        return Err(ApiError::not_found());
    }
    crate::routes::messages::serve_attachment(&state, &a).await
}

/// What a widget sends on the WebSocket.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromVisitor {
    /// First: the chat's secret and the last message id the widget has.
    Hello {
        token: String,
        #[serde(default)]
        after: i64,
    },
    Message {
        client_id: String,
        text: String,
    },
    Typing,
    End {
        #[serde(default)]
        transcript: bool,
    },
    Ping,
}

/// The chat widget's live connection (see `web/chat/widget.js` for the other side): `hello`
/// first, then `welcome` with the messages the widget missed; each message sent is answered
/// by `ack` (its `client_id` and the stored message) once stored, or by `error`.
#[utoipa::path(get, path = "/api/v1/public/chat", tag = "web",
    responses((status = 101, description = "WebSocket: JSON frames")))]
pub async fn visitor_socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = origin_of(&headers);
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| run_visitor(state, socket, origin))
}

async fn send_json(socket: &mut WebSocket, v: serde_json::Value) -> bool {
    socket
        .send(WsMessage::Text(v.to_string().into()))
        .await
        .is_ok()
}

async fn run_visitor(state: AppState, mut socket: WebSocket, origin: Option<String>) {
    let Some(chat) = state.chat.clone() else {
        let _ = send_json(
            &mut socket,
            json!({"type": "error", "code": "chat_unavailable"}),
        )
        .await;
        return;
    };
    let hello = tokio::time::timeout(Duration::from_secs(10), socket.next()).await;
    let Ok(Some(Ok(WsMessage::Text(first)))) = hello else {
        return;
    };
    let Ok(FromVisitor::Hello { token, after }) = serde_json::from_str(first.as_str()) else {
        let _ = send_json(&mut socket, json!({"type": "error", "code": "hello_expected", "message": "say hello with the chat's token first"})).await;
        return;
    };
    let mut attached = match chat.attach(&token, after).await {
        Ok(a) => a,
        Err(e) => {
            let e = ApiError::from(e);
            let _ = send_json(
                &mut socket,
                json!({"type": "error", "code": e.code, "message": e.message}),
            )
            .await;
            return;
        }
    };
    let session = attached.session.clone();
    if let Err(e) = check_origin(&state, &session, origin.as_deref()).await {
        let _ = send_json(
            &mut socket,
            json!({"type": "error", "code": e.code, "message": e.message}),
        )
        .await;
        return;
    }
    let welcome = json!({
        "type": "welcome",
        "name": session.visitor_name,
        "messages": attached.missed,
        "agent": attached.agent,
        "ended": attached.ended,
        "transcript": session.visitor_email.is_some(),
    });
    if !send_json(&mut socket, welcome).await {
        return;
    }
    loop {
        tokio::select! {
            ev = attached.events.recv() => match ev {
                Ok(ev) => {
                    let ended = matches!(ev, ToVisitor::Ended { .. });
                    let v = serde_json::to_value(&ev).unwrap_or_default();
                    if !send_json(&mut socket, v).await || ended {
                        break;
                    }
                }
                // Missed events: the widget reconnects and is given what it lacks.
                Err(_) => break,
            },
            frame = socket.next() => {
                let text = match frame {
                    Some(Ok(WsMessage::Text(t))) => t,
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                    _ => break,
                };
                let reply = match serde_json::from_str::<FromVisitor>(text.as_str()) {
                    Ok(FromVisitor::Message { client_id, text }) => {
                        match chat.visitor_says(&session, &client_id, &text, Vec::new()).await {
                            Ok(m) => json!({"type": "ack", "client_id": client_id, "message": m}),
                            Err(e) => {
                                let e = ApiError::from(e);
                                json!({"type": "error", "client_id": client_id, "code": e.code, "message": e.message})
                            }
                        }
                    }
                    Ok(FromVisitor::Typing) => {
                        chat.visitor_typing(&session);
                        continue;
                    }
                    Ok(FromVisitor::End { transcript }) => {
                        match chat.visitor_ends(&session, transcript).await {
                            Ok(()) => json!({"type": "ended", "by": "visitor"}),
                            Err(e) => {
                                let e = ApiError::from(e);
                                json!({"type": "error", "code": e.code, "message": e.message})
                            }
                        }
                    }
                    Ok(FromVisitor::Ping) => json!({"type": "pong"}),
                    Ok(FromVisitor::Hello { .. }) => json!({"type": "error", "code": "already_attached", "message": "hello is said once"}),
                    Err(e) => json!({"type": "error", "code": "invalid_frame", "message": e.to_string()}),
                };
                if !send_json(&mut socket, reply).await {
                    break;
                }
            }
        }
    }
    let _ = socket.close().await;
}

/// Serves `web/chat/widget.js` (the one script tag a company puts on its pages).
pub async fn widget_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        Body::from(&include_bytes!("../../../../web/chat/widget.js")[..]),
    )
        .into_response()
}
