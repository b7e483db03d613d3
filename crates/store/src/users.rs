//! People who log in (admins, supervisors, agents), their sessions, and API tokens for
//! integrations. Passwords are argon2 hashes; session and API tokens are random 256-bit secrets
//! of which only the SHA-256 is stored, so a stolen database opens no door.

use crate::{from_ms, now_ms, on_pool, on_writer, to_ms, Result, Store, StoreError};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use hotline_model::{validate, ApiToken, InvalidInput, Role, User};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password: String,
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub password: Option<String>,
}

/// Who a presented token belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticated {
    pub user: User,
    /// Set when the token was an API token rather than a log-in session.
    pub api_token_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    tenant_id: i64,
    username: String,
    display_name: String,
    role: String,
    active: bool,
    created_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self> {
        Ok(User {
            id: r.id,
            tenant_id: r.tenant_id,
            username: r.username,
            display_name: r.display_name,
            role: r.role.parse()?,
            active: r.active,
            created_at: from_ms(r.created_at),
        })
    }
}

const COLUMNS: &str = "id, tenant_id, username, display_name, role, active, created_at";

pub(crate) fn check_username(name: &str) -> Result<String, InvalidInput> {
    let ok = (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    ok.then(|| name.to_ascii_lowercase()).ok_or_else(|| {
        InvalidInput::new(
            "username",
            "2 to 64 characters of a-z, 0-9, '.', '_', '-', '@'",
        )
    })
}

pub(crate) fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(InvalidInput::new("password", e.to_string())))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash checked when the user does not exist, so that an unknown user costs the same time
/// as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no such user, no such password").unwrap_or_default())
}

