//! Contact flows (versioned YAML), the tenant's calendars file, and built-in lookup tables.
//! The store keeps text; checking a flow is the flow crate's work, done before a save.

use crate::{now_ms, on_pool, on_writer, Result, Store, StoreError};
use hotline_model::InvalidInput;

/// One saved version of a flow.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FlowVersion {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub version: i64,
    pub source: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Calendars {
    pub tenant_id: i64,
    pub source: String,
    pub updated_at: i64,
}

/// A flow's name: letters, digits, `-`, `_`, `.`; 1–64 characters.
pub fn valid_flow_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn invalid(field: &str, message: &str) -> StoreError {
    StoreError::Invalid(InvalidInput::new(field, message))
}

const FLOW_COLUMNS: &str = "id, tenant_id, name, version, source, created_at";

impl Store {
    /// Saves `source` as the next version of the flow `name` (1 for a new flow).
    pub async fn save_flow(&self, tenant_id: i64, name: &str, source: &str) -> Result<FlowVersion> {
        // PostgreSQL's TEXT cannot hold NUL: refused here for both dialects alike.
        let source = &hotline_model::validate::long_text("source", source, 4 * 1024 * 1024)?;
        if !valid_flow_name(name) {
            return Err(invalid("name", "letters, digits, '-', '_' or '.', 1–64"));
        }
        let created_at = now_ms();
        // Two saves racing for the same version: the unique key refuses one, which tries again.
        for _ in 0..3 {
            let r = on_writer!(self, p => sqlx::query_as::<_, FlowVersion>(&format!(
                "INSERT INTO flows (tenant_id, name, version, source, created_at)
                 SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4 FROM flows
                 WHERE tenant_id = $1 AND name = $2
                 RETURNING {FLOW_COLUMNS}"))
                .bind(tenant_id).bind(name).bind(source).bind(created_at)
                .fetch_one(p).await)
            .map_err(StoreError::from);
            match r {
                Err(StoreError::Conflict { .. }) => continue,
                other => return other,
            }
        }
        Err(StoreError::conflict(
            "conflict",
            "the flow is being saved by someone else",
        ))
    }

    /// The newest version of the flow, or the given one.
    pub async fn flow(
        &self,
        tenant_id: i64,
        name: &str,
        version: Option<i64>,
    ) -> Result<FlowVersion> {
        let f = match version {
            Some(v) => on_pool!(self, p => sqlx::query_as::<_, FlowVersion>(&format!(
                "SELECT {FLOW_COLUMNS} FROM flows WHERE tenant_id = $1 AND name = $2 AND version = $3"))
                .bind(tenant_id).bind(name).bind(v).fetch_optional(p).await)?,
            None => on_pool!(self, p => sqlx::query_as::<_, FlowVersion>(&format!(
                "SELECT {FLOW_COLUMNS} FROM flows WHERE tenant_id = $1 AND name = $2
                 ORDER BY version DESC LIMIT 1"))
                .bind(tenant_id).bind(name).fetch_optional(p).await)?,
        };
        f.ok_or(StoreError::NotFound)
    }

    /// Every version of a flow, newest first.
    pub async fn flow_versions(&self, tenant_id: i64, name: &str) -> Result<Vec<FlowVersion>> {
        let v = on_pool!(self, p => sqlx::query_as::<_, FlowVersion>(&format!(
            "SELECT {FLOW_COLUMNS} FROM flows WHERE tenant_id = $1 AND name = $2 ORDER BY version DESC"))
            .bind(tenant_id).bind(name).fetch_all(p).await)?;
        if v.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(v)
    }

    /// The newest version of each flow of a tenant, or of every tenant (`None`), by name.
    pub async fn latest_flows(&self, tenant_id: Option<i64>) -> Result<Vec<FlowVersion>> {
        let sql = format!(
            "SELECT {FLOW_COLUMNS} FROM flows f WHERE (CAST($1 AS BIGINT) IS NULL OR tenant_id = $1)
             AND version = (SELECT MAX(version) FROM flows g WHERE g.tenant_id = f.tenant_id AND g.name = f.name)
             ORDER BY tenant_id, name"
        );
        Ok(on_pool!(self, p => sqlx::query_as::<_, FlowVersion>(&sql)
            .bind(tenant_id).fetch_all(p).await)?)
    }

    pub async fn calendars(&self, tenant_id: i64) -> Result<Option<Calendars>> {
        Ok(on_pool!(self, p => sqlx::query_as::<_, Calendars>(
            "SELECT tenant_id, source, updated_at FROM tenant_calendars WHERE tenant_id = $1")
            .bind(tenant_id).fetch_optional(p).await)?)
    }

    /// Every tenant's calendars file.
    pub async fn all_calendars(&self) -> Result<Vec<Calendars>> {
        Ok(on_pool!(self, p => sqlx::query_as::<_, Calendars>(
            "SELECT tenant_id, source, updated_at FROM tenant_calendars ORDER BY tenant_id")
            .fetch_all(p).await)?)
    }

    pub async fn set_calendars(&self, tenant_id: i64, source: &str) -> Result<Calendars> {
        let source = &hotline_model::validate::long_text("source", source, 4 * 1024 * 1024)?;
        let updated_at = now_ms();
        Ok(on_writer!(self, p => sqlx::query_as::<_, Calendars>(
            "INSERT INTO tenant_calendars (tenant_id, source, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at
             RETURNING tenant_id, source, updated_at")
            .bind(tenant_id).bind(source).bind(updated_at).fetch_one(p).await)?)
    }

    /// Puts rows (key → JSON object) into a lookup table, replacing rows of the same key.
    pub async fn put_lookup_rows(
        &self,
        tenant_id: i64,
        table: &str,
        rows: &[(String, serde_json::Value)],
    ) -> Result<u64> {
        if !valid_flow_name(table) {
            return Err(invalid("table", "letters, digits, '-', '_' or '.', 1–64"));
        }
        if rows
            .iter()
            .any(|(k, v)| k.is_empty() || k.len() > 200 || !v.is_object())
        {
            return Err(invalid(
                "rows",
                "keys of 1–200 characters, each to a JSON object",
            ));
        }
        let now = now_ms();
        let mut n = 0;
        for (key, data) in rows {
            let data = data.to_string();
            n += on_writer!(self, p => sqlx::query(
                "INSERT INTO lookup_rows (tenant_id, table_name, key, data, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, table_name, key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at")
                .bind(tenant_id).bind(table).bind(key).bind(&data).bind(now)
                .execute(p).await.map(|r| r.rows_affected()))?;
        }
        Ok(n)
    }

    /// A row of a lookup table.
    pub async fn lookup_row(
        &self,
        tenant_id: i64,
        table: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>> {
        let data = on_pool!(self, p => sqlx::query_scalar::<_, String>(
            "SELECT data FROM lookup_rows WHERE tenant_id = $1 AND table_name = $2 AND key = $3")
            .bind(tenant_id).bind(table).bind(key).fetch_optional(p).await)?;
        Ok(data.and_then(|d| serde_json::from_str(&d).ok()))
    }
}
