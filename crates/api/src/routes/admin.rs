//! The tenant's settings, its users, and API tokens for integrations.

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use hotline_model::{ApiToken, Role, Tenant, User};
use hotline_store::{NewUser, TenantPatch, UserPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    pub name: Option<String>,
    /// ISO 3166 region for reading national phone numbers, e.g. `RU`.
    pub default_region: Option<String>,
    pub timezone: Option<String>,
}

impl From<TenantUpdate> for TenantPatch {
    fn from(req: TenantUpdate) -> Self {
        TenantPatch {
            name: req.name,
            default_region: req.default_region,
            timezone: req.timezone,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/tenant", tag = "admin",
    responses((status = 200, body = Tenant), (status = 401, body = ErrorBody)))]
pub async fn get_tenant(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Tenant>> {
    Ok(Json(state.store.get_tenant(auth.tenant_id()).await?))
}

#[utoipa::path(patch, path = "/api/v1/tenant", tag = "admin", request_body = TenantUpdate,
    responses((status = 200, body = Tenant), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn update_tenant(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<TenantUpdate>,
) -> ApiResult<Json<Tenant>> {
    auth.require(Role::Admin)?;
    Ok(Json(
        state
            .store
            .update_tenant(auth.tenant_id(), &req.into())
            .await?,
    ))
}

/// A client company with its size, for the operator's list.
#[derive(Serialize, ToSchema)]
pub struct TenantSummary {
    pub tenant: Tenant,
    pub users: i64,
    pub agents: i64,
    pub queues: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    pub name: String,
    /// Short machine name, unique: letters, digits, `-`, `_`.
    pub slug: String,
    /// ISO 3166 region for reading national phone numbers, e.g. `RU`.
    pub default_region: String,
    /// IANA time zone, e.g. `Europe/Moscow`.
    pub timezone: String,
    /// The client company's first administrator (who sets up its users, queues, numbers).
    pub admin: TenantAdmin,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantAdmin {
    pub username: String,
    pub display_name: String,
    /// 8 to 128 characters.
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct TenantCreated {
    pub tenant: Tenant,
    pub admin: User,
}

/// Only the operator's (the outsourcing centre's) administrators manage tenants.
async fn require_operator(state: &AppState, auth: &Auth) -> ApiResult<()> {
    auth.require(Role::Admin)?;
    if state.store.get_tenant(auth.tenant_id()).await?.operator {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "operator_only",
            "only the operator's administrators manage tenants",
        ))
    }
}

/// Every tenant of the installation with its size: the operator's administrators only.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "admin",
    responses((status = 200, body = Vec<TenantSummary>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tenants(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<TenantSummary>>> {
    require_operator(&state, &auth).await?;
    let sizes = state.store.tenant_sizes().await?;
    let list = state
        .store
        .list_tenants()
        .await?
        .into_iter()
        .map(|tenant| {
            let [users, agents, queues] = sizes.get(&tenant.id).copied().unwrap_or([0; 3]);
            TenantSummary {
                tenant,
                users,
                agents,
                queues,
            }
        })
        .collect();
    Ok(Json(list))
}

/// A new client company with its first administrator, who logs in and sets it up. The
/// operator's administrators only.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "admin", request_body = TenantCreate,
    responses((status = 201, body = TenantCreated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create_tenant(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<TenantCreate>,
) -> ApiResult<(StatusCode, Json<TenantCreated>)> {
    require_operator(&state, &auth).await?;
    let (tenant, admin) = state
        .store
        .create_tenant_with_admin(
            &hotline_store::NewTenant {
                name: req.name,
                slug: req.slug,
                default_region: req.default_region,
                timezone: req.timezone,
            },
            &NewUser {
                username: req.admin.username,
                display_name: req.admin.display_name,
                role: Role::Admin,
                password: req.admin.password,
            },
        )
        .await?;
    tracing::info!(tenant_id = tenant.id, by = auth.user.id, "tenant created");
    state.reload_routing().await;
    Ok((StatusCode::CREATED, Json(TenantCreated { tenant, admin })))
}

/// Changes a tenant's name, region or time zone. The operator's administrators only.
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "admin", params(("id" = i64, Path)), request_body = TenantUpdate,
    responses((status = 200, body = Tenant), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn update_any_tenant(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<TenantUpdate>,
) -> ApiResult<Json<Tenant>> {
    require_operator(&state, &auth).await?;
    Ok(Json(state.store.update_tenant(id, &req.into()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// 8 to 128 characters.
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    /// Deactivating ends the user's sessions.
    pub active: Option<bool>,
    /// Setting a password ends the user's sessions.
    pub password: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, body = Vec<User>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<User>>> {
    auth.require(Role::Supervisor)?;
    Ok(Json(state.store.list_users(auth.tenant_id()).await?))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = UserCreate,
    responses((status = 201, body = User), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<UserCreate>,
) -> ApiResult<(StatusCode, Json<User>)> {
    auth.require(Role::Admin)?;
    let new = NewUser {
        username: req.username,
        display_name: req.display_name,
        role: req.role,
        password: req.password,
    };
    let user = state.store.create_user(auth.tenant_id(), &new).await?;
    tracing::info!(user_id = user.id, by = auth.user.id, "user created");
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<User>> {
    auth.require(Role::Supervisor)?;
    Ok(Json(state.store.get_user(auth.tenant_id(), id).await?))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "admin", params(("id" = i64, Path)), request_body = UserUpdate,
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<UserUpdate>,
) -> ApiResult<Json<User>> {
    auth.require(Role::Admin)?;
    if id == auth.user.id
        && (req.active == Some(false) || req.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cannot_demote_self",
            "an admin cannot deactivate or demote themselves",
        ));
    }
    let patch = UserPatch {
        display_name: req.display_name,
        role: req.role,
        active: req.active,
        password: req.password,
    };
    Ok(Json(
        state
            .store
            .update_user(auth.tenant_id(), id, &patch)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// What the token is for, e.g. "CRM sync".
    pub name: String,
    /// The user whose role the token acts with; the caller when absent.
    pub user_id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    pub token: ApiToken,
    /// The secret, shown once; send it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin",
    responses((status = 200, body = Vec<ApiToken>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<ApiToken>>> {
    auth.require(Role::Admin)?;
    Ok(Json(state.store.list_api_tokens(auth.tenant_id()).await?))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = TokenCreate,
    responses((status = 201, body = TokenCreated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<TokenCreate>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    auth.require(Role::Admin)?;
    let (token, secret) = state
        .store
        .create_api_token(
            auth.tenant_id(),
            req.user_id.unwrap_or(auth.user.id),
            &req.name,
        )
        .await?;
    tracing::info!(token_id = token.id, by = auth.user.id, "API token issued");
    Ok((StatusCode::CREATED, Json(TokenCreated { token, secret })))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ApiToken, description = "Revoked"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<ApiToken>> {
    auth.require(Role::Admin)?;
    Ok(Json(
        state.store.revoke_api_token(auth.tenant_id(), id).await?,
    ))
}
