//! Contact flows (YAML, versioned: every save is a new version and new calls take it within a
//! few seconds), the tenant's calendars file, and built-in lookup tables. A flow or calendars
//! file is checked before it is saved; every problem comes back with its line and column.

use std::collections::{BTreeMap, BTreeSet};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Path, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use hotline_flow::{load_calendars, load_flow, Diagnostics, Known};
use hotline_model::Role;
use hotline_store::flows::{valid_flow_name, FlowVersion};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// The largest flow or calendars file taken.
const MAX_SOURCE: usize = hotline_flow::load::MAX_SOURCE;

#[derive(Serialize, ToSchema)]
pub struct FlowOut {
    pub name: String,
    pub version: i64,
    /// When this version was saved (RFC 3339).
    pub created_at: String,
    /// The YAML as saved.
    pub source: String,
}

#[derive(Serialize, ToSchema)]
pub struct FlowSummary {
    pub name: String,
    pub version: i64,
    pub created_at: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowSource {
    /// The flow's YAML (at most 1 MiB).
    pub source: String,
}

#[derive(Serialize, ToSchema)]
pub struct CheckResult {
    pub valid: bool,
    pub problems: Vec<Problem>,
}

#[derive(Deserialize, IntoParams)]
pub struct VersionQuery {
    /// A saved version; the newest when absent.
    pub version: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CalendarsOut {
    pub source: String,
    pub updated_at: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupRows {
    /// Rows by key, each a JSON object whose fields a flow reads as `<into>.<field>`.
    #[schema(value_type = Object)]
    pub rows: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct LookupWritten {
    pub rows: u64,
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn out(f: FlowVersion) -> FlowOut {
    FlowOut {
        name: f.name,
        version: f.version,
        created_at: rfc3339(f.created_at),
        source: f.source,
    }
}

fn problems(d: Diagnostics) -> Vec<Problem> {
    d.0.into_iter()
        .map(|d| Problem {
            file: d.file,
            line: d.line,
            column: d.column,
            message: d.message,
        })
        .collect()
}

fn invalid(code: &'static str, what: &str, p: Vec<Problem>) -> ApiError {
    let first = p
        .first()
        .map(|p| format!("{}:{}: {}", p.line, p.column, p.message));
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        format!(
            "the {what} has {} problem{}{}",
            p.len(),
            if p.len() == 1 { "" } else { "s" },
            first
                .map(|f| format!("; the first: {f}"))
                .unwrap_or_default()
        ),
    );
    e.problems = Some(p);
    e
}

fn check_name(name: &str) -> ApiResult<()> {
    if valid_flow_name(name) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "a flow's name is letters, digits, '-', '_' or '.', 1–64",
        ))
    }
}

/// What the tenant's flows may name: its queues and its calendars.
async fn known(state: &AppState, tenant_id: i64) -> ApiResult<Known> {
    let queues: BTreeSet<String> = state
        .store
        .list_queues(tenant_id)
        .await?
        .into_iter()
        .map(|q| q.name)
        .collect();
    let tenant = state.store.get_tenant(tenant_id).await?;
    let calendars = match state.store.calendars(tenant_id).await? {
        Some(c) => load_calendars("calendars.yaml", &c.source, &tenant.timezone)
            .map(|cals| cals.into_iter().map(|c| c.name).collect())
            .unwrap_or_default(),
        None => BTreeSet::new(),
    };
    Ok(Known {
        queues: Some(queues),
        calendars: Some(calendars),
    })
}

fn too_large(source: &str) -> ApiResult<()> {
    if source.len() > MAX_SOURCE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "a flow or calendars file is at most 1 MiB",
        ));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/flows", tag = "flows",
    responses((status = 200, body = Vec<FlowSummary>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<FlowSummary>>> {
    auth.require(Role::Supervisor)?;
    let flows = state.store.latest_flows(Some(auth.tenant_id())).await?;
    Ok(Json(
        flows
            .into_iter()
            .map(|f| FlowSummary {
                name: f.name,
                version: f.version,
                created_at: rfc3339(f.created_at),
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/flows/{name}", tag = "flows", params(("name" = String, Path), VersionQuery),
    responses((status = 200, body = FlowOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    crate::error::Query(q): crate::error::Query<VersionQuery>,
) -> ApiResult<Json<FlowOut>> {
    auth.require(Role::Supervisor)?;
    let f = state.store.flow(auth.tenant_id(), &name, q.version).await?;
    Ok(Json(out(f)))
}

#[utoipa::path(get, path = "/api/v1/flows/{name}/versions", tag = "flows", params(("name" = String, Path)),
    responses((status = 200, body = Vec<FlowSummary>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<FlowSummary>>> {
    auth.require(Role::Supervisor)?;
    let v = state.store.flow_versions(auth.tenant_id(), &name).await?;
    Ok(Json(
        v.into_iter()
            .map(|f| FlowSummary {
                name: f.name,
                version: f.version,
                created_at: rfc3339(f.created_at),
            })
            .collect(),
    ))
}

#[utoipa::path(put, path = "/api/v1/flows/{name}", tag = "flows", params(("name" = String, Path)), request_body = FlowSource,
    responses((status = 200, body = FlowOut, description = "saved as a new version"), (status = 422, body = ErrorBody, description = "`flow_invalid`: `problems` lists each with its line"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Json(req): Json<FlowSource>,
) -> ApiResult<Json<FlowOut>> {
    auth.require(Role::Admin)?;
    check_name(&name)?;
    too_large(&req.source)?;
    let known = known(&state, auth.tenant_id()).await?;
    let flow = load_flow(&format!("{name}.yaml"), &req.source, &known)
        .map_err(|d| invalid("flow_invalid", "flow", problems(d)))?;
    if flow.name != name {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "flow_name_mismatch",
            format!("the file says `flow: {}` but is saved as {name}", flow.name),
        ));
    }
    let f = state
        .store
        .save_flow(auth.tenant_id(), &name, &req.source)
        .await?;
    tracing::info!(flow = %name, version = f.version, by = %auth.actor(), "flow saved");
    Ok(Json(out(f)))
}

#[utoipa::path(post, path = "/api/v1/flows/check", tag = "flows", request_body = FlowSource,
    responses((status = 200, body = CheckResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn check(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<FlowSource>,
) -> ApiResult<Json<CheckResult>> {
    auth.require(Role::Supervisor)?;
    too_large(&req.source)?;
    let known = known(&state, auth.tenant_id()).await?;
    let problems = match load_flow("flow.yaml", &req.source, &known) {
        Ok(_) => Vec::new(),
        Err(d) => problems(d),
    };
    Ok(Json(CheckResult {
        valid: problems.is_empty(),
        problems,
    }))
}

#[utoipa::path(get, path = "/api/v1/calendars", tag = "flows",
    responses((status = 200, body = CalendarsOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_calendars(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<CalendarsOut>> {
    auth.require(Role::Supervisor)?;
    let c = state
        .store
        .calendars(auth.tenant_id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(CalendarsOut {
        source: c.source,
        updated_at: rfc3339(c.updated_at),
    }))
}

#[utoipa::path(put, path = "/api/v1/calendars", tag = "flows", request_body = FlowSource,
    responses((status = 200, body = CalendarsOut), (status = 422, body = ErrorBody, description = "`calendars_invalid`: `problems` lists each with its line"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn put_calendars(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<FlowSource>,
) -> ApiResult<Json<CalendarsOut>> {
    auth.require(Role::Admin)?;
    too_large(&req.source)?;
    let tenant = state.store.get_tenant(auth.tenant_id()).await?;
    load_calendars("calendars.yaml", &req.source, &tenant.timezone)
        .map_err(|d| invalid("calendars_invalid", "calendars file", problems(d)))?;
    let c = state
        .store
        .set_calendars(auth.tenant_id(), &req.source)
        .await?;
    Ok(Json(CalendarsOut {
        source: c.source,
        updated_at: rfc3339(c.updated_at),
    }))
}

#[utoipa::path(put, path = "/api/v1/lookup-tables/{table}", tag = "flows", params(("table" = String, Path)), request_body = LookupRows,
    responses((status = 200, body = LookupWritten), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn put_rows(
    State(state): State<AppState>,
    auth: Auth,
    Path(table): Path<String>,
    Json(req): Json<LookupRows>,
) -> ApiResult<Json<LookupWritten>> {
    auth.require(Role::Admin)?;
    if req.rows.len() > 10_000 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "at most 10,000 rows a request",
        ));
    }
    let rows: Vec<(String, serde_json::Value)> = req.rows.into_iter().collect();
    let n = state
        .store
        .put_lookup_rows(auth.tenant_id(), &table, &rows)
        .await?;
    Ok(Json(LookupWritten { rows: n }))
}

#[utoipa::path(get, path = "/api/v1/lookup-tables/{table}/{key}", tag = "flows", params(("table" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_row(
    State(state): State<AppState>,
    auth: Auth,
    Path((table, key)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Supervisor)?;
    let row = state
        .store
        .lookup_row(auth.tenant_id(), &table, &key)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(row))
}