/// A fresh random secret with a readable prefix, e.g. `hls_` for sessions, `hlt_` for API tokens.
pub(crate) fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!("{prefix}{}", hex::encode(bytes))
}

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    pub async fn create_user(&self, tenant_id: i64, new: &NewUser) -> Result<User> {
        let username = check_username(&new.username)?;
        let display = validate::required_text("display_name", &new.display_name, 200)?;
        validate::password("password", &new.password)?;
        let hash = hash_password(&new.password)?;
        let sql = format!(
            "INSERT INTO users (tenant_id, username, display_name, role, password_hash, active, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        );
        let row: UserRow = on_writer!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(&username).bind(&display).bind(new.role.as_str())
            .bind(&hash).bind(true).bind(now_ms())
            .fetch_one(p).await)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict {
                code: "already_exists",
                ..
            } => StoreError::conflict(
                "username_taken",
                format!("the user name {username:?} is taken"),
            ),
            other => other,
        })?;
        row.try_into()
    }

    pub async fn get_user(&self, tenant_id: i64, id: i64) -> Result<User> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2");
        let row: UserRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(id).fetch_one(p).await)?;
        row.try_into()
    }

    pub async fn get_user_by_username(&self, username: &str) -> Result<User> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
        let row: UserRow = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(username.to_ascii_lowercase()).fetch_one(p).await)?;
        row.try_into()
    }

    pub async fn list_users(&self, tenant_id: i64) -> Result<Vec<User>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY id");
        let rows: Vec<UserRow> =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).fetch_all(p).await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Changes a user. Deactivating a user or changing the password ends their sessions.
    pub async fn update_user(&self, tenant_id: i64, id: i64, patch: &UserPatch) -> Result<User> {
        let current = self.get_user(tenant_id, id).await?;
        let display = match &patch.display_name {
            Some(d) => validate::required_text("display_name", d, 200)?,
            None => current.display_name,
        };
        let role = patch.role.unwrap_or(current.role);
        let active = patch.active.unwrap_or(current.active);
        let hash = match &patch.password {
            Some(pw) => {
                validate::password("password", pw)?;
                Some(hash_password(pw)?)
            }
            None => None,
        };
        let sql = format!(
            "UPDATE users SET display_name = $3, role = $4, active = $5,
                password_hash = COALESCE($6, password_hash)
             WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let row: UserRow = on_writer!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(id).bind(&display).bind(role.as_str()).bind(active).bind(&hash)
            .fetch_one(p).await)?;
        if !active || hash.is_some() {
            self.end_sessions(id).await?;
        }
        row.try_into()
    }

    /// Checks a user name and password. `None` for an unknown user, a wrong password or an
    /// inactive user alike, in about the same time.
    pub async fn check_password(&self, username: &str, password: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {COLUMNS}, password_hash FROM users WHERE username = $1");
        #[derive(sqlx::FromRow)]
        struct WithHash {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row: Option<WithHash> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(username.trim().to_ascii_lowercase()).fetch_optional(p).await)?;
        let Some(row) = row else {
            let pw = password.to_string();
            let _ = tokio::task::spawn_blocking(move || verify_password(&pw, dummy_hash())).await;
            return Ok(None);
        };
        let (pw, hash) = (password.to_string(), row.password_hash);
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
            .await
            .unwrap_or(false);
        let user: User = row.user.try_into()?;
        Ok((ok && user.active).then_some(user))
    }

    /// Opens a log-in session; returns the secret to hand to the client (shown once).
    pub async fn create_session(&self, user_id: i64, ttl: Duration) -> Result<String> {
        let token = new_secret("hls_");
        let now = OffsetDateTime::now_utc();
        on_writer!(self, p => sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash(&token)).bind(user_id).bind(to_ms(now)).bind(to_ms(now + ttl))
            .execute(p).await.map(|r| r.rows_affected()))?;
        Ok(token)
    }

    /// Resolves a session or API token to its active user.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Authenticated>> {
        let hash = token_hash(token);
        let user_cols = COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        if token.starts_with("hls_") {
            let sql = format!(
                "SELECT {user_cols} FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active"
            );
            let row: Option<UserRow> = on_pool!(self, p => sqlx::query_as(&sql)
                .bind(&hash).bind(now_ms()).fetch_optional(p).await)?;
            return row
                .map(|r| {
                    Ok(Authenticated {
                        user: r.try_into()?,
                        api_token_id: None,
                    })
                })
                .transpose();
        }
        if token.starts_with("hlt_") {
            #[derive(sqlx::FromRow)]
            struct Row {
                #[sqlx(flatten)]
                user: UserRow,
                token_id: i64,
            }
            let sql = format!(
                "SELECT {user_cols}, t.id AS token_id FROM api_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active AND t.tenant_id = u.tenant_id"
            );
            let row: Option<Row> =
                on_pool!(self, p => sqlx::query_as(&sql).bind(&hash).fetch_optional(p).await)?;
            return row
                .map(|r| {
                    Ok(Authenticated {
                        user: r.user.try_into()?,
                        api_token_id: Some(r.token_id),
                    })
                })
                .transpose();
        }
        Ok(None)
    }

    /// Ends one session (log out).
    pub async fn end_session(&self, token: &str) -> Result<()> {
        on_writer!(self, p => sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash(token)).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Ends every session of a user (log out everywhere).
    pub async fn end_sessions(&self, user_id: i64) -> Result<u64> {
        let r = on_writer!(self, p => sqlx::query("DELETE FROM sessions WHERE user_id = $1 OR expires_at < $2")
            .bind(user_id).bind(now_ms()).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(r)
    }

    /// Issues an API token acting as `user_id`; returns the record and the secret (shown once).
    pub async fn create_api_token(
        &self,
        tenant_id: i64,
        user_id: i64,
        name: &str,
    ) -> Result<(ApiToken, String)> {
        let name = validate::required_text("name", name, 200)?;
        self.get_user(tenant_id, user_id).await?;
        let secret = new_secret("hlt_");
        let row: TokenRow = on_writer!(self, p => sqlx::query_as(
            "INSERT INTO api_tokens (tenant_id, user_id, name, token_hash, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id, tenant_id, user_id, name, created_at, revoked_at")
            .bind(tenant_id).bind(user_id).bind(&name).bind(token_hash(&secret)).bind(now_ms())
            .fetch_one(p).await)?;
        Ok((row.into(), secret))
    }

    pub async fn list_api_tokens(&self, tenant_id: i64) -> Result<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, tenant_id, user_id, name, created_at, revoked_at FROM api_tokens
             WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant_id).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Revokes a token; revoking twice is harmless.
    pub async fn revoke_api_token(&self, tenant_id: i64, id: i64) -> Result<ApiToken> {
        let row: TokenRow = on_writer!(self, p => sqlx::query_as(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant_id = $1 AND id = $2
             RETURNING id, tenant_id, user_id, name, created_at, revoked_at")
            .bind(tenant_id).bind(id).bind(now_ms()).fetch_one(p).await)?;
        Ok(row.into())
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    tenant_id: i64,
    user_id: i64,
    name: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: r.id,
            tenant_id: r.tenant_id,
            user_id: r.user_id,
            name: r.name,
            created_at: from_ms(r.created_at),
            revoked_at: r.revoked_at.map(from_ms),
        }
    }
}
