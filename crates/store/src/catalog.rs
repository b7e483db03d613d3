//! The tenant's catalogue: queues, dispositions (outcomes an agent records) and scripts (the
//! client company's instructions, Markdown, optionally tied to a queue).

use crate::{from_ms, now_ms, on_pool, on_writer, Result, Store, StoreError};
use hotline_model::{validate, Channel, Disposition, InvalidInput, Queue, Script};

#[derive(Debug, Clone)]
pub struct NewQueue {
    pub name: String,
    pub channels: Vec<Channel>,
    pub service_level_seconds: i32,
    pub service_level_target: i32,
    pub priority: i32,
    pub wrap_up_seconds: i32,
    pub disposition_required: bool,
}

#[derive(Debug, Clone, Default)]
pub struct QueuePatch {
    pub name: Option<String>,
    pub channels: Option<Vec<Channel>>,
    pub service_level_seconds: Option<i32>,
    pub service_level_target: Option<i32>,
    pub priority: Option<i32>,
    pub wrap_up_seconds: Option<i32>,
    pub disposition_required: Option<bool>,
}

#[derive(sqlx::FromRow)]
struct QueueRow {
    id: i64,
    tenant_id: i64,
    name: String,
    channels: String,
    service_level_seconds: i64,
    service_level_target: i64,
    priority: i64,
    wrap_up_seconds: i64,
    disposition_required: bool,
    created_at: i64,
}

const QUEUE_COLUMNS: &str = "id, tenant_id, name, channels, service_level_seconds, service_level_target, priority, wrap_up_seconds, disposition_required, created_at";

impl TryFrom<QueueRow> for Queue {
    type Error = StoreError;
    fn try_from(r: QueueRow) -> Result<Self> {
        let channels = r
            .channels
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Channel>, _>>()?;
        let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(Queue {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            channels,
            service_level_seconds: int(r.service_level_seconds),
            service_level_target: int(r.service_level_target),
            priority: int(r.priority),
            wrap_up_seconds: int(r.wrap_up_seconds),
            disposition_required: r.disposition_required,
            created_at: from_ms(r.created_at),
        })
    }
}

fn check_queue(q: &NewQueue) -> Result<NewQueue, InvalidInput> {
    let name = validate::required_text("name", &q.name, 200)?;
    if q.channels.is_empty() {
        return Err(InvalidInput::new(
            "channels",
            "a queue accepts at least one channel",
        ));
    }
    let mut channels = q.channels.clone();
    channels.sort();
    channels.dedup();
    let range = |field: &str, v: i32, lo: i32, hi: i32| {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(InvalidInput::new(field, format!("must be {lo} to {hi}")))
        }
    };
    Ok(NewQueue {
        name,
        channels,
        service_level_seconds: range("service_level_seconds", q.service_level_seconds, 1, 86_400)?,
        service_level_target: range("service_level_target", q.service_level_target, 1, 100)?,
        priority: range("priority", q.priority, -1000, 1000)?,
        wrap_up_seconds: range("wrap_up_seconds", q.wrap_up_seconds, 0, 3600)?,
        disposition_required: q.disposition_required,
    })
}

