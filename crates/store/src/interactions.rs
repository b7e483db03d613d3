//! Interactions (one contact on one channel) and their append-only timeline of events.
//!
//! Every change made through [`Store::update_interaction`] also appends the events that describe
//! it, in the same transaction, so the timeline is the complete story. Events are never updated
//! or deleted (triggers in both dialects refuse it).

use crate::{
    from_ms, now_ms, on_pool, on_writer, placeholders, to_ms, Page, Result, Store, StoreError,
};
use hotline_model::{
    validate, Channel, Customer, CustomerCard, Direction, Interaction, InteractionEvent,
    InteractionState, InvalidInput, TimelineEntry,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct NewInteraction {
    pub channel: Channel,
    pub direction: Direction,
    pub state: InteractionState,
    pub customer_id: Option<i64>,
    pub queue_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub subject: Option<String>,
    pub notes: String,
    /// When it began; now when not given (imports and demo data give it).
    pub created_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default)]
pub struct InteractionPatch {
    pub state: Option<InteractionState>,
    /// `Some(None)` clears the reference.
    pub customer_id: Option<Option<i64>>,
    pub queue_id: Option<Option<i64>>,
    pub agent_id: Option<Option<i64>>,
    pub disposition_id: Option<Option<i64>>,
    pub subject: Option<String>,
    pub notes: Option<String>,
    pub recording_ref: Option<String>,
    /// When the change happened; now when not given.
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: String,
    pub actor: String,
    pub data: Value,
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default)]
pub struct InteractionFilter {
    pub customer_id: Option<i64>,
    pub queue_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub disposition_id: Option<i64>,
    pub state: Option<InteractionState>,
    pub channel: Option<Channel>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(sqlx::FromRow)]
struct InteractionRow {
    id: i64,
    tenant_id: i64,
    channel: String,
    direction: String,
    state: String,
    customer_id: Option<i64>,
    queue_id: Option<i64>,
    agent_id: Option<i64>,
    disposition_id: Option<i64>,
    subject: Option<String>,
    notes: String,
    recording_ref: Option<String>,
    created_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
}

const COLUMNS: &str = "id, tenant_id, channel, direction, state, customer_id, queue_id, agent_id, disposition_id, subject, notes, recording_ref, created_at, answered_at, ended_at";

impl TryFrom<InteractionRow> for Interaction {
    type Error = StoreError;
    fn try_from(r: InteractionRow) -> Result<Self> {
        Ok(Interaction {
            id: r.id,
            tenant_id: r.tenant_id,
            channel: r.channel.parse()?,
            direction: r.direction.parse()?,
            state: r.state.parse()?,
            customer_id: r.customer_id,
            queue_id: r.queue_id,
            agent_id: r.agent_id,
            disposition_id: r.disposition_id,
            subject: r.subject,
            notes: r.notes,
            recording_ref: r.recording_ref,
            created_at: from_ms(r.created_at),
            answered_at: r.answered_at.map(from_ms),
            ended_at: r.ended_at.map(from_ms),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub(crate) id: i64,
    pub(crate) interaction_id: i64,
    pub(crate) at: i64,
    pub(crate) kind: String,
    pub(crate) actor: String,
    pub(crate) data: String,
}

impl From<EventRow> for InteractionEvent {
    fn from(r: EventRow) -> Self {
        InteractionEvent {
            id: r.id,
            interaction_id: r.interaction_id,
            at: from_ms(r.at),
            kind: r.kind,
            actor: r.actor,
            data: serde_json::from_str(&r.data).unwrap_or(Value::Null),
        }
    }
}

const MAX_EVENT_DATA: usize = 16 * 1024;

fn check_event(e: &NewEvent) -> Result<(String, String, String), InvalidInput> {
    let kind = validate::token("kind", &e.kind, 64)?;
    let actor = validate::required_text("actor", &e.actor, 200)?;
    if !matches!(e.data, Value::Object(_) | Value::Null) {
        return Err(InvalidInput::new("data", "event data is a JSON object"));
    }
    let data = serde_json::to_string(&e.data).unwrap_or_else(|_| "{}".into());
    if data.len() > MAX_EVENT_DATA {
        return Err(InvalidInput::new(
            "data",
            format!("event data is at most {MAX_EVENT_DATA} bytes"),
        ));
    }
    Ok((kind, actor, data))
}

/// Events per multi-row INSERT: 5 parameters each stays far below both dialects' limits.
pub(crate) const APPEND_CHUNK: usize = 500;

/// One INSERT for `n` events; `$1` is the tenant, then (interaction, at, kind, actor, data) per
/// event. The join on `interactions` keeps out events for another tenant's interactions.
fn append_many_sql(n: usize) -> String {
    let mut values = String::with_capacity(n * 32);
    for k in 0..n {
        let b = 2 + k * 5;
        if k > 0 {
            values.push_str(", ");
        }
        // The last column is the event's position: rows are inserted in that order, so the
        // ascending ids pair with the events as given.
        values.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, {k})",
            b,
            b + 1,
            b + 2,
            b + 3,
            b + 4
        ));
    }
    format!(
        "INSERT INTO interaction_events (tenant_id, interaction_id, at, kind, actor, data)
         SELECT $1, i.id, v.column2, v.column3, v.column4, v.column5
         FROM (VALUES {values}) AS v JOIN interactions i ON i.id = v.column1 AND i.tenant_id = $1
         ORDER BY v.column6
         RETURNING id"
    )
}

