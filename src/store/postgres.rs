//! The PostgreSQL backend: production, shared by any number of replicas.
//! Native UUID, TIMESTAMPTZ, JSONB and BOOLEAN columns.
//!
//! A compare-and-set is one `UPDATE … WHERE status = $from`: the row lock
//! makes concurrent callers wait, and they re-check the condition against
//! the committed row (read committed), so exactly one wins. Jobs are
//! claimed with `FOR UPDATE SKIP LOCKED`, so claimers never block on or
//! share a job. Migrating holds sqlx's advisory lock: replicas starting
//! together apply each migration once.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Connection, Postgres};

use super::dialect::Dialect;
use super::sql::SqlStore;
use super::{codec::job_columns, StoreError};
use crate::domain::RequestId;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long start-up waits for the server to answer, and how long a query
/// waits for a free pool connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PgDialect;

pub type PgStore = SqlStore<PgDialect>;

impl Dialect for PgDialect {
    type DB = Postgres;
    type Time = DateTime<Utc>;
    type Id = uuid::Uuid;
    type Json = Json<serde_json::Value>;

    const NAME: &'static str = "postgres";
    // Resolved through the search path, as sqlx itself names the table.
    const COUNT_MIGRATIONS_TABLE: &'static str =
        "SELECT COUNT(to_regclass('_sqlx_migrations')) AS n";

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn claim_jobs(due: &str, set: &str) -> String {
        format!(
            "WITH due (due_id) AS ({due} FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET {set} FROM due WHERE jobs.id = due.due_id RETURNING {}",
            job_columns!()
        )
    }

    fn time(t: DateTime<Utc>) -> Self::Time {
        t
    }

    fn read_time(stored: Self::Time) -> Result<DateTime<Utc>, StoreError> {
        Ok(stored)
    }

    fn id(id: RequestId) -> Self::Id {
        id.as_uuid()
    }

    fn read_id(stored: Self::Id) -> Result<RequestId, StoreError> {
        Ok(RequestId::from_uuid(stored))
    }

    fn json(v: serde_json::Value) -> Self::Json {
        Json(v)
    }

    fn read_json(_what: &str, stored: Self::Json) -> Result<serde_json::Value, StoreError> {
        Ok(stored.0)
    }
}

impl PgStore {
    /// Connects once up front, so a wrong host, password or database name
    /// is reported with PostgreSQL's own reason (not a pool timeout), then
    /// builds the pool.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?;
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                ))
            })??;
        probe.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self::new(pool))
    }
}
