//! The SQLite backend: the embedded default, one file next to the service.
//!
//! Every write that reads first runs in a `BEGIN IMMEDIATE` transaction,
//! which takes SQLite's single write lock up front: concurrent writers (other
//! pool connections, other processes on the same file) queue on the busy
//! timeout instead of failing, and a compare-and-set or a job claim can never
//! interleave with another. Times are INTEGER microseconds since the epoch.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::codec::{
    self, clean, clean_json, clean_opt, from_micros, job_columns, micros, opt_from_micros,
    request_columns, RawRequest,
};
use super::{
    Actor, AuditEvent, Job, JobStats, MessageKind, MessageRef, NewJob, RequestFilter, Store,
    StoreError, Transition,
};
use crate::domain::{AccessRequest, RequestId};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a writer waits for SQLite's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SqliteStore {
    pool: SqlitePool,
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
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = if in_memory {
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
        Ok(Self { pool })
    }

    async fn begin_immediate(&self) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn request_from_row(row: &SqliteRow) -> Result<AccessRequest, StoreError> {
    let id: String = row.try_get("id")?;
    let id = RequestId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    RawRequest {
        id,
        requester: row.try_get("requester")?,
        requester_email: row.try_get("requester_email")?,
        attribute: row.try_get("attribute")?,
        value: codec::parse_json("value", row.try_get("value")?)?,
        device: codec::parse_json("device", row.try_get("device")?)?,
        duration_secs: row.try_get("duration_secs")?,
        approver: row.try_get("approver")?,
        reason: row.try_get("reason")?,
        status: row.try_get("status")?,
        created_at: from_micros(row.try_get("created_at")?)?,
        updated_at: from_micros(row.try_get("updated_at")?)?,
        decided_by: row.try_get("decided_by")?,
        decided_at: opt_from_micros(row.try_get("decided_at")?)?,
        expires_at: opt_from_micros(row.try_get("expires_at")?)?,
        failure_reason: row.try_get("failure_reason")?,
    }
    .into_request()
}

fn job_from_row(row: &SqliteRow) -> Result<Job, StoreError> {
    let id: i64 = row.try_get("id")?;
    let request_id: Option<String> = row.try_get("request_id")?;
    let lease_until: Option<i64> = row.try_get("lease_until")?;
    Ok(Job {
        id,
        request_id: request_id
            .map(|r| RequestId::parse(&r).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?,
        kind: codec::parse_job_kind(
            id,
            codec::parse_json("job payload", row.try_get("payload")?)?,
        )?,
        run_at: from_micros(row.try_get("run_at")?)?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        lease_until: from_micros(
            lease_until
                .ok_or_else(|| StoreError::Corrupt(format!("claimed job {id} has no lease")))?,
        )?,
    })
}

/// Maps a foreign-key failure (the request does not exist) to `NotFound`.
fn missing_request(id: RequestId) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound(id),
        _ => StoreError::Database(e),
    }
}

