//! Hotline storage: the only crate that knows SQL.
//!
//! - [`Store`]: a pool on SQLite (embedded, the default) or PostgreSQL, chosen by URL.
//! - [`migrate`]: schema migrations, one folder per dialect (`migrations/sqlite`, `migrations/postgres`).
//! - Repositories, one file per entity family: [`tenants`], [`users`] (people, sessions, API
//!   tokens), [`agents`], [`catalog`] (queues, dispositions, scripts), [`customers`],
//!   [`interactions`] (and their append-only timeline), [`messages`] (mailboxes, e-mails and
//!   their attachments).
//! - [`copy`]: move a whole installation between databases (SQLite → PostgreSQL and back).
//! - [`demo`]: the demo tenant `hotline serve --demo` starts with.
//!
//! Every repository method that touches tenant data takes the tenant id and filters on it, so a
//! caller can never reach another tenant's rows by guessing an id.
//! Both dialects run the same SQL text wherever it is portable (`$1` placeholders, `RETURNING`);
//! the conformance suite in `tests/it` runs every method on both.

pub mod agents;
pub mod callbacks;
pub mod catalog;
pub mod copy;
pub mod customers;
pub mod demo;
pub mod dialplan;
pub mod flows;
pub mod interactions;
pub mod messages;
pub mod migrate;
mod reader;
pub mod registrations;
pub mod routing;
pub mod tenants;
mod timeline;
pub mod users;
pub mod web;

use hotline_model::InvalidInput;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

pub use agents::{AgentPatch, NewAgent};
pub use callbacks::{CallbackFilter, NewCallback};
pub use catalog::{DispositionPatch, NewDisposition, NewQueue, NewScript, QueuePatch, ScriptPatch};
pub use customers::{CustomerPatch, CustomerQuery, NewCustomer};
pub use interactions::{InteractionFilter, InteractionPatch, NewEvent, NewInteraction};
pub use messages::{InboundEmail, Ingested, NewAttachment, NewEmailAccount, NewOutbound};
pub use routing::{AgentEvent, NewAgentEvent};
pub use tenants::{NewTenant, TenantPatch};
pub use users::{Authenticated, NewUser, UserPatch};
pub use web::{ChatLine, NewSite, OpenedChat, Visitor};

/// Which SQL dialect a store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness or state rule refused the write; `code` is stable for API clients.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("database unreachable: {0}")]
    Unavailable(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    BadUrl(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database read error: {0}")]
    Sqlite(rusqlite::Error),
}

impl StoreError {
    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::conflict(
                "already_exists",
                "an object with the same unique key already exists",
            ),
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::conflict(
                "reference_conflict",
                "the object refers to a missing object, or other objects still refer to it",
            ),
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Database(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code on whichever pool the store holds. Inside, `$p` is a `&SqlitePool` or a
/// `&PgPool`; the body is compiled once per dialect, written once. The body runs in an async
/// block, so `?` inside it stays inside it: the caller maps the `sqlx::Error` it yields.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($p) => async { $body }.await,
            $crate::Pool::Postgres($p) => async { $body }.await,
        }
    };
}
pub(crate) use on_pool;

/// Like [`on_pool!`], for code that writes. On a SQLite file every write goes through one
/// connection of its own, so writers queue in order in the process instead of meeting
/// `SQLITE_BUSY` and sleeping in SQLite's busy handler (which backs off in steps up to 100 ms:
/// under many concurrent writers, a write then takes seconds). Readers keep the shared pool
/// (WAL lets them read while the writer writes). On PostgreSQL it is the one pool.
macro_rules! on_writer {
    ($store:expr, $p:ident => $body:expr) => {
        match (&$store.pool, &$store.writer) {
            (_, Some($p)) => async { $body }.await,
            ($crate::Pool::Sqlite($p), None) => async { $body }.await,
            ($crate::Pool::Postgres($p), None) => async { $body }.await,
        }
    };
}
pub(crate) use on_writer;

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    /// On a SQLite file: the one connection every write goes through (see [`on_writer!`]).
    pub(crate) writer: Option<SqlitePool>,
    /// The synchronous read path for caller look-ups, on a SQLite file.
    pub(crate) reader: Option<std::sync::Arc<reader::SqliteReader>>,
    /// The timeline's group-commit writer; `None` inside the writer itself.
    pub(crate) group_commit: Option<std::sync::Arc<timeline::GroupCommit>>,
}

