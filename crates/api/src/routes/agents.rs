//! Agents: extension, skills, SIP password (write-only).

use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody, Json, Path};
use crate::events::LiveEvent;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use hotline_model::{Agent, Role, Skill};
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
    Ok(StatusCode::NO_CONTENT)
}
