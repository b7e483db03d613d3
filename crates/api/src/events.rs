//! Live events over `GET /api/v1/events` (WebSocket): interaction and agent changes as they
//! happen, filtered by tenant and role. Supervisors and admins see their whole tenant; an agent
//! sees what concerns them (their interactions, their own agent record).

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use hotline_model::Role;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// One message on the live stream.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveEvent {
    #[serde(skip)]
    pub tenant_id: i64,
    /// The agent this event concerns, if any (decides which agents receive it).
    #[serde(skip)]
    pub agent_id: Option<i64>,
    /// `interaction.created`, `interaction.updated`, `interaction.event`, `agent.updated`,
    /// `customer.updated`, `callback.scheduled`, `callback.cancelled`, `wallboard` (supervisors,
    /// every second: the wallboard's figures), or `lagged` (events were missed: fetch state again).
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

impl LiveEvent {
    pub fn new(tenant_id: i64, agent_id: Option<i64>, kind: &str, data: impl Serialize) -> Self {
        LiveEvent {
            tenant_id,
            agent_id,
            kind: kind.to_string(),
            data: serde_json::to_value(data).unwrap_or(Value::Null),
        }
    }
}

/// Who a live stream is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Audience {
    pub tenant_id: i64,
    pub role: Role,
    pub agent_id: Option<i64>,
}

impl Audience {
    pub fn wants(&self, e: &LiveEvent) -> bool {
        if e.tenant_id != self.tenant_id {
            return false;
        }
        if self.role.at_least(Role::Supervisor) {
            return true;
        }
        e.agent_id.is_some() && e.agent_id == self.agent_id
    }
}

/// Browsers cannot set headers on a WebSocket: the cookie works, and so does `?access_token=`.
pub struct WsAuth(pub Auth);

impl FromRequestParts<AppState> for WsAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        if let Some(token) = parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("access_token="))
                .map(str::to_string)
        }) {
            parts.headers.insert(
                axum::http::header::AUTHORIZATION,
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| ApiError::unauthorized())?,
            );
        }
        Auth::from_request_parts(parts, state).await.map(WsAuth)
    }
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    description = "WebSocket upgrade. Streams LiveEvent JSON messages for the caller's tenant, filtered by role. Authenticate with the session cookie, a Bearer header or `?access_token=`.",
    responses((status = 101, description = "Switching to WebSocket"), (status = 401, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    WsAuth(auth): WsAuth,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let ws = ws.map_err(|e| ApiError::bad_request("websocket_required", e.body_text()))?;
    let agent_id = state
        .store
        .get_agent_by_user(auth.tenant_id(), auth.user.id)
        .await
        .ok()
        .map(|a| a.id);
    let audience = Audience {
        tenant_id: auth.tenant_id(),
        role: auth.user.role,
        agent_id,
    };
    let rx = state.events.subscribe();
    // Supervisors get their tenant's wallboard every second on the stream (no polling).
    let boards: std::pin::Pin<Box<dyn Stream<Item = String> + Send>> =
        if audience.role.at_least(Role::Supervisor) && state.routing.is_some() {
            Box::pin(wallboards(state.clone(), audience.tenant_id))
        } else {
            Box::pin(futures_util::stream::pending())
        };
    Ok(ws.on_upgrade(move |socket: WebSocket| async move {
        state.metrics.ws_clients.inc();
        let (sink, stream) = socket.split();
        let pops = Some(state.metrics.screen_pop.clone());
        pump(audience, rx, sink, stream, boards, pops).await;
        state.metrics.ws_clients.dec();
    }))
}

/// `{"kind":"wallboard","data":Wallboard}` for one tenant, every second from now (a second
/// missed while the client is slow is skipped, not queued).
fn wallboards(state: AppState, tenant: i64) -> impl Stream<Item = String> + Send {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    futures_util::stream::unfold((state, every), move |(state, mut every)| async move {
        loop {
            every.tick().await;
            match crate::routes::desk::board(&state, tenant).await {
                Ok(board) => {
                    let text = json!({"kind": "wallboard", "data": board}).to_string();
                    return Some((text, (state, every)));
                }
                // Routing stopped or the store is away: the next second tries again.
                Err(e) => tracing::debug!(tenant, error = %e.message, "wallboard not pushed"),
            }
        }
    })
}

/// Forwards wanted events to the client until either side closes. Written over any sink and
/// stream so tests drive it with channels. Each screen pop (`contact.offered` with its
/// `offered_at`, wall ms) is timed into `pops` once written.
pub async fn pump<S, R, E, B>(
    audience: Audience,
    mut rx: broadcast::Receiver<LiveEvent>,
    mut sink: S,
    mut incoming: R,
    mut boards: B,
    pops: Option<prometheus_client::metrics::histogram::Histogram>,
) where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
    B: Stream<Item = String> + Unpin,
{
    let hello = json!({"kind": "hello", "data": {"tenant_id": audience.tenant_id, "role": audience.role, "agent_id": audience.agent_id}});
    if sink
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            msg = incoming.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {} // Pings are answered by the WebSocket layer; other input is ignored.
            },
            Some(board) = boards.next() => {
                if sink.send(Message::Text(board.into())).await.is_err() {
                    break;
                }
            }
            ev = rx.recv() => {
                let mut offered_at = None;
                let text = match ev {
                    Ok(e) if audience.wants(&e) => {
                        if e.kind == "contact.offered" {
                            offered_at = e.data["offered_at"].as_u64();
                        }
                        serde_json::to_string(&e).unwrap_or_default()
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(n)) => json!({"kind": "lagged", "data": {"missed": n}}).to_string(),
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
                if let (Some(at), Some(pops)) = (offered_at, &pops) {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64);
                    pops.observe(now.saturating_sub(at) as f64 / 1000.0);
                }
            }
        }
    }
    let _ = sink.close().await;
}