fn channels_text(channels: &[Channel]) -> String {
    channels
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn named_conflict(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match StoreError::from(e) {
        StoreError::Conflict {
            code: "already_exists",
            ..
        } => StoreError::conflict("name_taken", format!("a {what} with that name exists")),
        StoreError::Conflict {
            code: "reference_conflict",
            ..
        } => StoreError::conflict("in_use", format!("other objects refer to this {what}")),
        other => other,
    }
}

impl Store {
    pub async fn create_queue(&self, tenant_id: i64, new: &NewQueue) -> Result<Queue> {
        let q = check_queue(new)?;
        let sql = format!(
            "INSERT INTO queues (tenant_id, name, channels, service_level_seconds, service_level_target,
                priority, wrap_up_seconds, disposition_required, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {QUEUE_COLUMNS}"
        );
        let row: QueueRow = on_writer!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(&q.name).bind(channels_text(&q.channels))
            .bind(i64::from(q.service_level_seconds)).bind(i64::from(q.service_level_target))
            .bind(i64::from(q.priority)).bind(i64::from(q.wrap_up_seconds)).bind(q.disposition_required)
            .bind(now_ms()).fetch_one(p).await)
        .map_err(named_conflict("queue"))?;
        row.try_into()
    }

    pub async fn get_queue(&self, tenant_id: i64, id: i64) -> Result<Queue> {
        let sql = format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE tenant_id = $1 AND id = $2");
        let row: QueueRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(id).fetch_one(p).await)?;
        row.try_into()
    }

    pub async fn list_queues(&self, tenant_id: i64) -> Result<Vec<Queue>> {
        let sql = format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE tenant_id = $1 ORDER BY id");
        let rows: Vec<QueueRow> =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).fetch_all(p).await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn update_queue(&self, tenant_id: i64, id: i64, patch: &QueuePatch) -> Result<Queue> {
        let c = self.get_queue(tenant_id, id).await?;
        let q = check_queue(&NewQueue {
            name: patch.name.clone().unwrap_or(c.name),
            channels: patch.channels.clone().unwrap_or(c.channels),
            service_level_seconds: patch
                .service_level_seconds
                .unwrap_or(c.service_level_seconds),
            service_level_target: patch.service_level_target.unwrap_or(c.service_level_target),
            priority: patch.priority.unwrap_or(c.priority),
            wrap_up_seconds: patch.wrap_up_seconds.unwrap_or(c.wrap_up_seconds),
            disposition_required: patch.disposition_required.unwrap_or(c.disposition_required),
        })?;
        let sql = format!(
            "UPDATE queues SET name = $3, channels = $4, service_level_seconds = $5, service_level_target = $6,
                priority = $7, wrap_up_seconds = $8, disposition_required = $9
             WHERE tenant_id = $1 AND id = $2 RETURNING {QUEUE_COLUMNS}"
        );
        let row: QueueRow = on_writer!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(id).bind(&q.name).bind(channels_text(&q.channels))
            .bind(i64::from(q.service_level_seconds)).bind(i64::from(q.service_level_target))
            .bind(i64::from(q.priority)).bind(i64::from(q.wrap_up_seconds)).bind(q.disposition_required)
            .fetch_one(p).await)
        .map_err(named_conflict("queue"))?;
        row.try_into()
    }

    /// Deletes a queue no interaction refers to.
    pub async fn delete_queue(&self, tenant_id: i64, id: i64) -> Result<()> {
        self.delete_row("queues", "queue", tenant_id, id).await
    }

    async fn delete_row(
        &self,
        table: &'static str,
        what: &'static str,
        tenant_id: i64,
        id: i64,
    ) -> Result<()> {
        let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND id = $2");
        let r = on_writer!(self, p => sqlx::query(&sql).bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))
            .map_err(named_conflict(what))?;
        if r == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn create_disposition(
        &self,
        tenant_id: i64,
        new: &NewDisposition,
    ) -> Result<Disposition> {
        let code = validate::token("code", &new.code, 64)?;
        let name = validate::required_text("name", &new.name, 200)?;
        let row: DispositionRow = on_writer!(self, p => sqlx::query_as(
            "INSERT INTO dispositions (tenant_id, code, name, active) VALUES ($1, $2, $3, $4)
             RETURNING id, tenant_id, code, name, active")
            .bind(tenant_id).bind(&code).bind(&name).bind(new.active).fetch_one(p).await)
        .map_err(named_conflict("disposition"))?;
        Ok(row.into())
    }

    pub async fn get_disposition(&self, tenant_id: i64, id: i64) -> Result<Disposition> {
        let row: DispositionRow = on_pool!(self, p => sqlx::query_as(
            "SELECT id, tenant_id, code, name, active FROM dispositions WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id).bind(id).fetch_one(p).await)?;
        Ok(row.into())
    }

    pub async fn list_dispositions(&self, tenant_id: i64) -> Result<Vec<Disposition>> {
        let rows: Vec<DispositionRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, tenant_id, code, name, active FROM dispositions WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant_id).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn update_disposition(
        &self,
        tenant_id: i64,
        id: i64,
        patch: &DispositionPatch,
    ) -> Result<Disposition> {
        let c = self.get_disposition(tenant_id, id).await?;
        let name = match &patch.name {
            Some(n) => validate::required_text("name", n, 200)?,
            None => c.name,
        };
        let row: DispositionRow = on_writer!(self, p => sqlx::query_as(
            "UPDATE dispositions SET name = $3, active = $4 WHERE tenant_id = $1 AND id = $2
             RETURNING id, tenant_id, code, name, active")
            .bind(tenant_id).bind(id).bind(&name).bind(patch.active.unwrap_or(c.active))
            .fetch_one(p).await)?;
        Ok(row.into())
    }

    /// Deletes a disposition no interaction used; a used one can be deactivated instead.
    pub async fn delete_disposition(&self, tenant_id: i64, id: i64) -> Result<()> {
        self.delete_row("dispositions", "disposition", tenant_id, id)
            .await
    }

    pub async fn create_script(&self, tenant_id: i64, new: &NewScript) -> Result<Script> {
        let title = validate::required_text("title", &new.title, 200)?;
        let body = validate::long_text("body_markdown", &new.body_markdown, 256 * 1024)?;
        if let Some(q) = new.queue_id {
            self.get_queue(tenant_id, q)
                .await
                .map_err(|_| InvalidInput::new("queue_id", "no such queue"))?;
        }
        let row: ScriptRow = on_writer!(self, p => sqlx::query_as(
            "INSERT INTO scripts (tenant_id, queue_id, title, body_markdown, updated_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING id, tenant_id, queue_id, title, body_markdown, updated_at")
            .bind(tenant_id).bind(new.queue_id).bind(&title).bind(&body).bind(now_ms()).fetch_one(p).await)?;
        Ok(row.into())
    }

    pub async fn get_script(&self, tenant_id: i64, id: i64) -> Result<Script> {
        let row: ScriptRow = on_pool!(self, p => sqlx::query_as(
            "SELECT id, tenant_id, queue_id, title, body_markdown, updated_at FROM scripts
             WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id).bind(id).fetch_one(p).await)?;
        Ok(row.into())
    }

    /// Scripts of a tenant, optionally only those of one queue.
    pub async fn list_scripts(&self, tenant_id: i64, queue_id: Option<i64>) -> Result<Vec<Script>> {
        let rows: Vec<ScriptRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, tenant_id, queue_id, title, body_markdown, updated_at FROM scripts
             WHERE tenant_id = $1 AND ($2 IS NULL OR queue_id = $2) ORDER BY id")
            .bind(tenant_id).bind(queue_id).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn update_script(
        &self,
        tenant_id: i64,
        id: i64,
        patch: &ScriptPatch,
    ) -> Result<Script> {
        let c = self.get_script(tenant_id, id).await?;
        let title = match &patch.title {
            Some(t) => validate::required_text("title", t, 200)?,
            None => c.title,
        };
        let body = match &patch.body_markdown {
            Some(b) => validate::long_text("body_markdown", b, 256 * 1024)?,
            None => c.body_markdown,
        };
        let queue_id = match patch.queue_id {
            Some(Some(q)) => {
                self.get_queue(tenant_id, q)
                    .await
                    .map_err(|_| InvalidInput::new("queue_id", "no such queue"))?;
                Some(q)
            }
            Some(None) => None,
            None => c.queue_id,
        };
        let row: ScriptRow = on_writer!(self, p => sqlx::query_as(
            "UPDATE scripts SET title = $3, body_markdown = $4, queue_id = $5, updated_at = $6
             WHERE tenant_id = $1 AND id = $2
             RETURNING id, tenant_id, queue_id, title, body_markdown, updated_at")
            .bind(tenant_id).bind(id).bind(&title).bind(&body).bind(queue_id).bind(now_ms())
            .fetch_one(p).await)?;
        Ok(row.into())
    }

    pub async fn delete_script(&self, tenant_id: i64, id: i64) -> Result<()> {
        self.delete_row("scripts", "script", tenant_id, id).await
    }
}

#[derive(Debug, Clone)]
pub struct NewDisposition {
    pub code: String,
    pub name: String,
    pub active: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DispositionPatch {
    pub name: Option<String>,
    pub active: Option<bool>,
}

#[derive(sqlx::FromRow)]
struct DispositionRow {
    id: i64,
    tenant_id: i64,
    code: String,
    name: String,
    active: bool,
}

impl From<DispositionRow> for Disposition {
    fn from(r: DispositionRow) -> Self {
        Disposition {
            id: r.id,
            tenant_id: r.tenant_id,
            code: r.code,
            name: r.name,
            active: r.active,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewScript {
    pub queue_id: Option<i64>,
    pub title: String,
    pub body_markdown: String,
}

#[derive(Debug, Clone, Default)]
pub struct ScriptPatch {
    /// `Some(None)` detaches the script from its queue.
    pub queue_id: Option<Option<i64>>,
    pub title: Option<String>,
    pub body_markdown: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ScriptRow {
    id: i64,
    tenant_id: i64,
    queue_id: Option<i64>,
    title: String,
    body_markdown: String,
    updated_at: i64,
}

impl From<ScriptRow> for Script {
    fn from(r: ScriptRow) -> Self {
        Script {
            id: r.id,
            tenant_id: r.tenant_id,
            queue_id: r.queue_id,
            title: r.title,
            body_markdown: r.body_markdown,
            updated_at: from_ms(r.updated_at),
        }
    }
}
