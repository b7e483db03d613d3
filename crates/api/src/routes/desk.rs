//! What the web workplace needs beyond the records: the live wallboard, an agent's own routing
//! state, leaving wrap-up, and a call's recording.

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use hotline_acd::AcdLink;
use hotline_model::Role;
use hotline_routing::{AgentId, ContactId, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use utoipa::ToSchema;

/// One queue on the wallboard, today's figures.
#[derive(Serialize, ToSchema)]
pub struct QueueBoard {
    pub queue_id: i64,
    pub name: String,
    /// Contacts waiting for an agent now.
    pub waiting: usize,
    /// The same by channel (`voice`, `chat`, `email`, `form`; channels with nobody waiting are
    /// left out).
    #[schema(value_type = Object)]
    pub waiting_by_channel: std::collections::BTreeMap<String, usize>,
    pub callbacks_waiting: usize,
    /// Seconds the oldest waiting contact has waited.
    pub oldest_wait_seconds: Option<u64>,
    pub answered: u64,
    pub abandoned: u64,
    /// Abandons within the queue's short-abandon time (left out of the service level).
    pub abandoned_short: u64,
    /// 0–100, today; empty before the first answer or abandon.
    pub service_level: Option<f64>,
    /// The queue's goal in percent and its threshold in seconds.
    pub service_level_target: i32,
    pub service_level_seconds: i32,
    /// What a contact arriving now would be told, in seconds; empty when nobody can take it.
    pub estimated_wait_seconds: Option<u64>,
    pub average_answer_seconds: Option<u64>,
    pub average_handle_seconds: Option<u64>,
    /// Members by state: `available`, `not_ready`, `reserved`, `busy`, `wrap_up`, `offline`.
    #[schema(value_type = Object)]
    pub agents_by_state: HashMap<String, usize>,
}

/// One agent on the wallboard.
#[derive(Serialize, ToSchema)]
pub struct AgentBoard {
    pub agent_id: i64,
    pub display_name: String,
    pub extension: String,
    /// `offline`, `available`, `not_ready`, `reserved` (an offer is ringing), `busy`, `wrap_up`.
    pub state: String,
    /// The not-ready reason, when not ready.
    pub reason: Option<String>,
    pub seconds_in_state: u64,
    /// Contacts in hand.
    pub contacts: usize,
}

#[derive(Serialize, ToSchema)]
pub struct Wallboard {
    /// Wall time of the figures, ms since 1970.
    pub at_ms: u64,
    pub queues: Vec<QueueBoard>,
    pub agents: Vec<AgentBoard>,
}

pub(crate) fn routing(state: &AppState) -> ApiResult<&AcdLink> {
    state.routing.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "routing_unavailable",
            "routing is not running in this server",
        )
    })
}

pub(crate) fn unavailable(e: hotline_acd::AcdError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "routing_unavailable",
        e.to_string(),
    )
}

fn agent_board(a: &hotline_routing::snapshot::AgentFigures, name: &str, ext: &str) -> AgentBoard {
    use hotline_routing::engine::Presence;
    AgentBoard {
        agent_id: a.agent.0,
        display_name: name.to_string(),
        extension: ext.to_string(),
        state: a.state.as_str().to_string(),
        reason: match &a.presence {
            Presence::NotReady(r) if !r.is_empty() => Some(r.clone()),
            _ => None,
        },
        seconds_in_state: a.time_in_state.as_secs(),
        contacts: a.contacts,
    }
}

fn secs(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_secs())
}

