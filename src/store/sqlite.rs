//! The SQLite backend: the embedded default, one file next to the service.
//!
//! Every write that reads first runs in a `BEGIN IMMEDIATE` transaction,
//! which takes SQLite's single write lock up front: concurrent writers (other
//! pool connections, other processes on the same file) queue on the busy
//! timeout instead of failing, and a compare-and-set or a job claim can never
//! interleave with another. Times are INTEGER microseconds since the epoch,
//! request IDs lower-case hyphenated TEXT, JSON serde_json TEXT, booleans 0/1.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::Sqlite;

use super::connect::is_in_memory_sqlite;
use super::dialect::Dialect;
use super::sql::SqlStore;
use super::{codec::job_columns, StoreError};
use crate::domain::RequestId;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a writer waits for SQLite's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SqliteDialect;

pub type SqliteStore = SqlStore<SqliteDialect>;

impl Dialect for SqliteDialect {
    type DB = Sqlite;
    type Time = i64;
    type Id = String;
    type Json = String;

    const NAME: &'static str = "sqlite";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const FALSE: &'static str = "0";
    const TRUE: &'static str = "1";
    const COUNT_MIGRATIONS_TABLE: &'static str =
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    /// Run inside `BEGIN IMMEDIATE`: no other claimer runs meanwhile.
    fn claim_jobs(due: &str, set: &str) -> String {
        format!(
            "UPDATE jobs SET {set} WHERE id IN ({due}) RETURNING {}",
            job_columns!()
        )
    }

    fn time(t: DateTime<Utc>) -> Self::Time {
        t.timestamp_micros()
    }

    fn read_time(stored: Self::Time) -> Result<DateTime<Utc>, StoreError> {
        DateTime::from_timestamp_micros(stored)
            .ok_or_else(|| StoreError::Corrupt(format!("time {stored} µs is out of range")))
    }

    fn id(id: RequestId) -> Self::Id {
        id.to_string()
    }

    fn read_id(stored: Self::Id) -> Result<RequestId, StoreError> {
        RequestId::parse(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn json(v: serde_json::Value) -> Self::Json {
        v.to_string()
    }

    fn read_json(what: &str, stored: Self::Json) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&stored).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database file the URL names, in WAL
    /// mode with foreign keys on. `sqlite::memory:` gives a private in-memory
    /// database, held on one connection that is never closed.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Keeps the planner's statistics fresh (SQLite's advice for long-lived apps).
            .optimize_on_close(true, None);
        let pool = if is_in_memory_sqlite(url) {
            // The database lives as long as a connection to it: keep exactly one.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(max_connections.max(1))
        }
        // Longer than a writer waits for the lock, so contention shows up as
        // SQLite's "database is locked", not as a pool timeout.
        .acquire_timeout(BUSY_TIMEOUT * 3)
        .connect_with(options)
        .await?;
        Ok(Self::new(pool))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip_and_reject_out_of_range() {
        let t = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let stored = SqliteDialect::time(t);
        assert_eq!(stored, 1_700_000_000_123_456);
        assert_eq!(SqliteDialect::read_time(stored).unwrap(), t);
        assert!(matches!(
            SqliteDialect::read_time(i64::MAX),
            Err(StoreError::Corrupt(_))
        ));
    }
}