pub(crate) const APPEND_SQL: &str =
    "INSERT INTO interaction_events (tenant_id, interaction_id, at, kind, actor, data)
    SELECT $1, id, $3, $4, $5, $6 FROM interactions WHERE tenant_id = $1 AND id = $2 RETURNING id";

impl Store {
    /// Checks that every referenced object exists in this tenant (foreign keys alone would let a
    /// tenant point at another tenant's rows).
    pub(crate) async fn check_refs(
        &self,
        tenant_id: i64,
        refs: &[(&'static str, &'static str, Option<i64>)],
    ) -> Result<()> {
        for (table, field, id) in refs {
            let Some(id) = id else { continue };
            let sql = format!("SELECT id FROM {table} WHERE tenant_id = $1 AND id = $2");
            let found: Option<(i64,)> = on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(*id).fetch_optional(p).await)?;
            if found.is_none() {
                return Err(InvalidInput::new(*field, format!("no such object: {id}")).into());
            }
        }
        Ok(())
    }

    pub async fn create_interaction(
        &self,
        tenant_id: i64,
        new: &NewInteraction,
        actor: &str,
    ) -> Result<(Interaction, InteractionEvent)> {
        self.check_refs(
            tenant_id,
            &[
                ("customers", "customer_id", new.customer_id),
                ("queues", "queue_id", new.queue_id),
                ("agents", "agent_id", new.agent_id),
            ],
        )
        .await?;
        let subject = new
            .subject
            .as_deref()
            .map(|s| validate::optional_text("subject", s, 500))
            .transpose()?
            .flatten();
        let notes = validate::long_text("notes", &new.notes, 64 * 1024)?;
        let actor = validate::required_text("actor", actor, 200)?;
        let at = new.created_at.map_or_else(now_ms, to_ms);
        let ended = new.state.is_final().then_some(at);
        let answered = matches!(
            new.state,
            InteractionState::Active | InteractionState::Held | InteractionState::WrapUp
        )
        .then_some(at);
        let data = json!({"channel": new.channel, "direction": new.direction, "state": new.state})
            .to_string();
        let sql = format!(
            "INSERT INTO interactions (tenant_id, channel, direction, state, customer_id, queue_id, agent_id,
                subject, notes, created_at, answered_at, ended_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {COLUMNS}"
        );
        let (row, event_id) = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let row: InteractionRow = sqlx::query_as(&sql)
                .bind(tenant_id).bind(new.channel.as_str()).bind(new.direction.as_str()).bind(new.state.as_str())
                .bind(new.customer_id).bind(new.queue_id).bind(new.agent_id).bind(&subject).bind(&notes)
                .bind(at).bind(answered).bind(ended)
                .fetch_one(&mut *tx).await?;
            let (event_id,): (i64,) = sqlx::query_as(APPEND_SQL)
                .bind(tenant_id).bind(row.id).bind(at).bind("created").bind(&actor).bind(&data)
                .fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((row, event_id))
        })?;
        let interaction: Interaction = row.try_into()?;
        let event = InteractionEvent {
            id: event_id,
            interaction_id: interaction.id,
            at: from_ms(at),
            kind: "created".into(),
            actor,
            data: serde_json::from_str(&data).unwrap_or(Value::Null),
        };
        Ok((interaction, event))
    }

    pub async fn get_interaction(&self, tenant_id: i64, id: i64) -> Result<Interaction> {
        let sql = format!("SELECT {COLUMNS} FROM interactions WHERE tenant_id = $1 AND id = $2");
        let row: InteractionRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(id).fetch_one(p).await)?;
        row.try_into()
    }

    pub async fn list_interactions(
        &self,
        tenant_id: i64,
        f: &InteractionFilter,
    ) -> Result<Page<Interaction>> {
        let filter = "tenant_id = $1 AND ($2 IS NULL OR customer_id = $2) AND ($3 IS NULL OR queue_id = $3)
            AND ($4 IS NULL OR agent_id = $4) AND ($5 IS NULL OR disposition_id = $5) AND ($6 IS NULL OR state = $6)
            AND ($7 IS NULL OR channel = $7) AND ($8 IS NULL OR created_at >= $8) AND ($9 IS NULL OR created_at < $9)";
        let state = f.state.map(|s| s.as_str());
        let channel = f.channel.map(|c| c.as_str());
        let (from, to) = (f.from.map(to_ms), f.to.map(to_ms));
        let count_sql = format!("SELECT COUNT(*) FROM interactions WHERE {filter}");
        let page_sql = format!("SELECT {COLUMNS} FROM interactions WHERE {filter} ORDER BY created_at DESC, id DESC LIMIT $10 OFFSET $11");
        let (total,): (i64,) = on_pool!(self, p => sqlx::query_as(&count_sql)
            .bind(tenant_id).bind(f.customer_id).bind(f.queue_id).bind(f.agent_id).bind(f.disposition_id)
            .bind(state).bind(channel).bind(from).bind(to)
            .fetch_one(p).await)?;
        let rows: Vec<InteractionRow> = on_pool!(self, p => sqlx::query_as(&page_sql)
            .bind(tenant_id).bind(f.customer_id).bind(f.queue_id).bind(f.agent_id).bind(f.disposition_id)
            .bind(state).bind(channel).bind(from).bind(to).bind(f.limit).bind(f.offset)
            .fetch_all(p).await)?;
        let items = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total,
            limit: f.limit,
            offset: f.offset,
        })
    }

    /// Applies a change and appends the events that tell it, in one transaction. Returns the
    /// interaction as it now is and the new events.
    pub async fn update_interaction(
        &self,
        tenant_id: i64,
        id: i64,
        patch: &InteractionPatch,
        actor: &str,
    ) -> Result<(Interaction, Vec<InteractionEvent>)> {
        let actor = validate::required_text("actor", actor, 200)?;
        let cur = self.get_interaction(tenant_id, id).await?;
        self.check_refs(
            tenant_id,
            &[
                ("customers", "customer_id", patch.customer_id.flatten()),
                ("queues", "queue_id", patch.queue_id.flatten()),
                ("agents", "agent_id", patch.agent_id.flatten()),
                (
                    "dispositions",
                    "disposition_id",
                    patch.disposition_id.flatten(),
                ),
            ],
        )
        .await?;
        let at = patch.at.map_or_else(now_ms, to_ms);
        let mut next = cur.clone();
        let mut events: Vec<(&'static str, Value)> = Vec::new();
        if let Some(state) = patch.state.filter(|s| *s != cur.state) {
            if cur.state.is_final() {
                return Err(StoreError::conflict(
                    "interaction_closed",
                    format!("the interaction is {}; its state cannot change", cur.state),
                ));
            }
            next.state = state;
            if matches!(state, InteractionState::Active) && next.answered_at.is_none() {
                next.answered_at = Some(from_ms(at));
            }
            if state.is_final() {
                next.ended_at = Some(from_ms(at));
            }
            events.push(("state_changed", json!({"from": cur.state, "to": state})));
        }
        if let Some(v) = patch.customer_id.filter(|v| *v != cur.customer_id) {
            next.customer_id = v;
            events.push(("customer_linked", json!({"customer_id": v})));
        }
        if let Some(v) = patch.queue_id.filter(|v| *v != cur.queue_id) {
            next.queue_id = v;
            events.push(("queue_changed", json!({"from": cur.queue_id, "to": v})));
        }
        if let Some(v) = patch.agent_id.filter(|v| *v != cur.agent_id) {
            next.agent_id = v;
            events.push(("agent_assigned", json!({"agent_id": v})));
        }
        if let Some(v) = patch.disposition_id.filter(|v| *v != cur.disposition_id) {
            next.disposition_id = v;
            let code = match v {
                Some(d) => Some(self.get_disposition(tenant_id, d).await?.code),
                None => None,
            };
            events.push((
                "disposition_set",
                json!({"disposition_id": v, "code": code}),
            ));
        }
        if let Some(s) = &patch.subject {
            let s = validate::optional_text("subject", s, 500)?;
            if s != cur.subject {
                next.subject = s;
                events.push(("subject_changed", json!({})));
            }
        }
        if let Some(n) = &patch.notes {
            let n = validate::long_text("notes", n, 64 * 1024)?;
            if n != cur.notes {
                next.notes = n;
                events.push((
                    "notes_updated",
                    json!({"length": next.notes.chars().count()}),
                ));
            }
        }
        if let Some(r) = &patch.recording_ref {
            let r = validate::required_text("recording_ref", r, 1000)?;
            if Some(&r) != cur.recording_ref.as_ref() {
                next.recording_ref = Some(r.clone());
                events.push(("recording_attached", json!({"recording_ref": r})));
            }
        }
        if events.is_empty() {
            return Ok((cur, Vec::new()));
        }
        let ids = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            // Compare-and-set on the state: a concurrent state change makes this one fail cleanly.
            let r = sqlx::query(
                "UPDATE interactions SET state = $3, customer_id = $4, queue_id = $5, agent_id = $6, disposition_id = $7,
                    subject = $8, notes = $9, recording_ref = $10, answered_at = $11, ended_at = $12
                 WHERE tenant_id = $1 AND id = $2 AND state = $13")
                .bind(tenant_id).bind(id).bind(next.state.as_str()).bind(next.customer_id).bind(next.queue_id)
                .bind(next.agent_id).bind(next.disposition_id).bind(&next.subject).bind(&next.notes)
                .bind(&next.recording_ref).bind(next.answered_at.map(to_ms)).bind(next.ended_at.map(to_ms))
                .bind(cur.state.as_str())
                .execute(&mut *tx).await?;
            let mut ids = Vec::new();
            if r.rows_affected() == 1 {
                for (kind, data) in &events {
                    let (eid,): (i64,) = sqlx::query_as(APPEND_SQL)
                        .bind(tenant_id).bind(id).bind(at).bind(*kind).bind(&actor).bind(data.to_string())
                        .fetch_one(&mut *tx).await?;
                    ids.push(eid);
                }
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(ids)
        })?;
        if ids.is_empty() {
            return Err(StoreError::conflict(
                "concurrent_update",
                "the interaction changed meanwhile; read it again",
            ));
        }
        let new_events = ids
            .into_iter()
            .zip(events)
            .map(|(eid, (kind, data))| InteractionEvent {
                id: eid,
                interaction_id: id,
                at: from_ms(at),
                kind: kind.into(),
                actor: actor.clone(),
                data,
            })
            .collect();
        Ok((next, new_events))
    }

    /// Appends one event to an interaction's timeline.
    pub async fn append_event(
        &self,
        tenant_id: i64,
        interaction_id: i64,
        e: &NewEvent,
    ) -> Result<InteractionEvent> {
        check_event(e)?;
        if let Some(queue) = &self.group_commit {
            if let Some(result) = queue.append(tenant_id, interaction_id, e).await {
                return result;
            }
        }
        self.append_event_now(tenant_id, interaction_id, e).await
    }

    /// Appends one event in its own statement (the group-commit writer's fallback).
    pub(crate) async fn append_event_now(
        &self,
        tenant_id: i64,
        interaction_id: i64,
        e: &NewEvent,
    ) -> Result<InteractionEvent> {
        let (kind, actor, data) = check_event(e)?;
        let at = e.at.map_or_else(now_ms, to_ms);
        let row: Option<(i64,)> = on_writer!(self, p => sqlx::query_as(APPEND_SQL)
            .bind(tenant_id).bind(interaction_id).bind(at).bind(&kind).bind(&actor).bind(&data)
            .fetch_optional(p).await)?;
        let (id,) = row.ok_or(StoreError::NotFound)?;
        Ok(InteractionEvent {
            id,
            interaction_id,
            at: from_ms(at),
            kind,
            actor,
            data: e.data.clone(),
        })
    }

    /// Appends many events in one transaction (channel adapters flush bursts this way), several
    /// hundred rows per statement. All or nothing: an event for an interaction that is not this
    /// tenant's fails the whole batch. Returns the new event ids in ascending order.
    pub async fn append_events(
        &self,
        tenant_id: i64,
        batch: &[(i64, NewEvent)],
    ) -> Result<Vec<i64>> {
        let checked = batch
            .iter()
            .map(|(iid, e)| check_event(e).map(|c| (*iid, c, e.at.map_or_else(now_ms, to_ms))))
            .collect::<Result<Vec<_>, _>>()?;
        let chunks: Vec<_> = checked.chunks(APPEND_CHUNK).collect();
        let ids = on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let mut ids = Vec::with_capacity(checked.len());
            for chunk in &chunks {
                let sql = append_many_sql(chunk.len());
                let mut q = sqlx::query_as::<_, (i64,)>(&sql).bind(tenant_id);
                for (iid, (kind, actor, data), at) in chunk.iter() {
                    q = q.bind(*iid).bind(*at).bind(kind).bind(actor).bind(data);
                }
                let rows = q.fetch_all(&mut *tx).await?;
                let complete = rows.len() == chunk.len();
                ids.extend(rows.into_iter().map(|r| r.0));
                if !complete {
                    // Dropping the transaction rolls back what this batch wrote.
                    return Ok::<Option<Vec<i64>>, sqlx::Error>(None);
                }
            }
            tx.commit().await?;
            Ok(Some(ids))
        })?;
        let mut ids = ids.ok_or(StoreError::NotFound)?;
        ids.sort_unstable();
        Ok(ids)
    }

    pub async fn list_events(
        &self,
        tenant_id: i64,
        interaction_id: i64,
    ) -> Result<Vec<InteractionEvent>> {
        self.get_interaction(tenant_id, interaction_id).await?;
        Ok(self
            .events_of(tenant_id, &[interaction_id])
            .await?
            .remove(&interaction_id)
            .unwrap_or_default())
    }

    async fn events_of(
        &self,
        tenant_id: i64,
        ids: &[i64],
    ) -> Result<BTreeMap<i64, Vec<InteractionEvent>>> {
        let mut out: BTreeMap<i64, Vec<InteractionEvent>> = BTreeMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT id, interaction_id, at, kind, actor, data FROM interaction_events
             WHERE tenant_id = $1 AND interaction_id IN ({}) ORDER BY interaction_id, id",
            placeholders(2, ids.len())
        );
        let rows: Vec<EventRow> = on_pool!(self, p => {
            let mut q = sqlx::query_as(&sql).bind(tenant_id);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        for r in rows {
            out.entry(r.interaction_id).or_default().push(r.into());
        }
        Ok(out)
    }

    /// The customer card: the customer and its latest `limit` interactions on every channel,
    /// newest first, each with its timeline. A merged customer resolves to the survivor.
    pub async fn customer_card(
        &self,
        tenant_id: i64,
        customer_id: i64,
        limit: i64,
    ) -> Result<CustomerCard> {
        let customer = self.get_customer(tenant_id, customer_id).await?;
        let customer = self.follow_merges(tenant_id, customer).await?;
        self.card_of(tenant_id, customer, limit).await
    }

    /// The card of a customer already in hand (the screen pop has just looked it up): its latest
    /// `limit` interactions, newest first, with their events. Two queries, no count.
    pub async fn card_of(
        &self,
        tenant_id: i64,
        customer: Customer,
        limit: i64,
    ) -> Result<CustomerCard> {
        let sql = format!(
            "SELECT {COLUMNS} FROM interactions WHERE tenant_id = $1 AND customer_id = $2
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows: Vec<InteractionRow> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(customer.id).bind(limit).fetch_all(p).await)?;
        let items = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<Interaction>>>()?;
        let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
        let mut events = self.events_of(tenant_id, &ids).await?;
        let timeline = items
            .into_iter()
            .map(|interaction| TimelineEntry {
                events: events.remove(&interaction.id).unwrap_or_default(),
                interaction,
            })
            .collect();
        Ok(CustomerCard { customer, timeline })
    }
}
