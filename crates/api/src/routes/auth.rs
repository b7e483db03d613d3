//! Log-in, log-out, and who am I.

use crate::auth::{session_cookie, Auth};
use crate::error::{ApiError, ApiResult, ErrorBody, Json};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hotline_model::{Agent, Tenant, User};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Session token; also set as the HttpOnly `hotline_session` cookie.
    pub token: String,
    pub user: User,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub tenant: Tenant,
    /// The caller's agent profile, when the caller is an agent.
    pub agent: Option<Agent>,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody, description = "Wrong user name or password"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts; see Retry-After"),
        (status = 400, body = ErrorBody), (status = 422, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(peer): ClientAddr,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let name = req.username.trim().to_lowercase();
    let user_key = format!("user:{name}");
    let mut keys = vec![user_key.clone()];
    if let Some(ip) = peer {
        keys.push(format!("ip:{ip}"));
    }
    if let Some(wait) = state.limiter.check(&keys, Instant::now()) {
        tracing::warn!(retry_after = wait, "log-in refused: too many failures");
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many failed log-ins; try again later",
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let plausible = !name.is_empty()
        && name.len() <= 64
        && !name.chars().any(char::is_control)
        && req.password.len() <= 1024;
    let user = if plausible {
        state.store.check_password(&name, &req.password).await?
    } else {
        None
    };
    let Some(user) = user else {
        state.limiter.record_failure(&keys, Instant::now());
        tracing::info!("log-in failed");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong user name or password",
        ));
    };
    state.limiter.record_success(&user_key);
    let token = state
        .store
        .create_session(user.id, state.config.session_ttl)
        .await?;
    tracing::info!(user_id = user.id, tenant_id = user.tenant_id, "logged in");
    let cookie = session_cookie(
        &token,
        state.config.session_ttl.whole_seconds(),
        state.config.secure_cookies,
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        axum::Json(LoginResponse { token, user }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "This session ended"), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    if auth.api_token_id.is_none() {
        state.store.end_session(&auth.token).await?;
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = session_cookie("", 0, state.config.secure_cookies).parse() {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((StatusCode::NO_CONTENT, headers))
}

#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth",
    responses((status = 204, description = "Every session of the caller ended"), (status = 401, body = ErrorBody)))]
pub async fn logout_all(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    state.store.end_sessions(auth.user.id).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = session_cookie("", 0, state.config.secure_cookies).parse() {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((StatusCode::NO_CONTENT, headers))
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Me>> {
    let tenant = state.store.get_tenant(auth.tenant_id()).await?;
    let agent = state
        .store
        .get_agent_by_user(auth.tenant_id(), auth.user.id)
        .await
        .ok();
    Ok(Json(Me {
        user: auth.user,
        tenant,
        agent,
    }))
}

/// The client's address when the server was started with connection info (tests run without).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
