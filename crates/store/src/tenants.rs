//! Tenants: the client companies of an outsourcing center. Everything else hangs off one.

use crate::users::NewUser;
use crate::{from_ms, now_ms, on_pool, on_writer, Result, Store, StoreError};
use hotline_model::{phone, validate, InvalidInput, Role, Tenant, User};

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
    operator: bool,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: r.id,
            name: r.name,
            slug: r.slug,
            default_region: r.default_region,
            timezone: r.timezone,
            operator: r.operator,
            created_at: from_ms(r.created_at),
        }
    }
}

const COLUMNS: &str = "id, name, slug, default_region, timezone, created_at, operator";

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

/// The first tenant of an installation is its operator.
const INSERT: &str =
    "INSERT INTO tenants (name, slug, default_region, timezone, created_at, operator)
     VALUES ($1, $2, $3, $4, $5, NOT EXISTS (SELECT 1 FROM tenants))
     RETURNING id, name, slug, default_region, timezone, created_at, operator";

fn check_new(new: &NewTenant) -> Result<(String, String, String, String)> {
    Ok((
        validate::required_text("name", &new.name, 200)?,
        validate::token("slug", &new.slug, 64)?,
        check_region(&new.default_region)?,
        check_timezone(&new.timezone)?,
    ))
}

fn slug_taken(e: sqlx::Error, slug: &str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict { .. } => {
            StoreError::conflict("slug_taken", format!("a tenant with slug {slug:?} exists"))
        }
        other => other,
    }
}

impl Store {
    /// A new tenant; the first of an installation is its operator.
    pub async fn create_tenant(&self, new: &NewTenant) -> Result<Tenant> {
        let (name, slug, region, tz) = check_new(new)?;
        let row: TenantRow = on_writer!(self, p => sqlx::query_as(INSERT)
            .bind(&name).bind(&slug).bind(&region).bind(&tz).bind(now_ms())
            .fetch_one(p).await)
        .map_err(|e| slug_taken(e, &slug))?;
        Ok(row.into())
    }

    /// A client company and its first administrator, together: a tenant nobody can log in to
    /// is never left behind (a taken user name refuses both).
    pub async fn create_tenant_with_admin(
        &self,
        new: &NewTenant,
        admin: &NewUser,
    ) -> Result<(Tenant, User)> {
        let (name, slug, region, tz) = check_new(new)?;
        let username = crate::users::check_username(&admin.username)?;
        let display = validate::required_text("display_name", &admin.display_name, 200)?;
        validate::password("password", &admin.password)?;
        let hash = crate::users::hash_password(&admin.password)?;
        let at = now_ms();
        let user_sql = "INSERT INTO users (tenant_id, username, display_name, role, password_hash, active, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        let (tenant_id, user_id) = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let t: TenantRow = sqlx::query_as(INSERT)
                .bind(&name).bind(&slug).bind(&region).bind(&tz).bind(at)
                .fetch_one(&mut *tx).await?;
            let u: std::result::Result<(i64,), sqlx::Error> = sqlx::query_as(user_sql)
                .bind(t.id).bind(&username).bind(&display).bind(Role::Admin.as_str())
                .bind(&hash).bind(true).bind(at)
                .fetch_one(&mut *tx).await;
            let (user_id,) = match u {
                Ok(u) => u,
                Err(e) => return Ok(Err(e)),
            };
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Ok((t.id, user_id)))
        })
        .map_err(|e| slug_taken(e, &slug))?
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => StoreError::conflict(
                "username_taken",
                format!("the user name {username:?} is taken"),
            ),
            other => other,
        })?;
        Ok((
            self.get_tenant(tenant_id).await?,
            self.get_user(tenant_id, user_id).await?,
        ))
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

    /// Per tenant: how many users, agents and queues it has (the operator's overview).
    pub async fn tenant_sizes(&self) -> Result<std::collections::BTreeMap<i64, [i64; 3]>> {
        let mut sizes = std::collections::BTreeMap::new();
        for (i, table) in ["users", "agents", "queues"].into_iter().enumerate() {
            let sql = format!("SELECT tenant_id, COUNT(*) FROM {table} GROUP BY tenant_id");
            let rows: Vec<(i64, i64)> =
                on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?;
            for (t, n) in rows {
                sizes.entry(t).or_insert([0; 3])[i] = n;
            }
        }
        Ok(sizes)
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
