//! Agents: the users who serve contacts, with their extension, skills and SIP credentials.
//!
//! The SIP password is kept only as the two HA1 digests (RFC 2617 MD5 and RFC 7616 SHA-256) that
//! digest authentication needs; the realm is the tenant's slug. It is never readable back.

use crate::{from_ms, now_ms, on_pool, on_writer, placeholders, Result, Store, StoreError};
use hotline_model::{validate, Agent, InvalidInput, SipCredentials, Skill};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct NewAgent {
    pub user_id: i64,
    pub extension: String,
    pub skills: Vec<Skill>,
    pub sip_password: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub extension: Option<String>,
    /// Replaces the whole skill set when given.
    pub skills: Option<Vec<Skill>>,
    pub sip_password: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: i64,
    tenant_id: i64,
    user_id: i64,
    display_name: String,
    extension: String,
    has_sip: bool,
    created_at: i64,
}

const SELECT: &str = "SELECT a.id, a.tenant_id, a.user_id, u.display_name, a.extension,
    (a.sip_ha1_md5 IS NOT NULL) AS has_sip, a.created_at
    FROM agents a JOIN users u ON u.id = a.user_id";

fn check_skills(skills: &[Skill]) -> Result<Vec<Skill>, InvalidInput> {
    let mut seen = BTreeMap::new();
    for s in skills {
        let name = validate::token("skills.name", &s.name, 64)?;
        validate::proficiency(i64::from(s.proficiency))?;
        if seen.insert(name.clone(), s.proficiency).is_some() {
            return Err(InvalidInput::new(
                "skills",
                format!("skill {name:?} is listed twice"),
            ));
        }
    }
    Ok(seen
        .into_iter()
        .map(|(name, proficiency)| Skill { name, proficiency })
        .collect())
}

/// HA1 digests of `user:realm:password` for MD5 and SHA-256.
pub fn sip_ha1(username: &str, realm: &str, password: &str) -> (String, String) {
    let input = format!("{username}:{realm}:{password}");
    (
        hex::encode(Md5::digest(input.as_bytes())),
        hex::encode(Sha256::digest(input.as_bytes())),
    )
}

impl Store {
    pub async fn create_agent(&self, tenant_id: i64, new: &NewAgent) -> Result<Agent> {
        let extension = validate::extension(&new.extension)?;
        let skills = check_skills(&new.skills)?;
        let user = self.get_user(tenant_id, new.user_id).await?;
        let ha1 = self
            .sip_digests(tenant_id, &extension, new.sip_password.as_deref())
            .await?;
        let id: (i64,) = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let id: (i64,) = sqlx::query_as(
                "INSERT INTO agents (tenant_id, user_id, extension, sip_ha1_md5, sip_ha1_sha256, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(tenant_id).bind(user.id).bind(&extension)
                .bind(ha1.as_ref().map(|h| &h.0)).bind(ha1.as_ref().map(|h| &h.1)).bind(now_ms())
                .fetch_one(&mut *tx).await?;
            for s in &skills {
                sqlx::query("INSERT INTO agent_skills (agent_id, skill, proficiency) VALUES ($1, $2, $3)")
                    .bind(id.0).bind(&s.name).bind(i64::from(s.proficiency)).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        })
        .map_err(agent_conflict)?;
        self.get_agent(tenant_id, id.0).await
    }

    async fn sip_digests(
        &self,
        tenant_id: i64,
        extension: &str,
        password: Option<&str>,
    ) -> Result<Option<(String, String)>> {
        let Some(pw) = password else { return Ok(None) };
        validate::password("sip_password", pw)?;
        let tenant = self.get_tenant(tenant_id).await?;
        Ok(Some(sip_ha1(extension, &tenant.slug, pw)))
    }

