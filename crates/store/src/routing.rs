//! What the routing shell keeps between restarts: the agents' decisions in `agent_events`
//! (append-only, like the timeline), and reading back what a restarted engine needs — each
//! agent's latest state, and the routing events of contacts that have not finished.

use crate::interactions::EventRow;
use crate::{from_ms, on_pool, on_writer, placeholders, to_ms, Result, Store, StoreError};
use hotline_model::InteractionEvent;
use serde_json::Value;
use time::OffsetDateTime;

/// One routing decision about an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEvent {
    pub id: i64,
    pub tenant_id: i64,
    pub agent_id: i64,
    pub at: OffsetDateTime,
    pub kind: String,
    pub data: Value,
}

/// A decision about an agent, to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAgentEvent {
    pub tenant_id: i64,
    pub agent_id: i64,
    pub at: OffsetDateTime,
    pub kind: String,
    pub data: Value,
}

#[derive(sqlx::FromRow)]
struct AgentEventRow {
    id: i64,
    tenant_id: i64,
    agent_id: i64,
    at: i64,
    kind: String,
    data: String,
}

impl From<AgentEventRow> for AgentEvent {
    fn from(r: AgentEventRow) -> Self {
        AgentEvent {
            id: r.id,
            tenant_id: r.tenant_id,
            agent_id: r.agent_id,
            at: from_ms(r.at),
            kind: r.kind,
            data: serde_json::from_str(&r.data).unwrap_or(Value::Null),
        }
    }
}

impl Store {
    /// Appends one decision to an agent's log; returns its id.
    pub async fn append_agent_event(
        &self,
        tenant_id: i64,
        agent_id: i64,
        at: OffsetDateTime,
        kind: &str,
        data: &Value,
    ) -> Result<i64> {
        if kind.is_empty() || kind.len() > 100 {
            return Err(StoreError::Invalid(hotline_model::InvalidInput::new(
                "kind",
                "an event kind is 1–100 characters",
            )));
        }
        let data = data.to_string();
        let (id,): (i64,) = on_writer!(self, p => sqlx::query_as(
            "INSERT INTO agent_events (tenant_id, agent_id, at, kind, data)
             VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(tenant_id).bind(agent_id).bind(to_ms(at)).bind(kind).bind(&data)
            .fetch_one(p).await)?;
        Ok(id)
    }

    /// Appends many decisions in one transaction, in order (the routing shell stores a round
    /// of decisions this way). All or nothing. Returns their ids.
    pub async fn append_agent_events(&self, batch: &[NewAgentEvent]) -> Result<Vec<i64>> {
        if batch
            .iter()
            .any(|e| e.kind.is_empty() || e.kind.len() > 100)
        {
            return Err(StoreError::Invalid(hotline_model::InvalidInput::new(
                "kind",
                "an event kind is 1–100 characters",
            )));
        }
        let rows: Vec<(i64, i64, i64, &str, String)> = batch
            .iter()
            .map(|e| {
                (
                    e.tenant_id,
                    e.agent_id,
                    to_ms(e.at),
                    e.kind.as_str(),
                    e.data.to_string(),
                )
            })
            .collect();
        let ids = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let mut ids = Vec::with_capacity(rows.len());
            for (tenant_id, agent_id, at, kind, data) in &rows {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO agent_events (tenant_id, agent_id, at, kind, data)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id")
                    .bind(tenant_id).bind(agent_id).bind(at).bind(kind).bind(data)
                    .fetch_one(&mut *tx).await?;
                ids.push(id);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ids)
        })?;
        Ok(ids)
    }

    /// An agent's log, oldest first.
    pub async fn agent_events(&self, tenant_id: i64, agent_id: i64) -> Result<Vec<AgentEvent>> {
        let rows: Vec<AgentEventRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, tenant_id, agent_id, at, kind, data FROM agent_events
             WHERE tenant_id = $1 AND agent_id = $2 ORDER BY id")
            .bind(tenant_id).bind(agent_id).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The latest logged decision of every agent, all tenants, oldest first. System-wide: the
    /// routing engine serves every tenant.
    pub async fn latest_agent_events(&self) -> Result<Vec<AgentEvent>> {
        let rows: Vec<AgentEventRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, tenant_id, agent_id, at, kind, data FROM agent_events
             WHERE id IN (SELECT MAX(id) FROM agent_events GROUP BY agent_id) ORDER BY id")
            .fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Every timeline event whose kind starts with `prefix`, of every interaction (all tenants)
    /// that has none of the `finished` kinds yet, in the order they were written, with the
    /// interaction's tenant.
    pub async fn open_events_with_prefix(
        &self,
        prefix: &str,
        finished: &[&str],
    ) -> Result<Vec<(i64, InteractionEvent)>> {
        let like = format!("{}%", prefix.replace('%', "").replace('_', "\\_"));
        let sql = format!(
            "SELECT e.tenant_id, e.id, e.interaction_id, e.at, e.kind, e.actor, e.data
             FROM interaction_events e
             WHERE e.kind LIKE $1 ESCAPE '\\'
               AND NOT EXISTS (SELECT 1 FROM interaction_events f
                               WHERE f.interaction_id = e.interaction_id AND f.kind IN ({}))
             ORDER BY e.id",
            if finished.is_empty() {
                "NULL".to_string()
            } else {
                placeholders(2, finished.len())
            }
        );
        let rows: Vec<(i64, i64, i64, i64, String, String, String)> = on_pool!(self, p => {
            let mut q = sqlx::query_as(&sql).bind(&like);
            for k in finished {
                q = q.bind(*k);
            }
            q.fetch_all(p).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(tenant, id, interaction_id, at, kind, actor, data)| {
                let row = EventRow {
                    id,
                    interaction_id,
                    at,
                    kind,
                    actor,
                    data,
                };
                (tenant, row.into())
            })
            .collect())
    }
}
