//! Copies a whole installation from one database to another (SQLite → PostgreSQL and back), ids
//! and all, so a center that outgrows one machine can move without losing a single record.
//! The target must be migrated and empty. Log-in sessions are not copied: users log in again.

use crate::{on_pool, on_writer, Dialect, Result, Store, StoreError};
use sqlx::Row;

#[derive(Clone, Copy)]
enum Kind {
    Int,
    OptInt,
    Text,
    OptText,
    Bool,
}

use Kind::*;

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// Tables with an `id` are read in id order in batches; others whole.
    has_id: bool,
}

const TABLES: &[Table] = &[
    Table {
        name: "tenants",
        has_id: true,
        columns: &[
            ("id", Int),
            ("name", Text),
            ("slug", Text),
            ("default_region", Text),
            ("timezone", Text),
            ("created_at", Int),
            ("operator", Bool),
        ],
    },
    Table {
        name: "users",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("username", Text),
            ("display_name", Text),
            ("role", Text),
            ("password_hash", Text),
            ("active", Bool),
            ("created_at", Int),
        ],
    },
    Table {
        name: "api_tokens",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("user_id", Int),
            ("name", Text),
            ("token_hash", Text),
            ("created_at", Int),
            ("revoked_at", OptInt),
        ],
    },
    Table {
        name: "agents",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("user_id", Int),
            ("extension", Text),
            ("sip_ha1_md5", OptText),
            ("sip_ha1_sha256", OptText),
            ("created_at", Int),
        ],
    },
    Table {
        name: "agent_skills",
        has_id: false,
        columns: &[("agent_id", Int), ("skill", Text), ("proficiency", Int)],
    },
    Table {
        name: "queues",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("name", Text),
            ("channels", Text),
            ("service_level_seconds", Int),
            ("service_level_target", Int),
            ("priority", Int),
            ("wrap_up_seconds", Int),
            ("disposition_required", Bool),
            ("created_at", Int),
        ],
    },
    Table {
        name: "dispositions",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("code", Text),
            ("name", Text),
            ("active", Bool),
        ],
    },
    Table {
        name: "scripts",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("queue_id", OptInt),
            ("title", Text),
            ("body_markdown", Text),
            ("updated_at", Int),
        ],
    },
    // merged_into is set in a second pass: it may point at a later row.
    Table {
        name: "customers",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("name", Text),
            ("company", OptText),
            ("search_name", Text),
            ("vip", Bool),
            ("tags", Text),
            ("custom_fields", Text),
            ("notes", Text),
            ("created_at", Int),
            ("updated_at", Int),
        ],
    },
    Table {
        name: "customer_identifiers",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("customer_id", Int),
            ("kind", Text),
            ("value", Text),
        ],
    },
    Table {
        name: "interactions",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("channel", Text),
            ("direction", Text),
            ("state", Text),
            ("customer_id", OptInt),
            ("queue_id", OptInt),
            ("agent_id", OptInt),
            ("disposition_id", OptInt),
            ("subject", OptText),
            ("notes", Text),
            ("recording_ref", OptText),
            ("created_at", Int),
            ("answered_at", OptInt),
            ("ended_at", OptInt),
        ],
    },
    Table {
        name: "interaction_events",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("interaction_id", Int),
            ("at", Int),
            ("kind", Text),
            ("actor", Text),
            ("data", Text),
        ],
    },
    Table {
        name: "agent_events",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("agent_id", Int),
            ("at", Int),
            ("kind", Text),
            ("data", Text),
        ],
    },
    Table {
        name: "sip_trunks",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("name", Text),
            ("host", Text),
            ("port", Int),
            ("transport", Text),
            ("username", OptText),
            ("password", OptText),
            ("register", Bool),
            ("created_at", Int),
        ],
    },
    Table {
        name: "sip_numbers",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("number", Text),
            ("kind", Text),
            ("target", Text),
            ("created_at", Int),
        ],
    },
    Table {
        name: "sip_routes",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("prefix", Text),
            ("trunk_id", Int),
            ("strip", Int),
            ("prepend", Text),
            ("created_at", Int),
        ],
    },
    Table {
        name: "flows",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("name", Text),
            ("version", Int),
            ("source", Text),
            ("created_at", Int),
        ],
    },
    Table {
        name: "tenant_calendars",
        has_id: false,
        columns: &[("tenant_id", Int), ("source", Text), ("updated_at", Int)],
    },
    Table {
        name: "lookup_rows",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("table_name", Text),
            ("key", Text),
            ("data", Text),
            ("updated_at", Int),
        ],
    },
    Table {
        name: "callbacks",
        has_id: false,
        columns: &[
            ("interaction_id", Int),
            ("tenant_id", Int),
            ("agent_id", Int),
            ("number", Text),
            ("due_at", Int),
            ("note", Text),
            ("origin_interaction_id", Int),
            ("created_by", Text),
        ],
    },
    Table {
        name: "email_accounts",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("queue_id", Int),
            ("address", Text),
            ("display_name", Text),
            ("imap_host", Text),
            ("imap_port", Int),
            ("imap_user", Text),
            ("imap_password", Text),
            ("imap_folder", Text),
            ("done_folder", Text),
            ("smtp_host", Text),
            ("smtp_port", Int),
            ("smtp_user", Text),
            ("smtp_password", Text),
            ("auto_ack", Bool),
            ("active", Bool),
            ("created_at", Int),
            ("imap_security", Text),
            ("smtp_security", Text),
            ("tls_ca_pem", Text),
        ],
    },
    Table {
        name: "messages",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("interaction_id", Int),
            ("account_id", Int),
            ("direction", Text),
            ("message_id", Text),
            ("dedupe_key", Text),
            ("from_addr", Text),
            ("from_name", Text),
            ("to_addrs", Text),
            ("subject", Text),
            ("body_text", Text),
            ("body_html", Text),
            ("auto", Bool),
            ("status", Text),
            ("error", Text),
            ("author", Text),
            ("created_at", Int),
        ],
    },
    Table {
        name: "attachments",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("message_id", Int),
            ("name", Text),
            ("content_type", Text),
            ("size", Int),
            ("sha256", Text),
        ],
    },
    Table {
        name: "sites",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("site_key", Text),
            ("name", Text),
            ("origins", Text),
            ("chat_queue_id", Int),
            ("form_queue_id", Int),
            ("email_account_id", Int),
            ("greeting", Text),
            ("active", Bool),
            ("created_at", Int),
        ],
    },
    Table {
        name: "chat_sessions",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("site_id", Int),
            ("interaction_id", Int),
            ("token_hash", Text),
            ("visitor_name", Text),
            ("visitor_email", Text),
            ("visitor_phone", Text),
            ("created_at", Int),
            ("ended_at", Int),
        ],
    },
    Table {
        name: "templates",
        has_id: true,
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("name", Text),
            ("body", Text),
            ("channel", Text),
            ("created_at", Int),
        ],
    },
];

