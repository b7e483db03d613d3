//! The hot read path on SQLite: recognising a caller by number.
//!
//! sqlx runs each SQLite connection on a worker thread, so every query costs thread hand-offs;
//! measured on our 2-core machines, even `SELECT 1` had a p99 of about 2 ms that way (see
//! docs/benchmarks.md). A screen pop must not wait on that. This module keeps a few read-only
//! connections (WAL lets them read while the writer writes) and runs the indexed look-up right
//! on the calling thread: a B-tree probe in memory-mapped pages, tens of microseconds.
//! Writes, and every other read, stay on sqlx.

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Connections kept for reuse; more may be opened under a burst and are then dropped.
const KEEP: usize = 4;

pub(crate) struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// One customer row and its identifiers, as the look-up returns them.
pub(crate) struct Found {
    pub row: crate::customers::CustomerRowData,
    pub identifiers: Vec<(String, String)>,
}

impl SqliteReader {
    /// Opens one connection at once, so the first screen pop does not pay for it.
    pub(crate) fn new(path: &Path) -> SqliteReader {
        let reader = SqliteReader {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        if let Ok(conn) = reader.open() {
            reader
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
        reader
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "mmap_size", 268_435_456i64)?;
        conn.pragma_update(None, "cache_size", -16_384i64)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    pub(crate) fn find_by_identifier(
        &self,
        tenant_id: i64,
        kind: &str,
        value: &str,
    ) -> rusqlite::Result<Option<Found>> {
        let conn = match self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            Some(c) => c,
            None => self.open()?,
        };
        let result = Self::query(&conn, tenant_id, kind, value);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEEP {
            idle.push(conn);
        }
        result
    }

    fn query(
        conn: &Connection,
        tenant_id: i64,
        kind: &str,
        value: &str,
    ) -> rusqlite::Result<Option<Found>> {
        let mut find = conn.prepare_cached(
            "SELECT c.id, c.tenant_id, c.name, c.company, c.vip, c.tags, c.custom_fields, c.notes, c.merged_into,
                    c.created_at, c.updated_at
             FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id
             WHERE i.tenant_id = ?1 AND i.kind = ?2 AND i.value = ?3",
        )?;
        let row = find
            .query_row((tenant_id, kind, value), |r| {
                Ok(crate::customers::CustomerRowData {
                    id: r.get(0)?,
                    tenant_id: r.get(1)?,
                    name: r.get(2)?,
                    company: r.get(3)?,
                    vip: r.get(4)?,
                    tags: r.get(5)?,
                    custom_fields: r.get(6)?,
                    notes: r.get(7)?,
                    merged_into: r.get(8)?,
                    created_at: r.get(9)?,
                    updated_at: r.get(10)?,
                })
            })
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let mut ids = conn.prepare_cached(
            "SELECT kind, value FROM customer_identifiers WHERE customer_id = ?1 ORDER BY kind DESC, id",
        )?;
        let identifiers = ids
            .query_map([row.id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some(Found { row, identifiers }))
    }
}