/// Options for [`Store::connect`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl Store {
    /// Opens `sqlite://PATH` (created when missing; WAL, foreign keys on) or `postgres://...`.
    /// Fails with [`StoreError::Unavailable`] when the server cannot be reached in time.
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Store> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| StoreError::BadUrl(url.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // A bigger page cache per connection and memory-mapped reads keep look-ups among
                // millions of customers off the disk path.
                .pragma("cache_size", "-16384")
                .pragma("mmap_size", "268435456");
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let file = options.get_filename().to_path_buf();
            let writer = if in_memory {
                None
            } else {
                Some(
                    SqlitePoolOptions::new()
                        .test_before_acquire(false)
                        .max_connections(1)
                        .min_connections(1)
                        .acquire_timeout(opts.acquire_timeout)
                        .connect_with(options.clone())
                        .await
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?,
                )
            };
            let pool = SqlitePoolOptions::new()
                // sqlx pings every connection it hands out unless told not to: a second round
                // trip per query. A broken connection fails its query instead, and is dropped.
                .test_before_acquire(false)
                // An in-memory database lives in one connection.
                .max_connections(if in_memory { 1 } else { opts.max_connections })
                .min_connections(1)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let reader =
                (!in_memory).then(|| std::sync::Arc::new(reader::SqliteReader::new(&file)));
            return Ok(Store {
                pool: Pool::Sqlite(pool),
                writer,
                reader,
                group_commit: None,
            }
            .with_group_commit());
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options =
                PgConnectOptions::from_str(url).map_err(|_| StoreError::BadUrl(url.to_string()))?;
            Self::connect_pg(options, opts).await?
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        Ok(Store {
            pool,
            writer: None,
            reader: None,
            group_commit: None,
        }
        .with_group_commit())
    }

    /// Opens PostgreSQL with explicit options (tests use this to pin a schema per test).
    pub async fn connect_postgres(
        options: PgConnectOptions,
        opts: &ConnectOptions,
    ) -> Result<Store> {
        let pool = Self::connect_pg(options, opts).await?;
        Ok(Store {
            pool,
            writer: None,
            reader: None,
            group_commit: None,
        }
        .with_group_commit())
    }

    async fn connect_pg(options: PgConnectOptions, opts: &ConnectOptions) -> Result<Pool> {
        let pool = PgPoolOptions::new()
            .test_before_acquire(false)
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Pool::Postgres(pool))
    }

    pub fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    fn with_group_commit(mut self) -> Store {
        self.group_commit = Some(std::sync::Arc::new(timeline::GroupCommit::start(
            self.clone(),
        )));
        self
    }

    /// Commits the timeline appends still queued, waits for queries in flight, then closes
    /// every connection (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        if let Some(g) = &self.group_commit {
            g.stop().await;
        }
        if let Some(w) = &self.writer {
            w.close().await;
        }
        on_pool!(self, p => p.close().await);
    }

    /// Refreshes the planner's statistics (and, on PostgreSQL, the visibility map) after a bulk
    /// import, so that the first queries after it are planned and run as on a settled database.
    pub async fn analyze(&self) -> Result<()> {
        let sql = match self.dialect() {
            Dialect::Sqlite => "ANALYZE",
            Dialect::Postgres => "VACUUM ANALYZE",
        };
        on_writer!(self, p => sqlx::query(sql).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Runs one statement as given. Only for tests that prove the schema's own guards (for
    /// example that the timeline refuses UPDATE); application code uses the repositories.
    #[doc(hidden)]
    pub async fn execute_unchecked(&self, sql: &str) -> Result<u64> {
        Ok(on_writer!(self, p => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()))?)
    }

    /// Connections in use and idle, for metrics.
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.pool {
            Pool::Sqlite(p) => (p.size(), p.num_idle()),
            Pool::Postgres(p) => (p.size(), p.num_idle()),
        }
    }
}

/// UTC milliseconds since the epoch: how every timestamp is stored, in both dialects.
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern and wraps it in `%...%`.
pub(crate) fn like_contains(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// `$start, $start+1, ...` for `n` values: the placeholders of an `IN (...)` list.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A page of results with the total the filter matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}
