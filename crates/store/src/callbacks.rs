//! Callbacks promised for a time. Scheduling one creates its interaction (outbound voice,
//! `queued`), the `callback.scheduled` event on its timeline and the `callbacks` row, in one
//! transaction; the interaction's state says how it is going (routing and telephony move it),
//! so nothing here has a state of its own to drift.

use crate::{from_ms, now_ms, on_pool, on_writer, to_ms, Result, Store, StoreError};
use hotline_model::{validate, InteractionState, ScheduledCallback};
use serde_json::json;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct NewCallback {
    pub queue_id: i64,
    pub customer_id: Option<i64>,
    /// Whose it is; `None`: the queue's.
    pub agent_id: Option<i64>,
    /// E.164, normalised by the caller.
    pub number: String,
    pub due_at: OffsetDateTime,
    pub note: String,
    pub origin_interaction_id: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct CallbackFilter {
    pub agent_id: Option<i64>,
    /// Only those not yet finished (queued, ringing, in progress).
    pub open_only: bool,
    /// Due at or after.
    pub from: Option<OffsetDateTime>,
    /// Due before.
    pub to: Option<OffsetDateTime>,
    pub limit: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    interaction_id: i64,
    tenant_id: i64,
    customer_id: Option<i64>,
    customer_name: Option<String>,
    queue_id: Option<i64>,
    agent_id: Option<i64>,
    number: String,
    due_at: i64,
    note: String,
    origin_interaction_id: Option<i64>,
    state: String,
    created_by: String,
    created_at: i64,
}

const SELECT: &str =
    "SELECT c.interaction_id, c.tenant_id, i.customer_id, cu.name AS customer_name,
        i.queue_id, c.agent_id, c.number, c.due_at, c.note, c.origin_interaction_id, i.state,
        c.created_by, i.created_at
    FROM callbacks c JOIN interactions i ON i.id = c.interaction_id
    LEFT JOIN customers cu ON cu.id = i.customer_id";

/// States of a callback that is over.
const FINAL: &str = "('closed', 'abandoned', 'failed')";

impl TryFrom<Row> for ScheduledCallback {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(ScheduledCallback {
            interaction_id: r.interaction_id,
            tenant_id: r.tenant_id,
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            queue_id: r.queue_id.unwrap_or_default(),
            agent_id: r.agent_id,
            number: r.number,
            due_at: from_ms(r.due_at),
            note: r.note,
            origin_interaction_id: r.origin_interaction_id,
            state: r.state.parse()?,
            created_by: r.created_by,
            created_at: from_ms(r.created_at),
        })
    }
}

impl Store {
    /// Books a callback: its interaction, its first timeline event and its row, together.
    pub async fn schedule_callback(
        &self,
        tenant_id: i64,
        new: &NewCallback,
        actor: &str,
    ) -> Result<ScheduledCallback> {
        self.check_refs(
            tenant_id,
            &[
                ("customers", "customer_id", new.customer_id),
                ("queues", "queue_id", Some(new.queue_id)),
                ("agents", "agent_id", new.agent_id),
                (
                    "interactions",
                    "origin_interaction_id",
                    new.origin_interaction_id,
                ),
            ],
        )
        .await?;
        let number = validate::required_text("number", &new.number, 32)?;
        let note = validate::long_text("note", &new.note, 4096)?;
        let actor = validate::required_text("actor", actor, 200)?;
        let at = now_ms();
        let due = to_ms(new.due_at);
        let created =
            json!({"channel": "voice", "direction": "outbound", "state": "queued"}).to_string();
        let scheduled = json!({
            "due_at": new.due_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "agent_id": new.agent_id,
            "number": number,
            "note": note,
            "origin_interaction_id": new.origin_interaction_id,
        })
        .to_string();
        let id = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO interactions (tenant_id, channel, direction, state, customer_id, queue_id, agent_id,
                    subject, notes, created_at, answered_at, ended_at)
                 VALUES ($1, 'voice', 'outbound', 'queued', $2, $3, $4, NULL, $5, $6, NULL, NULL) RETURNING id")
                .bind(tenant_id).bind(new.customer_id).bind(new.queue_id).bind(new.agent_id).bind(&note).bind(at)
                .fetch_one(&mut *tx).await?;
            for (kind, data) in [("created", &created), ("callback.scheduled", &scheduled)] {
                sqlx::query(crate::interactions::APPEND_SQL)
                    .bind(tenant_id).bind(id).bind(at).bind(kind).bind(&actor).bind(data)
                    .fetch_one(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO callbacks (interaction_id, tenant_id, agent_id, number, due_at, note,
                    origin_interaction_id, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(id).bind(tenant_id).bind(new.agent_id).bind(&number).bind(due).bind(&note)
                .bind(new.origin_interaction_id).bind(&actor)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        })?;
        self.callback(tenant_id, id).await
    }

    pub async fn callback(&self, tenant_id: i64, interaction_id: i64) -> Result<ScheduledCallback> {
        let sql = format!("{SELECT} WHERE c.tenant_id = $1 AND c.interaction_id = $2");
        let row: Row = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(interaction_id).fetch_one(p).await)?;
        row.try_into()
    }

    /// Callbacks by due time, earliest first.
    pub async fn list_callbacks(
        &self,
        tenant_id: i64,
        f: &CallbackFilter,
    ) -> Result<Vec<ScheduledCallback>> {
        let open = if f.open_only {
            format!("AND i.state NOT IN {FINAL}")
        } else {
            String::new()
        };
        let sql = format!(
            "{SELECT} WHERE c.tenant_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR c.agent_id = $2)
             AND (CAST($3 AS BIGINT) IS NULL OR c.due_at >= $3) AND (CAST($4 AS BIGINT) IS NULL OR c.due_at < $4)
             {open} ORDER BY c.due_at, c.interaction_id LIMIT $5"
        );
        let rows: Vec<Row> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(f.agent_id).bind(f.from.map(to_ms)).bind(f.to.map(to_ms))
            .bind(f.limit.clamp(1, 1000))
            .fetch_all(p).await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Cancels a callback that is still waiting for its time or an agent: its interaction is
    /// closed with `callback.cancelled` on its timeline. One being dialled or done is refused
    /// (`callback_in_progress`, `callback_finished`).
    pub async fn cancel_callback(
        &self,
        tenant_id: i64,
        interaction_id: i64,
        actor: &str,
    ) -> Result<ScheduledCallback> {
        let actor = validate::required_text("actor", actor, 200)?;
        let current = self.callback(tenant_id, interaction_id).await?;
        if current.state.is_final() {
            return Err(StoreError::conflict(
                "callback_finished",
                "the callback is over already",
            ));
        }
        let at = now_ms();
        let changed = json!({"from": current.state, "to": InteractionState::Closed}).to_string();
        let done = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE interactions SET state = 'closed', ended_at = $3
                 WHERE tenant_id = $1 AND id = $2 AND state = 'queued'")
                .bind(tenant_id).bind(interaction_id).bind(at)
                .execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                for (kind, data) in [("callback.cancelled", "{}"), ("state_changed", changed.as_str())] {
                    sqlx::query(crate::interactions::APPEND_SQL)
                        .bind(tenant_id).bind(interaction_id).bind(at).bind(kind).bind(&actor).bind(data)
                        .fetch_one(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n == 1)
        })?;
        if !done {
            return Err(StoreError::conflict(
                "callback_in_progress",
                "the callback is being dialled; hang it up instead",
            ));
        }
        self.callback(tenant_id, interaction_id).await
    }
}
