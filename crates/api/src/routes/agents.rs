//! Agents: extension, skills, SIP password (write-only).

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use crate::events::LiveEvent;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use hotline_model::{Agent, Role, Skill};
use hotline_routing::engine::Presence;
use hotline_routing::{AgentId, RoutingError};
use hotline_store::{AgentPatch, NewAgent};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentCreate {
    /// The user who works as this agent.
    pub user_id: i64,
    /// 2 to 8 digits; the SIP user name of the agent's phone.
    pub extension: String,
    #[serde(default)]
    pub skills: Vec<Skill>,
    /// Password the agent's phone registers with (8 to 128 characters). Never shown again.
    pub sip_password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentUpdate {
    pub extension: Option<String>,
    /// Replaces the agent's skills.
    pub skills: Option<Vec<Skill>>,
    pub sip_password: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses((status = 200, body = Vec<Agent>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Agent>>> {
    Ok(Json(state.store.list_agents(auth.tenant_id()).await?))
}

#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = AgentCreate,
    responses((status = 201, body = Agent), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<AgentCreate>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    auth.require(Role::Admin)?;
    let new = NewAgent {
        user_id: req.user_id,
        extension: req.extension,
        skills: req.skills,
        sip_password: req.sip_password,
    };
    let agent = state.store.create_agent(auth.tenant_id(), &new).await?;
    state.reload_routing().await;
    state.publish(LiveEvent::new(
        auth.tenant_id(),
        Some(agent.id),
        "agent.updated",
        &agent,
    ));
    Ok((StatusCode::CREATED, Json(agent)))
}

#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = i64, Path)),
    responses((status = 200, body = Agent), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Agent>> {
    Ok(Json(state.store.get_agent(auth.tenant_id(), id).await?))
}

/// Supervisors may change skills; extension and SIP password are the admin's.
#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = i64, Path)), request_body = AgentUpdate,
    responses((status = 200, body = Agent), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<AgentUpdate>,
) -> ApiResult<Json<Agent>> {
    auth.require(Role::Supervisor)?;
    if req.extension.is_some() || req.sip_password.is_some() {
        auth.require(Role::Admin)?;
    }
    let patch = AgentPatch {
        extension: req.extension,
        skills: req.skills,
        sip_password: req.sip_password,
    };
    let agent = state
        .store
        .update_agent(auth.tenant_id(), id, &patch)
        .await?;
    state.reload_routing().await;
    state.publish(LiveEvent::new(
        auth.tenant_id(),
        Some(agent.id),
        "agent.updated",
        &agent,
    ));
    Ok(Json(agent))
}

#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Interactions refer to the agent"), (status = 400, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    state.store.delete_agent(auth.tenant_id(), id).await?;
    state.reload_routing().await;
    Ok(StatusCode::NO_CONTENT)
}

/// What an agent says about themselves.
#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceKind {
    Available,
    NotReady,
    Offline,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceUpdate {
    pub presence: PresenceKind,
    /// Why not ready (lunch, training); up to 64 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(serde::Serialize, ToSchema)]
pub struct PresenceState {
    pub agent_id: i64,
    pub presence: PresenceKind,
    pub reason: Option<String>,
}

/// Sets an agent's presence in routing: `available` takes contacts, `not_ready` keeps the
/// agent logged in without new ones, `offline` logs out. Agents set their own; supervisors
/// anyone's in their tenant.
#[utoipa::path(put, path = "/api/v1/agents/{id}/presence", tag = "agents", params(("id" = i64, Path)), request_body = PresenceUpdate,
    responses((status = 200, body = PresenceState), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn presence(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<PresenceUpdate>,
) -> ApiResult<Json<PresenceState>> {
    let agent = state.store.get_agent(auth.tenant_id(), id).await?;
    if agent.user_id != auth.user.id {
        auth.require(Role::Supervisor)?;
    }
    let reason = req
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 64 || r.chars().any(char::is_control))
    {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_reason",
            "a not-ready reason is at most 64 characters, without control characters",
        );
        e.field = Some("reason".into());
        return Err(e);
    }
    let Some(routing) = state.routing.as_ref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "routing_unavailable",
            "routing is not running in this server",
        ));
    };
    let presence = match req.presence {
        PresenceKind::Available => Presence::Available,
        PresenceKind::NotReady => Presence::NotReady(reason.clone().unwrap_or_default()),
        PresenceKind::Offline => Presence::Offline,
    };
    let input = || hotline_acd::Input::Presence {
        agent: AgentId(agent.id),
        presence: presence.clone(),
    };
    let mut result = routing.input(input()).await;
    if matches!(
        result,
        Err(hotline_acd::AcdError::Routing(RoutingError::UnknownAgent(
            _
        )))
    ) {
        // An agent created since routing last read its configuration.
        if routing.reload().await.is_ok() {
            result = routing.input(input()).await;
        }
    }
    match result {
        Ok(()) => {}
        Err(hotline_acd::AcdError::Routing(e)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "routing_refused",
                e.to_string(),
            ))
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "routing_unavailable",
                e.to_string(),
            ))
        }
    }
    let out = PresenceState {
        agent_id: agent.id,
        presence: req.presence,
        reason: if req.presence == PresenceKind::NotReady {
            reason
        } else {
            None
        },
    };
    state.publish(LiveEvent::new(
        auth.tenant_id(),
        Some(agent.id),
        "agent.presence",
        &out,
    ));
    Ok(Json(out))
}
