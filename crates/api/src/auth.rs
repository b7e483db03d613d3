//! Who is calling: a session cookie (`hotline_session`) or `Authorization: Bearer <token>`
//! (a session or an API token). Every handler that touches data takes [`Auth`] and checks the
//! role it needs; tenant isolation comes from passing `auth.tenant_id()` to every store call.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use hotline_model::{Role, User};

pub const SESSION_COOKIE: &str = "hotline_session";

#[derive(Debug, Clone)]
pub struct Auth {
    pub user: User,
    /// The raw token presented, to end exactly this session on log-out.
    pub token: String,
    pub api_token_id: Option<i64>,
}

impl Auth {
    pub fn tenant_id(&self) -> i64 {
        self.user.tenant_id
    }

    /// Refuses with 403 unless the caller's role is at least `role`.
    pub fn require(&self, role: Role) -> ApiResult<()> {
        if self.user.role.at_least(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// How the caller appears in timelines.
    pub fn actor(&self) -> String {
        match self.api_token_id {
            Some(id) => format!("{} (token {id})", self.user.username),
            None => self.user.username.clone(),
        }
    }
}

/// The token a request presents, from the Authorization header or the session cookie.
pub fn presented_token(parts: &Parts) -> Option<String> {
    if let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    for cookie in parts.headers.get_all(header::COOKIE) {
        let Ok(text) = cookie.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                if name == SESSION_COOKIE {
                    return Some(value.to_string());
                }
            }
        }
    }
    None
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let token = presented_token(parts).ok_or_else(ApiError::unauthorized)?;
        if token.len() > 200 || !token.is_ascii() {
            return Err(ApiError::unauthorized());
        }
        let found = state
            .store
            .authenticate(&token)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Auth {
            user: found.user,
            token,
            api_token_id: found.api_token_id,
        })
    }
}

/// The `Set-Cookie` value for a session (or, with an empty token, one that clears it).
pub fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    )
}
