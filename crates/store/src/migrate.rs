//! Schema migrations, applied at start-up and by `hotline migrate`.
//!
//! Each dialect has its own numbered SQL files with the same meaning. Applied versions are kept in
//! `hotline_migrations`; each migration runs in one transaction, so a failed one leaves nothing
//! half-done. On PostgreSQL an advisory lock keeps two starting nodes from migrating at once.

use crate::{on_pool, on_writer, Dialect, Result, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "routing",
        sqlite: include_str!("../migrations/sqlite/0002_routing.sql"),
        postgres: include_str!("../migrations/postgres/0002_routing.sql"),
    },
    Migration {
        version: 3,
        name: "sip",
        sqlite: include_str!("../migrations/sqlite/0003_sip.sql"),
        postgres: include_str!("../migrations/postgres/0003_sip.sql"),
    },
    Migration {
        version: 4,
        name: "dialplan",
        sqlite: include_str!("../migrations/sqlite/0004_dialplan.sql"),
        postgres: include_str!("../migrations/postgres/0004_dialplan.sql"),
    },
    Migration {
        version: 5,
        name: "services",
        sqlite: include_str!("../migrations/sqlite/0005_services.sql"),
        postgres: include_str!("../migrations/postgres/0005_services.sql"),
    },
    Migration {
        version: 6,
        name: "flows",
        sqlite: include_str!("../migrations/sqlite/0006_flows.sql"),
        postgres: include_str!("../migrations/postgres/0006_flows.sql"),
    },
    Migration {
        version: 7,
        name: "callbacks",
        sqlite: include_str!("../migrations/sqlite/0007_callbacks.sql"),
        postgres: include_str!("../migrations/postgres/0007_callbacks.sql"),
    },
    Migration {
        version: 8,
        name: "operator",
        sqlite: include_str!("../migrations/sqlite/0008_operator.sql"),
        postgres: include_str!("../migrations/postgres/0008_operator.sql"),
    },
    Migration {
        version: 9,
        name: "messages",
        sqlite: include_str!("../migrations/sqlite/0009_messages.sql"),
        postgres: include_str!("../migrations/postgres/0009_messages.sql"),
    },
    Migration {
        version: 10,
        name: "web",
        sqlite: include_str!("../migrations/sqlite/0010_web.sql"),
        postgres: include_str!("../migrations/postgres/0010_web.sql"),
    },
    Migration {
        version: 11,
        name: "mail_tls",
        sqlite: include_str!("../migrations/sqlite/0011_mail_tls.sql"),
        postgres: include_str!("../migrations/postgres/0011_mail_tls.sql"),
    },
];

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

impl Store {
    /// Applies every migration not yet applied; returns the versions it applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let create = "CREATE TABLE IF NOT EXISTS hotline_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";
        on_writer!(self, p => sqlx::query(create).execute(p).await.map(|r| r.rows_affected()))?;
        let mut applied = Vec::new();
        for m in MIGRATIONS {
            let sql = match self.dialect() {
                Dialect::Sqlite => m.sqlite,
                Dialect::Postgres => m.postgres,
            };
            let done = on_writer!(self, p => {
                let mut tx = p.begin().await?;
                if self.dialect() == Dialect::Postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock(7471001)").execute(&mut *tx).await?;
                }
                let exists: Option<(i64,)> =
                    sqlx::query_as("SELECT version FROM hotline_migrations WHERE version = $1")
                        .bind(m.version)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    sqlx::raw_sql(sql).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO hotline_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                        .bind(m.version)
                        .bind(m.name)
                        .bind(crate::now_ms())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok::<bool, sqlx::Error>(exists.is_none())
            })?;
            if done {
                tracing::info!(version = m.version, name = m.name, "applied migration");
                applied.push(m.version);
            }
        }
        let newest = self.schema_version().await?;
        if newest > latest_version() {
            return Err(StoreError::conflict(
                "schema_too_new",
                format!(
                    "the database has schema version {newest}; this build knows up to {}",
                    latest_version()
                ),
            ));
        }
        Ok(applied)
    }

    /// The highest applied migration, 0 on an empty database.
    pub async fn schema_version(&self) -> Result<i64> {
        let v: (Option<i64>,) = on_pool!(self, p =>
            sqlx::query_as("SELECT MAX(version) FROM hotline_migrations").fetch_one(p).await)?;
        Ok(v.0.unwrap_or(0))
    }
}
