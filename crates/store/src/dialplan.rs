//! The dial plan: carriers' trunks, the numbers (DIDs) each tenant owns and where they lead,
//! and outbound routes from dialled prefixes to trunks. The telephony shell reads it whole
//! (`dial_plan`) and keeps it in memory; calls never wait on the database.

use hotline_model::{validate, InvalidInput};

use crate::{now_ms, on_pool, on_writer, Result, Store, StoreError};

/// The services a number can lead to (`kind = "service"`): `test` is the test line (a
/// greeting, each key pressed read back, the caller recorded).
pub const SERVICES: &[&str] = &["test"];

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SipTrunk {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub host: String,
    pub port: i64,
    /// `udp` or `tcp`.
    pub transport: String,
    pub username: Option<String>,
    /// Kept as given: the carrier's digest needs it in clear.
    pub password: Option<String>,
    /// Whether Hotline registers with the carrier at this address.
    pub register: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSipTrunk {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub transport: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub register: bool,
}

impl NewSipTrunk {
    /// A carrier known by its address alone: UDP, no credentials, no registration.
    pub fn peer(name: &str, host: &str, port: u16) -> NewSipTrunk {
        NewSipTrunk {
            name: name.to_string(),
            host: host.to_string(),
            port,
            transport: "udp".to_string(),
            username: None,
            password: None,
            register: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SipNumber {
    pub id: i64,
    pub tenant_id: i64,
    pub number: String,
    /// `extension`, `trunk`, `service` or `flow`.
    pub kind: String,
    /// The extension, the trunk's name, the service (`test`: the test line) or the flow's name.
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SipRoute {
    pub id: i64,
    pub tenant_id: i64,
    pub prefix: String,
    pub trunk_id: i64,
    pub strip: i64,
    pub prepend: String,
}

/// Everything the call router needs, every tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialPlan {
    pub trunks: Vec<SipTrunk>,
    pub numbers: Vec<SipNumber>,
    pub routes: Vec<SipRoute>,
}

fn invalid(field: &str, message: &str) -> StoreError {
    StoreError::Invalid(InvalidInput::new(field, message))
}

/// Digits, `+`, `*`, `#`: what a number or prefix may hold.
fn dialable(s: &str) -> bool {
    s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'*' | b'#'))
}

impl Store {
    pub async fn create_trunk(&self, tenant_id: i64, t: &NewSipTrunk) -> Result<SipTrunk> {
        // Text goes through the shared checks: a NUL reaches PostgreSQL as an encoding error.
        let name = validate::required_text("name", &t.name, 100)?;
        let username = match &t.username {
            Some(u) => validate::optional_text("username", u, 128)?,
            None => None,
        };
        let password = match &t.password {
            Some(p) => Some(validate::long_text("password", p, 256)?),
            None => None,
        };
        let host_ok = !t.host.is_empty()
            && t.host.len() <= 253
            && t.host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !host_ok {
            return Err(invalid("host", "an IP address or a host name"));
        }
        if t.port == 0 {
            return Err(invalid("port", "a port is 1–65535"));
        }
        if t.transport != "udp" && t.transport != "tcp" {
            return Err(invalid("transport", "udp or tcp"));
        }
        if t.register && (username.is_none() || password.is_none()) {
            return Err(invalid(
                "register",
                "registering with a carrier needs a username and a password",
            ));
        }
        let id = on_writer!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO sip_trunks (tenant_id, name, host, port, transport, username, password, register, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
            .bind(tenant_id).bind(&name).bind(&t.host).bind(i64::from(t.port))
            .bind(&t.transport).bind(&username).bind(&password).bind(t.register)
            .bind(now_ms()).fetch_one(p).await)?;
        Ok(SipTrunk {
            id,
            tenant_id,
            name,
            host: t.host.clone(),
            port: i64::from(t.port),
            transport: t.transport.clone(),
            username,
            password,
            register: t.register,
        })
    }

    pub async fn delete_trunk(&self, tenant_id: i64, id: i64) -> Result<()> {
        let n = on_writer!(self, p => sqlx::query("DELETE FROM sip_trunks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// A DID of the tenant and where it leads: an extension, a trunk (by name) of the same
    /// tenant, or a service Hotline answers itself ([`SERVICES`]).
    pub async fn create_number(
        &self,
        tenant_id: i64,
        number: &str,
        kind: &str,
        target: &str,
    ) -> Result<SipNumber> {
        if number.is_empty() || !dialable(number) {
            return Err(invalid("number", "digits, +, * or #, at most 32"));
        }
        // Looked up by name below: text PostgreSQL cannot hold (NUL) or absurd lengths are
        // refused before the query, as for every other input.
        if target.chars().count() > 128 || target.chars().any(char::is_control) {
            return Err(invalid(
                "target",
                "at most 128 characters, no control characters",
            ));
        }
        match kind {
            "extension" if !target.is_empty() && dialable(target) => {}
            "extension" => return Err(invalid("target", "an extension: digits, at most 32")),
            "trunk" => {
                let exists = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM sip_trunks WHERE tenant_id = $1 AND name = $2")
                    .bind(tenant_id).bind(target).fetch_one(p).await)?;
                if exists == 0 {
                    return Err(invalid("target", "no trunk of that name"));
                }
            }
            "service" if SERVICES.contains(&target) => {}
            "service" => return Err(invalid("target", "a service: test")),
            "flow" if !crate::flows::valid_flow_name(target) => {
                return Err(invalid("target", "no flow of that name"));
            }
            "flow" => {
                let exists = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM flows WHERE tenant_id = $1 AND name = $2")
                    .bind(tenant_id).bind(target).fetch_one(p).await)?;
                if exists == 0 {
                    return Err(invalid("target", "no flow of that name"));
                }
            }
            _ => return Err(invalid("kind", "extension, trunk, service or flow")),
        }
        let id = on_writer!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO sip_numbers (tenant_id, number, kind, target, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(tenant_id).bind(number).bind(kind).bind(target).bind(now_ms())
            .fetch_one(p).await)?;
        Ok(SipNumber {
            id,
            tenant_id,
            number: number.to_string(),
            kind: kind.to_string(),
            target: target.to_string(),
        })
    }

    pub async fn delete_number(&self, tenant_id: i64, id: i64) -> Result<()> {
        let n = on_writer!(self, p => sqlx::query("DELETE FROM sip_numbers WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// An outbound route: numbers starting with `prefix` leave through the trunk, with
    /// `strip` leading digits removed and `prepend` put in front.
    pub async fn create_route(
        &self,
        tenant_id: i64,
        prefix: &str,
        trunk_id: i64,
        strip: u8,
        prepend: &str,
    ) -> Result<SipRoute> {
        if !dialable(prefix) {
            return Err(invalid("prefix", "digits, +, * or #, at most 32"));
        }
        if strip > 32 {
            return Err(invalid("strip", "0 to 32 digits"));
        }
        if !dialable(prepend) {
            return Err(invalid("prepend", "digits, +, * or #, at most 32"));
        }
        let own = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sip_trunks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id).bind(trunk_id).fetch_one(p).await)?;
        if own == 0 {
            return Err(invalid("trunk_id", "no trunk of the tenant with that id"));
        }
        let id = on_writer!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO sip_routes (tenant_id, prefix, trunk_id, strip, prepend, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(tenant_id).bind(prefix).bind(trunk_id).bind(i64::from(strip)).bind(prepend)
            .bind(now_ms()).fetch_one(p).await)?;
        Ok(SipRoute {
            id,
            tenant_id,
            prefix: prefix.to_string(),
            trunk_id,
            strip: i64::from(strip),
            prepend: prepend.to_string(),
        })
    }

    pub async fn delete_route(&self, tenant_id: i64, id: i64) -> Result<()> {
        let n = on_writer!(self, p => sqlx::query("DELETE FROM sip_routes WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn list_trunks(&self, tenant_id: i64) -> Result<Vec<SipTrunk>> {
        Ok(on_pool!(self, p => sqlx::query_as::<_, SipTrunk>(
            "SELECT id, tenant_id, name, host, port, transport, username, password, register
             FROM sip_trunks WHERE tenant_id = $1 ORDER BY id").bind(tenant_id).fetch_all(p).await)?)
    }

    pub async fn list_numbers(&self, tenant_id: i64) -> Result<Vec<SipNumber>> {
        Ok(on_pool!(self, p => sqlx::query_as::<_, SipNumber>(
            "SELECT id, tenant_id, number, kind, target FROM sip_numbers WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant_id).fetch_all(p).await)?)
    }

    pub async fn list_routes(&self, tenant_id: i64) -> Result<Vec<SipRoute>> {
        Ok(on_pool!(self, p => sqlx::query_as::<_, SipRoute>(
            "SELECT id, tenant_id, prefix, trunk_id, strip, prepend FROM sip_routes WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant_id).fetch_all(p).await)?)
    }

    /// The whole dial plan, every tenant, in id order.
    pub async fn dial_plan(&self) -> Result<DialPlan> {
        let trunks = on_pool!(self, p => sqlx::query_as::<_, SipTrunk>(
            "SELECT id, tenant_id, name, host, port, transport, username, password, register
             FROM sip_trunks ORDER BY id").fetch_all(p).await)?;
        let numbers = on_pool!(self, p => sqlx::query_as::<_, SipNumber>(
            "SELECT id, tenant_id, number, kind, target FROM sip_numbers ORDER BY id")
            .fetch_all(p).await)?;
        let routes = on_pool!(self, p => sqlx::query_as::<_, SipRoute>(
            "SELECT id, tenant_id, prefix, trunk_id, strip, prepend FROM sip_routes ORDER BY id")
            .fetch_all(p).await)?;
        Ok(DialPlan {
            trunks,
            numbers,
            routes,
        })
    }
}