/// The live numbers of the caller's tenant: every queue and every agent, as routing sees them
/// now. Supervisors and admins.
#[utoipa::path(get, path = "/api/v1/wallboard", tag = "desk",
    responses((status = 200, body = Wallboard), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn wallboard(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Wallboard>> {
    auth.require(Role::Supervisor)?;
    Ok(Json(board(&state, auth.tenant_id()).await?))
}

/// One tenant's wallboard (also pushed every second to supervisors' live streams).
pub(crate) async fn board(state: &AppState, t: i64) -> ApiResult<Wallboard> {
    let snapshot = routing(state)?
        .tenant_snapshot(TenantId(t))
        .await
        .map_err(unavailable)?;
    let queues: HashMap<i64, hotline_model::Queue> = state
        .store
        .list_queues(t)
        .await?
        .into_iter()
        .map(|q| (q.id, q))
        .collect();
    let agents: HashMap<i64, hotline_model::Agent> = state
        .store
        .list_agents(t)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let mut board = Wallboard {
        at_ms: snapshot.at.as_millis(),
        queues: Vec::new(),
        agents: Vec::new(),
    };
    for q in &snapshot.queues {
        let Some(stored) = queues.get(&q.queue.0) else {
            continue;
        };
        board.queues.push(QueueBoard {
            queue_id: stored.id,
            name: stored.name.clone(),
            waiting: q.waiting,
            waiting_by_channel: q
                .waiting_by_channel
                .iter()
                .map(|(c, n)| (c.to_string(), *n))
                .collect(),
            callbacks_waiting: q.callbacks_waiting,
            oldest_wait_seconds: secs(q.oldest_wait),
            answered: q.answered,
            abandoned: q.abandoned,
            abandoned_short: q.abandoned_short,
            service_level: q.service_level.map(|s| (s * 1000.0).round() / 10.0),
            service_level_target: stored.service_level_target,
            service_level_seconds: stored.service_level_seconds,
            estimated_wait_seconds: secs(q.estimated_wait.expected),
            average_answer_seconds: q.average_answer_ms.map(|m| m / 1000),
            average_handle_seconds: q.average_handle_ms.map(|m| m / 1000),
            agents_by_state: q
                .agents_by_state
                .iter()
                .map(|(s, n)| (s.as_str().to_string(), *n))
                .collect(),
        });
    }
    board.queues.sort_by(|a, b| a.name.cmp(&b.name));
    for a in &snapshot.agents {
        if let Some(stored) = agents.get(&a.agent.0) {
            board
                .agents
                .push(agent_board(a, &stored.display_name, &stored.extension));
        }
    }
    board
        .agents
        .sort_by(|a, b| a.display_name.cmp(&b.display_name));
    Ok(board)
}

/// The agent as routing sees them now (the workplace's state bar after a reload). Agents see
/// their own; supervisors anyone's in their tenant.
#[utoipa::path(get, path = "/api/v1/agents/{id}/state", tag = "desk", params(("id" = i64, Path)),
    responses((status = 200, body = AgentBoard), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn agent_state(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<AgentBoard>> {
    let agent = state.store.get_agent(auth.tenant_id(), id).await?;
    if agent.user_id != auth.user.id {
        auth.require(Role::Supervisor)?;
    }
    let figures = routing(&state)?
        .agent_figures(AgentId(agent.id))
        .await
        .map_err(unavailable)?;
    Ok(Json(match figures {
        Some(f) => agent_board(&f, &agent.display_name, &agent.extension),
        // Created since routing last read its configuration: nobody has set a presence yet.
        None => AgentBoard {
            agent_id: agent.id,
            display_name: agent.display_name,
            extension: agent.extension,
            state: "offline".into(),
            reason: None,
            seconds_in_state: 0,
            contacts: 0,
        },
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WrapUpAction {
    /// Wrap-up is finished: the agent takes the next contact.
    Done,
    /// More time is needed.
    Extend,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WrapUpRequest {
    /// The contact whose wrap-up this is.
    pub interaction_id: i64,
    pub action: WrapUpAction,
    /// For `extend`: seconds to add, 1 to 600 (default 30).
    pub seconds: Option<u64>,
}

/// Ends or extends the agent's wrap-up of one contact. Ending it is refused with
/// `disposition_required` while the contact's queue asks for a disposition and none is set.
#[utoipa::path(post, path = "/api/v1/agents/{id}/wrap-up", tag = "desk", params(("id" = i64, Path)), request_body = WrapUpRequest,
    responses((status = 204, description = "Routing has it"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`disposition_required`, or routing refused (`routing_refused`)"), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn wrap_up(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<WrapUpRequest>,
) -> ApiResult<StatusCode> {
    let t = auth.tenant_id();
    let agent = state.store.get_agent(t, id).await?;
    if agent.user_id != auth.user.id {
        auth.require(Role::Supervisor)?;
    }
    let interaction = state.store.get_interaction(t, req.interaction_id).await?;
    if interaction.agent_id != Some(agent.id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_this_agents_contact",
            "the interaction is not this agent's",
        ));
    }
    let link = routing(&state)?;
    let input = match req.action {
        WrapUpAction::Done => {
            if interaction.disposition_id.is_none() {
                if let Some(q) = interaction.queue_id {
                    if state.store.get_queue(t, q).await?.disposition_required {
                        return Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "disposition_required",
                            "this queue asks for a disposition before wrap-up ends",
                        ));
                    }
                }
            }
            hotline_acd::Input::WrapUpDone {
                agent: AgentId(agent.id),
                contact: ContactId(interaction.id),
            }
        }
        WrapUpAction::Extend => {
            let seconds = req.seconds.unwrap_or(30);
            if !(1..=600).contains(&seconds) {
                let mut e = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_seconds",
                    "an extension is 1 to 600 seconds",
                );
                e.field = Some("seconds".into());
                return Err(e);
            }
            hotline_acd::Input::WrapUpExtend {
                agent: AgentId(agent.id),
                contact: ContactId(interaction.id),
                extra: Duration::from_secs(seconds),
            }
        }
    };
    match link.input(input).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(hotline_acd::AcdError::Routing(e)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "routing_refused",
            e.to_string(),
        )),
        Err(e) => Err(unavailable(e)),
    }
}

/// The call's recording as WAV (stereo: the customer left, the agent right), for the player
/// in the page; one byte range for seeking. Supervisors, and the agent who handled the call.
#[utoipa::path(get, path = "/api/v1/interactions/{id}/recording", tag = "desk", params(("id" = i64, Path)),
    responses((status = 200, content_type = "audio/wav", description = "The recording"), (status = 206, content_type = "audio/wav", description = "The byte range asked for with `Range: bytes=…` (one range)"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 416, body = ErrorBody, description = "The range lies past the end"), (status = 400, body = ErrorBody)))]
pub async fn recording(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let t = auth.tenant_id();
    let interaction = state.store.get_interaction(t, id).await?;
    if !auth.user.role.at_least(Role::Supervisor) {
        let mine = state
            .store
            .get_agent_by_user(t, auth.user.id)
            .await
            .ok()
            .map(|a| a.id);
        if mine.is_none() || mine != interaction.agent_id {
            return Err(ApiError::forbidden());
        }
    }
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_recording",
            "this interaction has no recording",
        )
    };
    let (Some(reference), Some(root)) = (interaction.recording_ref, state.recordings.as_ref())
    else {
        return Err(missing());
    };
    // The reference is data (an admin may edit it): only files under the recordings folder
    // are served, whatever it says.
    let (Ok(root), Ok(path)) = (
        tokio::fs::canonicalize(root).await,
        tokio::fs::canonicalize(&reference).await,
    ) else {
        return Err(missing());
    };
    if !path.starts_with(&root) || path.extension().is_none_or(|e| e != "wav") {
        tracing::warn!(
            interaction = id,
            "a recording reference outside the recordings folder was not served"
        );
        return Err(missing());
    }
    // An hour's stereo recording is over 100 MB: it is sent as it is read, not held whole.
    // The player seeks with a byte range (RFC 9110 §14): one range is served as 206.
    use tokio::io::AsyncSeekExt;
    let mut file = tokio::fs::File::open(&path).await.map_err(|_| missing())?;
    let length = file.metadata().await.map_err(|_| missing())?.len();
    let asked = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| byte_range(v, length));
    let (status, start, end) = match asked {
        None => (StatusCode::OK, 0, length),
        Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b + 1),
        Some(Err(())) => {
            let mut e = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the recording has {length} bytes"),
            )
            .into_response();
            if let Ok(v) = format!("bytes */{length}").parse() {
                e.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(e);
        }
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|_| missing())?;
    }
    let chunks = file_chunks(file, end - start);
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "audio/wav".to_string()),
            (header::CONTENT_LENGTH, (end - start).to_string()),
            (header::ACCEPT_RANGES, "bytes".to_string()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
        ],
        Body::from_stream(chunks),
    )
        .into_response();
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = format!("bytes {start}-{}/{length}", end - 1).parse() {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

/// Up to `len` bytes of a file from where it stands, in 64 KiB chunks, never read whole.
pub(crate) fn file_chunks(
    file: tokio::fs::File,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<axum::body::Bytes>> {
    use tokio::io::AsyncReadExt;
    futures_util::stream::try_unfold(
        (file.take(len), vec![0u8; 64 * 1024]),
        |(mut file, mut buf)| async move {
            let n = file.read(&mut buf).await?;
            let chunk = axum::body::Bytes::copy_from_slice(&buf[..n]);
            Ok::<_, std::io::Error>((n > 0).then_some((chunk, (file, buf))))
        },
    )
}

/// One byte range of a `Range` header for a resource of `length` bytes: `None` to serve the
/// whole (no usable range: another unit, several ranges, nonsense, which RFC 9110 lets a
/// server ignore), `Err` when the range lies past the end (416), else the first and last byte.
fn byte_range(header: &str, length: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit());
    match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) if digits(b) => {
            let n: u64 = b.parse().ok()?;
            if n == 0 || length == 0 {
                return Some(Err(()));
            }
            Some(Ok((length.saturating_sub(n), length - 1)))
        }
        (false, _) if digits(a) && (b.is_empty() || digits(b)) => {
            let first: u64 = a.parse().ok()?;
            let last = if b.is_empty() {
                u64::MAX
            } else {
                b.parse::<u64>().ok()?
            };
            if last < first || length == 0 {
                return None;
            }
            if first >= length {
                return Some(Err(()));
            }
            Some(Ok((first, last.min(length - 1))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn byte_ranges_as_rfc_9110_reads_them() {
        assert_eq!(byte_range("bytes=0-99", 1000), Some(Ok((0, 99))));
        assert_eq!(byte_range("bytes=500-", 1000), Some(Ok((500, 999))));
        assert_eq!(byte_range("bytes=-100", 1000), Some(Ok((900, 999))));
        assert_eq!(byte_range("bytes=-5000", 1000), Some(Ok((0, 999))));
        assert_eq!(byte_range("bytes=900-5000", 1000), Some(Ok((900, 999))));
        assert_eq!(byte_range("bytes=1000-", 1000), Some(Err(())));
        assert_eq!(byte_range("bytes=-0", 1000), Some(Err(())));
        // Ignored: the whole is served.
        for h in [
            "items=0-1",
            "bytes=5-1",
            "bytes=0-1,5-9",
            "bytes=a-b",
            "bytes=-",
            "bytes=99999999999999999999-",
            "",
            "bytes=0-99999999999999999999",
        ] {
            assert_eq!(byte_range(h, 1000), None, "{h:?}");
        }
        assert_eq!(byte_range("bytes=0-", 0), None);
    }
}
