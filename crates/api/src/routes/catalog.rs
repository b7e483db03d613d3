//! Queues, dispositions and scripts. Everyone in the tenant reads them; admins change them.

use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody, Json, Path, Query};
use crate::routes::double_option;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use hotline_model::{Channel, Disposition, Queue, Role, Script};
use hotline_store::{
    DispositionPatch, NewDisposition, NewQueue, NewScript, QueuePatch, ScriptPatch,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueCreate {
    pub name: String,
    pub channels: Vec<Channel>,
    /// Seconds, 1 to 86400 (default 20).
    #[serde(default = "default_sl_seconds")]
    pub service_level_seconds: i32,
    /// Percent, 1 to 100 (default 80).
    #[serde(default = "default_sl_target")]
    pub service_level_target: i32,
    /// -1000 to 1000 (default 0).
    #[serde(default)]
    pub priority: i32,
    /// Seconds, 0 to 3600 (default 0).
    #[serde(default)]
    pub wrap_up_seconds: i32,
    #[serde(default)]
    pub disposition_required: bool,
}

fn default_sl_seconds() -> i32 {
    20
}
fn default_sl_target() -> i32 {
    80
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueUpdate {
    pub name: Option<String>,
    pub channels: Option<Vec<Channel>>,
    pub service_level_seconds: Option<i32>,
    pub service_level_target: Option<i32>,
    pub priority: Option<i32>,
    pub wrap_up_seconds: Option<i32>,
    pub disposition_required: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/queues", tag = "catalog",
    responses((status = 200, body = Vec<Queue>), (status = 401, body = ErrorBody)))]
pub async fn list_queues(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Queue>>> {
    Ok(Json(state.store.list_queues(auth.tenant_id()).await?))
}

#[utoipa::path(post, path = "/api/v1/queues", tag = "catalog", request_body = QueueCreate,
    responses((status = 201, body = Queue), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create_queue(
    State(state): State<AppState>,
    auth: Auth,
    Json(r): Json<QueueCreate>,
) -> ApiResult<(StatusCode, Json<Queue>)> {
    auth.require(Role::Admin)?;
    let new = NewQueue {
        name: r.name,
        channels: r.channels,
        service_level_seconds: r.service_level_seconds,
        service_level_target: r.service_level_target,
        priority: r.priority,
        wrap_up_seconds: r.wrap_up_seconds,
        disposition_required: r.disposition_required,
    };
    let queue = state.store.create_queue(auth.tenant_id(), &new).await?;
    state.reload_routing().await;
    Ok((StatusCode::CREATED, Json(queue)))
}

#[utoipa::path(get, path = "/api/v1/queues/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 200, body = Queue), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_queue(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Queue>> {
    Ok(Json(state.store.get_queue(auth.tenant_id(), id).await?))
}

#[utoipa::path(patch, path = "/api/v1/queues/{id}", tag = "catalog", params(("id" = i64, Path)), request_body = QueueUpdate,
    responses((status = 200, body = Queue), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn update_queue(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(r): Json<QueueUpdate>,
) -> ApiResult<Json<Queue>> {
    auth.require(Role::Admin)?;
    let patch = QueuePatch {
        name: r.name,
        channels: r.channels,
        service_level_seconds: r.service_level_seconds,
        service_level_target: r.service_level_target,
        priority: r.priority,
        wrap_up_seconds: r.wrap_up_seconds,
        disposition_required: r.disposition_required,
    };
    let queue = state
        .store
        .update_queue(auth.tenant_id(), id, &patch)
        .await?;
    state.reload_routing().await;
    Ok(Json(queue))
}

#[utoipa::path(delete, path = "/api/v1/queues/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_queue(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    state.store.delete_queue(auth.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionCreate {
    /// Stable machine code: a-z, 0-9, '_', '.', '-'.
    pub code: String,
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionUpdate {
    pub name: Option<String>,
    pub active: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/dispositions", tag = "catalog",
    responses((status = 200, body = Vec<Disposition>), (status = 401, body = ErrorBody)))]
pub async fn list_dispositions(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<Disposition>>> {
    Ok(Json(state.store.list_dispositions(auth.tenant_id()).await?))
}

#[utoipa::path(post, path = "/api/v1/dispositions", tag = "catalog", request_body = DispositionCreate,
    responses((status = 201, body = Disposition), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create_disposition(
    State(state): State<AppState>,
    auth: Auth,
    Json(r): Json<DispositionCreate>,
) -> ApiResult<(StatusCode, Json<Disposition>)> {
    auth.require(Role::Admin)?;
    let new = NewDisposition {
        code: r.code,
        name: r.name,
        active: r.active,
    };
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .create_disposition(auth.tenant_id(), &new)
                .await?,
        ),
    ))
}

#[utoipa::path(patch, path = "/api/v1/dispositions/{id}", tag = "catalog", params(("id" = i64, Path)), request_body = DispositionUpdate,
    responses((status = 200, body = Disposition), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn update_disposition(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(r): Json<DispositionUpdate>,
) -> ApiResult<Json<Disposition>> {
    auth.require(Role::Admin)?;
    let patch = DispositionPatch {
        name: r.name,
        active: r.active,
    };
    Ok(Json(
        state
            .store
            .update_disposition(auth.tenant_id(), id, &patch)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/dispositions/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "In use; deactivate instead"), (status = 400, body = ErrorBody)))]
pub async fn delete_disposition(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    state.store.delete_disposition(auth.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptCreate {
    pub queue_id: Option<i64>,
    pub title: String,
    /// Markdown, at most 256 KiB.
    #[serde(default)]
    pub body_markdown: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptUpdate {
    /// `null` detaches the script from its queue.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub queue_id: Option<Option<i64>>,
    pub title: Option<String>,
    pub body_markdown: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScriptFilter {
    /// Only the scripts of this queue.
    pub queue_id: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/scripts", tag = "catalog", params(ScriptFilter),
    responses((status = 200, body = Vec<Script>), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn list_scripts(
    State(state): State<AppState>,
    auth: Auth,
    Query(f): Query<ScriptFilter>,
) -> ApiResult<Json<Vec<Script>>> {
    Ok(Json(
        state
            .store
            .list_scripts(auth.tenant_id(), f.queue_id)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/scripts", tag = "catalog", request_body = ScriptCreate,
    responses((status = 201, body = Script), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create_script(
    State(state): State<AppState>,
    auth: Auth,
    Json(r): Json<ScriptCreate>,
) -> ApiResult<(StatusCode, Json<Script>)> {
    auth.require(Role::Admin)?;
    let new = NewScript {
        queue_id: r.queue_id,
        title: r.title,
        body_markdown: r.body_markdown,
    };
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_script(auth.tenant_id(), &new).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/scripts/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 200, body = Script), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_script(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Script>> {
    Ok(Json(state.store.get_script(auth.tenant_id(), id).await?))
}

#[utoipa::path(patch, path = "/api/v1/scripts/{id}", tag = "catalog", params(("id" = i64, Path)), request_body = ScriptUpdate,
    responses((status = 200, body = Script), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn update_script(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(r): Json<ScriptUpdate>,
) -> ApiResult<Json<Script>> {
    auth.require(Role::Admin)?;
    let patch = ScriptPatch {
        queue_id: r.queue_id,
        title: r.title,
        body_markdown: r.body_markdown,
    };
    Ok(Json(
        state
            .store
            .update_script(auth.tenant_id(), id, &patch)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/scripts/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_script(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    state.store.delete_script(auth.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
