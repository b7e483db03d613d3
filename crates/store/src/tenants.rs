//! Tenants: the client companies of an outsourcing center. Everything else hangs off one.

use crate::{from_ms, now_ms, on_pool, on_writer, Result, Store, StoreError};
use hotline_model::{phone, validate, InvalidInput, Tenant};

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: String,
    pub slug: String,
    pub default_region: String,
    pub timezone: String,
}

#[derive(Debug, Clone, Default)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub default_region: Option<String>,
    pub timezone: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: i64,
    name: String,
    slug: String,
    default_region: String,
    timezone: String,
    created_at: i64,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: r.id,
            name: r.name,
            slug: r.slug,
            default_region: r.default_region,
            timezone: r.timezone,
            created_at: from_ms(r.created_at),
        }
    }
}

const COLUMNS: &str = "id, name, slug, default_region, timezone, created_at";

fn check_region(region: &str) -> Result<String, InvalidInput> {
    phone::parse_region(region)?;
    Ok(region.to_ascii_uppercase())
}

fn check_timezone(tz: &str) -> Result<String, InvalidInput> {
    let ok = !tz.is_empty()
        && tz.len() <= 64
        && tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
    ok.then(|| tz.to_string())
        .ok_or_else(|| InvalidInput::new("timezone", "an IANA time zone name, e.g. Europe/Moscow"))
}

impl Store {
    pub async fn create_tenant(&self, new: &NewTenant) -> Result<Tenant> {
        let name = validate::required_text("name", &new.name, 200)?;
        let slug = validate::token("slug", &new.slug, 64)?;
        let region = check_region(&new.default_region)?;
        let tz = check_timezone(&new.timezone)?;
        let sql = format!(
            "INSERT INTO tenants (name, slug, default_region, timezone, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        );
        let row: TenantRow = on_writer!(self, p => sqlx::query_as(&sql)
            .bind(&name).bind(&slug).bind(&region).bind(&tz).bind(now_ms())
            .fetch_one(p).await)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => {
                StoreError::conflict("slug_taken", format!("a tenant with slug {slug:?} exists"))
            }
            other => other,
        })?;
        Ok(row.into())
    }

    pub async fn get_tenant(&self, id: i64) -> Result<Tenant> {
        let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
        let row: TenantRow = on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_one(p).await)?;
        Ok(row.into())
    }

    pub async fn get_tenant_by_slug(&self, slug: &str) -> Result<Tenant> {
        let sql = format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1");
        let row: TenantRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(slug).fetch_one(p).await)?;
        Ok(row.into())
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let sql = format!("SELECT {COLUMNS} FROM tenants ORDER BY id");
        let rows: Vec<TenantRow> = on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn update_tenant(&self, id: i64, patch: &TenantPatch) -> Result<Tenant> {
        let current = self.get_tenant(id).await?;
        let name = match &patch.name {
            Some(n) => validate::required_text("name", n, 200)?,
            None => current.name,
        };
        let region = match &patch.default_region {
            Some(r) => check_region(r)?,
            None => current.default_region,
        };
        let tz = match &patch.timezone {
            Some(t) => check_timezone(t)?,
            None => current.timezone,
        };
        let sql = format!(
            "UPDATE tenants SET name = $2, default_region = $3, timezone = $4 WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row: TenantRow = on_writer!(self, p => sqlx::query_as(&sql)
            .bind(id).bind(&name).bind(&region).bind(&tz).fetch_one(p).await)?;
        Ok(row.into())
    }
}
