//! The dial plan: carriers' trunks, numbers (DIDs) and outbound routes. Admins only; the SIP
//! service reads changes within a few seconds. Trunk passwords are write-only.

use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use hotline_model::Role;
use hotline_store::dialplan::{NewSipTrunk, SipNumber, SipRoute, SipTrunk};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Trunk {
    pub id: i64,
    pub name: String,
    /// The carrier's IP address or host name: calls from it are the trunk's.
    pub host: String,
    pub port: i64,
    /// `udp` or `tcp`.
    pub transport: String,
    pub username: Option<String>,
    /// Whether a password is set (it is never shown).
    pub has_password: bool,
    /// Whether Hotline registers with the carrier.
    pub register: bool,
}

impl From<SipTrunk> for Trunk {
    fn from(t: SipTrunk) -> Trunk {
        Trunk {
            id: t.id,
            name: t.name,
            host: t.host,
            port: t.port,
            transport: t.transport,
            username: t.username,
            has_password: t.password.is_some(),
            register: t.register,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkCreate {
    /// 1 to 100 characters, unique in the tenant.
    pub name: String,
    pub host: String,
    /// Default 5060.
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    /// `udp` (default) or `tcp`.
    pub transport: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Register with the carrier (needs username and password).
    #[serde(default)]
    pub register: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Number {
    pub id: i64,
    pub number: String,
    /// `extension`, `trunk`, `service` or `flow`.
    pub kind: String,
    /// The extension, the trunk's name, the service (`test`: the test line) or the flow's name.
    pub target: String,
}

impl From<SipNumber> for Number {
    fn from(n: SipNumber) -> Number {
        Number {
            id: n.id,
            number: n.number,
            kind: n.kind,
            target: n.target,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberCreate {
    /// Digits, `+`, `*` or `#`; at most 32.
    pub number: String,
    /// `extension`, `trunk`, `service` or `flow`.
    pub kind: String,
    pub target: String,
}

#[derive(Serialize, ToSchema)]
pub struct Route {
    pub id: i64,
    /// The longest matching prefix of the dialled number wins.
    pub prefix: String,
    pub trunk_id: i64,
    /// Leading digits removed.
    pub strip: i64,
    /// Put in front of what is left.
    pub prepend: String,
}

impl From<SipRoute> for Route {
    fn from(r: SipRoute) -> Route {
        Route {
            id: r.id,
            prefix: r.prefix,
            trunk_id: r.trunk_id,
            strip: r.strip,
            prepend: r.prepend,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteCreate {
    pub prefix: String,
    pub trunk_id: i64,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 32)]
    pub strip: u8,
    #[serde(default)]
    pub prepend: String,
}

#[utoipa::path(get, path = "/api/v1/sip/trunks", tag = "telephony",
    responses((status = 200, body = Vec<Trunk>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_trunks(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Trunk>>> {
    auth.require(Role::Admin)?;
    let trunks = state.store.list_trunks(auth.tenant_id()).await?;
    Ok(Json(trunks.into_iter().map(Trunk::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/sip/trunks", tag = "telephony", request_body = TrunkCreate,
    responses((status = 201, body = Trunk), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create_trunk(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<TrunkCreate>,
) -> ApiResult<(StatusCode, Json<Trunk>)> {
    auth.require(Role::Admin)?;
    let new = NewSipTrunk {
        name: req.name,
        host: req.host,
        port: req.port.unwrap_or(5060),
        transport: req.transport.unwrap_or_else(|| "udp".into()),
        username: req.username,
        password: req.password,
        register: req.register,
    };
    let t = state.store.create_trunk(auth.tenant_id(), &new).await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

#[utoipa::path(delete, path = "/api/v1/sip/trunks/{id}", tag = "telephony", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_trunk(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    state.store.delete_trunk(auth.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/sip/numbers", tag = "telephony",
    responses((status = 200, body = Vec<Number>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_numbers(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<Number>>> {
    auth.require(Role::Admin)?;
    let numbers = state.store.list_numbers(auth.tenant_id()).await?;
    Ok(Json(numbers.into_iter().map(Number::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/sip/numbers", tag = "telephony", request_body = NumberCreate,
    responses((status = 201, body = Number), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create_number(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<NumberCreate>,
) -> ApiResult<(StatusCode, Json<Number>)> {
    auth.require(Role::Admin)?;
    let n = state
        .store
        .create_number(auth.tenant_id(), &req.number, &req.kind, &req.target)
        .await?;
    Ok((StatusCode::CREATED, Json(n.into())))
}

#[utoipa::path(delete, path = "/api/v1/sip/numbers/{id}", tag = "telephony", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_number(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    state.store.delete_number(auth.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/sip/routes", tag = "telephony",
    responses((status = 200, body = Vec<Route>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_routes(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Route>>> {
    auth.require(Role::Admin)?;
    let routes = state.store.list_routes(auth.tenant_id()).await?;
    Ok(Json(routes.into_iter().map(Route::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/sip/routes", tag = "telephony", request_body = RouteCreate,
    responses((status = 201, body = Route), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create_route(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<RouteCreate>,
) -> ApiResult<(StatusCode, Json<Route>)> {
    auth.require(Role::Admin)?;
    let r = state
        .store
        .create_route(
            auth.tenant_id(),
            &req.prefix,
            req.trunk_id,
            req.strip,
            &req.prepend,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

#[utoipa::path(delete, path = "/api/v1/sip/routes/{id}", tag = "telephony", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_route(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    state.store.delete_route(auth.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