    pub async fn get_agent(&self, tenant_id: i64, id: i64) -> Result<Agent> {
        let sql = format!("{SELECT} WHERE a.tenant_id = $1 AND a.id = $2");
        let row: AgentRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(id).fetch_one(p).await)?;
        Ok(self.with_skills(vec![row]).await?.remove(0))
    }

    pub async fn get_agent_by_user(&self, tenant_id: i64, user_id: i64) -> Result<Agent> {
        let sql = format!("{SELECT} WHERE a.tenant_id = $1 AND a.user_id = $2");
        let row: AgentRow = on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(user_id).fetch_one(p).await)?;
        Ok(self.with_skills(vec![row]).await?.remove(0))
    }

    pub async fn list_agents(&self, tenant_id: i64) -> Result<Vec<Agent>> {
        let sql = format!("{SELECT} WHERE a.tenant_id = $1 ORDER BY a.extension");
        let rows: Vec<AgentRow> =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).fetch_all(p).await)?;
        self.with_skills(rows).await
    }

    async fn with_skills(&self, rows: Vec<AgentRow>) -> Result<Vec<Agent>> {
        let mut skills: BTreeMap<i64, Vec<Skill>> = BTreeMap::new();
        if !rows.is_empty() {
            let sql = format!(
                "SELECT agent_id, skill, proficiency FROM agent_skills WHERE agent_id IN ({}) ORDER BY skill",
                placeholders(1, rows.len())
            );
            let found: Vec<(i64, String, i64)> = on_pool!(self, p => {
                let mut q = sqlx::query_as(&sql);
                for r in &rows {
                    q = q.bind(r.id);
                }
                q.fetch_all(p).await
            })?;
            for (agent, name, prof) in found {
                let proficiency = u8::try_from(prof).unwrap_or(1);
                skills
                    .entry(agent)
                    .or_default()
                    .push(Skill { name, proficiency });
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| Agent {
                skills: skills.remove(&r.id).unwrap_or_default(),
                id: r.id,
                tenant_id: r.tenant_id,
                user_id: r.user_id,
                display_name: r.display_name,
                extension: r.extension,
                sip_password_set: r.has_sip,
                created_at: from_ms(r.created_at),
            })
            .collect())
    }

    pub async fn update_agent(&self, tenant_id: i64, id: i64, patch: &AgentPatch) -> Result<Agent> {
        let current = self.get_agent(tenant_id, id).await?;
        let extension = match &patch.extension {
            Some(e) => validate::extension(e)?,
            None => current.extension.clone(),
        };
        let skills = patch.skills.as_deref().map(check_skills).transpose()?;
        if patch.sip_password.is_none()
            && extension != current.extension
            && current.sip_password_set
        {
            // HA1 digests include the user name: a new extension needs the password again.
            return Err(InvalidInput::new(
                "sip_password",
                "changing the extension needs the SIP password again",
            )
            .into());
        }
        let ha1 = self
            .sip_digests(tenant_id, &extension, patch.sip_password.as_deref())
            .await?;
        on_writer!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE agents SET extension = $3, sip_ha1_md5 = COALESCE($4, sip_ha1_md5),
                    sip_ha1_sha256 = COALESCE($5, sip_ha1_sha256)
                 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id).bind(id).bind(&extension)
                .bind(ha1.as_ref().map(|h| &h.0)).bind(ha1.as_ref().map(|h| &h.1))
                .execute(&mut *tx).await?;
            if let Some(skills) = &skills {
                sqlx::query("DELETE FROM agent_skills WHERE agent_id = $1").bind(id).execute(&mut *tx).await?;
                for s in skills {
                    sqlx::query("INSERT INTO agent_skills (agent_id, skill, proficiency) VALUES ($1, $2, $3)")
                        .bind(id).bind(&s.name).bind(i64::from(s.proficiency)).execute(&mut *tx).await?;
                }
            }
            tx.commit().await
        })
        .map_err(agent_conflict)?;
        self.get_agent(tenant_id, id).await
    }

    /// Removes an agent profile. Refused while interactions refer to the agent: history stays whole.
    pub async fn delete_agent(&self, tenant_id: i64, id: i64) -> Result<()> {
        let r =
            on_writer!(self, p => sqlx::query("DELETE FROM agents WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict { .. } => {
                    StoreError::conflict("in_use", "interactions refer to this agent")
                }
                other => other,
            })?;
        if r == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// What the registrar needs to check a phone registering as `extension` in realm `realm`
    /// (the tenant's slug).
    pub async fn sip_credentials(&self, realm: &str, extension: &str) -> Result<SipCredentials> {
        let row: (i64, i64, String, String, Option<String>, Option<String>) = on_pool!(self, p => sqlx::query_as(
            "SELECT a.id, a.tenant_id, a.extension, t.slug, a.sip_ha1_md5, a.sip_ha1_sha256
             FROM agents a JOIN tenants t ON t.id = a.tenant_id JOIN users u ON u.id = a.user_id
             WHERE t.slug = $1 AND a.extension = $2 AND u.active")
            .bind(realm).bind(extension).fetch_one(p).await)?;
        match row {
            (agent_id, tenant_id, username, realm, Some(ha1_md5), Some(ha1_sha256)) => {
                Ok(SipCredentials {
                    agent_id,
                    tenant_id,
                    username,
                    realm,
                    ha1_md5,
                    ha1_sha256,
                })
            }
            _ => Err(StoreError::NotFound),
        }
    }
}

fn agent_conflict(e: sqlx::Error) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict {
            code: "already_exists",
            ..
        } => StoreError::conflict(
            "extension_taken",
            "the extension is taken, or the user already has an agent profile",
        ),
        other => other,
    }
}