async fn insert_job(conn: &mut SqliteConnection, job: &NewJob) -> Result<i64, StoreError> {
    let (payload, tag) = codec::job_payload(&job.kind)?;
    let result = sqlx::query(
        "INSERT INTO jobs (request_id, kind, payload, run_at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(job.request_id.map(|r| r.to_string()))
    .bind(tag)
    .bind(payload.to_string())
    .bind(micros(job.run_at))
    .fetch_one(conn)
    .await;
    match (result, job.request_id) {
        (Ok(row), _) => Ok(row.try_get(0)?),
        (Err(e), Some(id)) => Err(missing_request(id)(e)),
        (Err(e), None) => Err(e.into()),
    }
}

async fn insert_audit(
    conn: &mut SqliteConnection,
    id: RequestId,
    at: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (request_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(micros(at))
    .bind(actor.as_str().to_owned())
    .bind(clean(action).into_owned())
    .bind(clean_json(detail).to_string())
    .execute(conn)
    .await
    .map_err(missing_request(id))?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let has_table: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await?;
        let applied: Vec<i64> = if has_table > 0 {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await?
        } else {
            Vec::new()
        };
        Ok(super::unapplied(&MIGRATOR, &applied))
    }

    async fn create_request(&self, req: &AccessRequest, jobs: &[NewJob]) -> Result<(), StoreError> {
        codec::check_new_status(req.status)?;
        let mut tx = self.begin_immediate().await?;
        let inserted = sqlx::query(concat!(
            "INSERT INTO requests (",
            request_columns!(),
            ", node_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(req.id.to_string())
        .bind(req.requester.as_str().to_owned())
        .bind(clean_opt(req.requester_email.as_deref()))
        .bind(req.attribute.as_str().to_owned())
        .bind(req.value.to_json().to_string())
        .bind(codec::device_json(&req.device)?.to_string())
        .bind(codec::duration_secs(req.duration)?)
        .bind(req.approver.as_ref().map(|a| a.as_str().to_owned()))
        .bind(clean(req.reason.as_str()).into_owned())
        .bind(req.status.as_str())
        .bind(micros(req.created_at))
        .bind(micros(req.updated_at))
        .bind(req.decided_by.as_ref().map(|a| a.as_str().to_owned()))
        .bind(req.decided_at.map(micros))
        .bind(req.expires_at.map(micros))
        .bind(clean_opt(req.failure_reason.as_deref()))
        .bind(req.device.node_id.as_str().to_owned())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(StoreError::Duplicate(req.id))
            }
            other => other?,
        };
        insert_audit(
            &mut tx,
            req.id,
            req.created_at,
            &Actor::User(req.requester.clone()),
            "created",
            &codec::created_detail(req),
        )
        .await?;
        for job in jobs {
            insert_job(&mut tx, job).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_request(&self, id: RequestId) -> Result<Option<AccessRequest>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            request_columns!(),
            " FROM requests WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(concat!("SELECT ", request_columns!(), " FROM requests"));
        codec::push_request_filter(&mut qb, filter, micros);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(request_from_row).collect()
    }

    async fn count_requests(&self, filter: &RequestFilter) -> Result<i64, StoreError> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM requests");
        codec::push_request_where(&mut qb, filter, micros);
        Ok(qb.build_query_scalar::<i64>().fetch_one(&self.pool).await?)
    }

    async fn transition(&self, t: Transition) -> Result<AccessRequest, StoreError> {
        t.from.transition(t.to)?;
        let mut tx = self.begin_immediate().await?;
        let updated = sqlx::query(concat!(
            "UPDATE requests SET status = ?, updated_at = ?, ",
            "decided_by = COALESCE(?, decided_by), decided_at = COALESCE(?, decided_at), ",
            "expires_at = COALESCE(?, expires_at), failure_reason = COALESCE(?, failure_reason) ",
            "WHERE id = ? AND status = ? RETURNING ",
            request_columns!()
        ))
        .bind(t.to.as_str())
        .bind(micros(t.at))
        .bind(t.decided_by.as_ref().map(|u| u.as_str().to_owned()))
        .bind(t.decided_by.as_ref().map(|_| micros(t.at)))
        .bind(t.expires_at.map(micros))
        .bind(clean_opt(t.failure_reason.as_deref()))
        .bind(t.id.to_string())
        .bind(t.from.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = updated else {
            let current: Option<String> =
                sqlx::query_scalar("SELECT status FROM requests WHERE id = ?")
                    .bind(t.id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(codec::not_updated(&t, current.as_deref())?);
        };
        let req = request_from_row(&row)?;
        insert_audit(&mut tx, t.id, t.at, &t.actor, t.to.as_str(), &t.detail).await?;
        for job in &t.jobs {
            insert_job(&mut tx, job).await?;
        }
        tx.commit().await?;
        Ok(req)
    }

    async fn set_message_ref(&self, id: RequestId, msg: &MessageRef) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO message_refs (request_id, kind, channel, ts) VALUES (?, ?, ?, ?) \
             ON CONFLICT (request_id, kind) DO UPDATE SET channel = excluded.channel, ts = excluded.ts",
        )
        .bind(id.to_string())
        .bind(msg.kind.as_str())
        .bind(clean(&msg.channel).into_owned())
        .bind(clean(&msg.ts).into_owned())
        .execute(&self.pool)
        .await
        .map_err(missing_request(id))?;
        Ok(())
    }

    async fn message_refs(&self, id: RequestId) -> Result<Vec<MessageRef>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, channel, ts FROM message_refs WHERE request_id = ? ORDER BY kind",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(MessageRef {
                    kind: MessageKind::parse(&kind).ok_or_else(|| {
                        StoreError::Corrupt(format!("unknown message kind {kind:?}"))
                    })?,
                    channel: row.try_get("channel")?,
                    ts: row.try_get("ts")?,
                })
            })
            .collect()
    }

    async fn append_audit(
        &self,
        id: RequestId,
        at: DateTime<Utc>,
        actor: &Actor,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, id, at, actor, action, &detail).await
    }

    async fn audit_events(&self, id: RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, detail FROM audit_events \
             WHERE request_id = ? ORDER BY at, id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let actor: String = row.try_get("actor")?;
                Ok(AuditEvent {
                    id: row.try_get("id")?,
                    request_id: id,
                    at: from_micros(row.try_get("at")?)?,
                    actor: Actor::parse(&actor),
                    action: row.try_get("action")?,
                    detail: codec::parse_json("audit detail", row.try_get("detail")?)?,
                })
            })
            .collect()
    }

    async fn enqueue(&self, job: &NewJob) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_job(&mut conn, job).await
    }

    async fn claim_jobs(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let until = codec::lease_until(now, lease)?;
        let mut tx = self.begin_immediate().await?;
        let rows = sqlx::query(concat!(
            "UPDATE jobs SET leased_by = ?3, lease_until = ?4, attempts = attempts + 1 ",
            "WHERE id IN (SELECT id FROM jobs WHERE dead = 0 AND run_at <= ?1 ",
            "AND (lease_until IS NULL OR lease_until <= ?1) ",
            // A request's notifications one at a time, oldest first: they
            // edit the same messages.
            "AND NOT (kind = 'notify' AND EXISTS (SELECT 1 FROM jobs other ",
            "WHERE other.request_id = jobs.request_id AND other.kind = 'notify' ",
            "AND other.id <> jobs.id AND other.dead = 0 AND (other.lease_until > ?1 ",
            "OR (other.id < jobs.id AND other.run_at <= ?1)))) ",
            "ORDER BY run_at, id LIMIT ?2) ",
            "RETURNING ",
            job_columns!()
        ))
        .bind(micros(now))
        .bind(i64::from(limit))
        .bind(worker.to_owned())
        .bind(micros(until))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    async fn complete_job(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = ? AND leased_by = ?")
            .bind(id)
            .bind(worker.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET last_error = ?, run_at = COALESCE(?, run_at), \
             dead = CASE WHEN ? IS NULL THEN 1 ELSE 0 END, leased_by = NULL, lease_until = NULL \
             WHERE id = ? AND leased_by = ?",
        )
        .bind(clean(error).into_owned())
        .bind(retry_at.map(micros))
        .bind(retry_at.map(micros))
        .bind(id)
        .bind(worker.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn job_stats(&self, now: DateTime<Utc>) -> Result<JobStats, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE dead = 0 AND run_at <= ?1) AS due, \
                    (SELECT COUNT(*) FROM jobs WHERE dead = 1) AS dead, \
                    (SELECT MIN(run_at) FROM jobs WHERE dead = 0 AND run_at <= ?1) AS oldest_due",
        )
        .bind(micros(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(JobStats {
            due: row.try_get("due")?,
            dead: row.try_get("dead")?,
            oldest_due: opt_from_micros(row.try_get("oldest_due")?)?,
        })
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}