#[derive(Debug, Clone)]
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
}

const BATCH: i64 = 1000;

/// Rows copied per table, in copy order.
pub type CopyReport = Vec<(&'static str, u64)>;

impl Store {
    /// Copies everything from `self` into `target`.
    pub async fn copy_to(&self, target: &Store) -> Result<CopyReport> {
        target.migrate().await?;
        let (existing,): (i64,) = on_pool!(target, p => sqlx::query_as("SELECT COUNT(*) FROM tenants").fetch_one(p).await)?;
        if existing > 0 {
            return Err(StoreError::conflict(
                "target_not_empty",
                "the target database already holds data; copy into an empty one",
            ));
        }
        let mut report = Vec::new();
        for table in TABLES {
            let copied = self.copy_table(target, table).await?;
            tracing::info!(table = table.name, rows = copied, "copied");
            report.push((table.name, copied));
        }
        // Second pass: merge links between customers.
        let links: Vec<(i64, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, merged_into FROM customers WHERE merged_into IS NOT NULL ORDER BY id").fetch_all(p).await)?;
        on_writer!(target, p => {
            let mut tx = p.begin().await?;
            for (id, into) in &links {
                sqlx::query("UPDATE customers SET merged_into = $2 WHERE id = $1").bind(*id).bind(*into).execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        if target.dialect() == Dialect::Postgres {
            for table in TABLES.iter().filter(|t| t.has_id) {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE((SELECT MAX(id) FROM {0}), 0) + 1, false)",
                    table.name
                );
                on_writer!(target, p => sqlx::query(&sql).execute(p).await.map(|r| r.rows_affected()))?;
            }
        }
        Ok(report)
    }

    async fn copy_table(&self, target: &Store, table: &Table) -> Result<u64> {
        let cols = table
            .columns
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>()
            .join(", ");
        let insert = format!(
            "INSERT INTO {} ({cols}) VALUES ({})",
            table.name,
            crate::placeholders(1, table.columns.len())
        );
        let mut after = i64::MIN;
        let mut copied = 0u64;
        loop {
            let select = if table.has_id {
                format!(
                    "SELECT {cols} FROM {} WHERE id > $1 ORDER BY id LIMIT {BATCH}",
                    table.name
                )
            } else {
                format!("SELECT {cols} FROM {}", table.name)
            };
            let rows: Vec<Vec<Value>> = on_pool!(self, p => {
                let q = sqlx::query(&select);
                let q = if table.has_id { q.bind(after) } else { q };
                let rows = q.fetch_all(p).await?;
                rows.iter().map(|row| {
                    table.columns.iter().enumerate().map(|(i, (_, kind))| Ok(match kind {
                        Int | OptInt => Value::Int(row.try_get::<Option<i64>, _>(i)?),
                        Text | OptText => Value::Text(row.try_get::<Option<String>, _>(i)?),
                        Bool => Value::Bool(row.try_get::<bool, _>(i)?),
                    })).collect::<Result<Vec<_>, sqlx::Error>>()
                }).collect::<Result<Vec<_>, sqlx::Error>>()
            })?;
            if rows.is_empty() {
                break;
            }
            on_writer!(target, p => {
                let mut tx = p.begin().await?;
                for row in &rows {
                    let mut q = sqlx::query(&insert);
                    for v in row {
                        q = match v {
                            Value::Int(i) => q.bind(*i),
                            Value::Text(t) => q.bind(t.clone()),
                            Value::Bool(b) => q.bind(*b),
                        };
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await
            })?;
            copied += rows.len() as u64;
            if !table.has_id || (rows.len() as i64) < BATCH {
                break;
            }
            if let Some(Value::Int(Some(id))) = rows.last().and_then(|r| r.first()) {
                after = *id;
            }
        }
        Ok(copied)
    }
}
