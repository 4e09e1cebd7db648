//! The PostgreSQL backend: production, shared by any number of replicas.
//!
//! A compare-and-set is one `UPDATE … WHERE status = $from`: the row lock
//! makes concurrent callers wait, and they re-check the condition against
//! the committed row, so exactly one wins. Jobs are claimed with
//! `FOR UPDATE SKIP LOCKED`, so claimers never block on or share a job.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{Connection, PgPool, Postgres, QueryBuilder, Row};

use super::codec::{self, clean, clean_json, clean_opt, job_columns, request_columns, RawRequest};
use super::{
    Actor, AuditEvent, Job, JobStats, MessageKind, MessageRef, NewJob, RequestFilter, Store,
    StoreError, Transition,
};
use crate::domain::{AccessRequest, RequestId};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long start-up waits for the server to answer, and how long a query
/// waits for a free pool connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PgStore {
    pool: PgPool,
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
        Ok(Self { pool })
    }
}

fn request_from_row(row: &PgRow) -> Result<AccessRequest, StoreError> {
    RawRequest {
        id: RequestId::from_uuid(row.try_get("id")?),
        requester: row.try_get("requester")?,
        requester_email: row.try_get("requester_email")?,
        attribute: row.try_get("attribute")?,
        value: row.try_get("value")?,
        device: row.try_get("device")?,
        duration_secs: row.try_get("duration_secs")?,
        approver: row.try_get("approver")?,
        reason: row.try_get("reason")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        expires_at: row.try_get("expires_at")?,
        failure_reason: row.try_get("failure_reason")?,
    }
    .into_request()
}

fn job_from_row(row: &PgRow) -> Result<Job, StoreError> {
    let id: i64 = row.try_get("id")?;
    let request_id: Option<uuid::Uuid> = row.try_get("request_id")?;
    let lease_until: Option<DateTime<Utc>> = row.try_get("lease_until")?;
    Ok(Job {
        id,
        request_id: request_id.map(RequestId::from_uuid),
        kind: codec::parse_job_kind(id, row.try_get("payload")?)?,
        run_at: row.try_get("run_at")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        lease_until: lease_until
            .ok_or_else(|| StoreError::Corrupt(format!("claimed job {id} has no lease")))?,
    })
}

/// Maps a foreign-key failure (the request does not exist) to `NotFound`.
fn missing_request(id: RequestId) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound(id),
        _ => StoreError::Database(e),
    }
}

async fn insert_job(conn: &mut PgConnection, job: &NewJob) -> Result<i64, StoreError> {
    let (payload, tag) = codec::job_payload(&job.kind)?;
    let result = sqlx::query(
        "INSERT INTO jobs (request_id, kind, payload, run_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(job.request_id.map(|r| r.as_uuid()))
    .bind(tag)
    .bind(Json(payload))
    .bind(job.run_at)
    .fetch_one(conn)
    .await;
    match (result, job.request_id) {
        (Ok(row), _) => Ok(row.try_get(0)?),
        (Err(e), Some(id)) => Err(missing_request(id)(e)),
        (Err(e), None) => Err(e.into()),
    }
}

async fn insert_audit(
    conn: &mut PgConnection,
    id: RequestId,
    at: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (request_id, at, actor, action, detail) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.as_uuid())
    .bind(at)
    .bind(actor.as_str().to_owned())
    .bind(clean(action).into_owned())
    .bind(Json(clean_json(detail)))
    .execute(conn)
    .await
    .map_err(missing_request(id))?;
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx holds an advisory lock while migrating: replicas starting
        // together apply each migration once.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        // Resolved through the search path, as sqlx itself names the table.
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        let applied: Vec<i64> = if has_table {
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
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(concat!(
            "INSERT INTO requests (",
            request_columns!(),
            ", node_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        ))
        .bind(req.id.as_uuid())
        .bind(req.requester.as_str().to_owned())
        .bind(clean_opt(req.requester_email.as_deref()))
        .bind(req.attribute.as_str().to_owned())
        .bind(Json(req.value.to_json()))
        .bind(Json(codec::device_json(&req.device)?))
        .bind(codec::duration_secs(req.duration)?)
        .bind(req.approver.as_ref().map(|a| a.as_str().to_owned()))
        .bind(clean(req.reason.as_str()).into_owned())
        .bind(req.status.as_str())
        .bind(req.created_at)
        .bind(req.updated_at)
        .bind(req.decided_by.as_ref().map(|a| a.as_str().to_owned()))
        .bind(req.decided_at)
        .bind(req.expires_at)
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
            " FROM requests WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let mut qb =
            QueryBuilder::<Postgres>::new(concat!("SELECT ", request_columns!(), " FROM requests"));
        codec::push_request_filter(&mut qb, filter, |t| t);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(request_from_row).collect()
    }

    async fn count_requests(&self, filter: &RequestFilter) -> Result<i64, StoreError> {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM requests");
        codec::push_request_where(&mut qb, filter, |t| t);
        Ok(qb.build_query_scalar::<i64>().fetch_one(&self.pool).await?)
    }

    async fn transition(&self, t: Transition) -> Result<AccessRequest, StoreError> {
        t.from.transition(t.to)?;
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(concat!(
            "UPDATE requests SET status = $1, updated_at = $2, ",
            "decided_by = COALESCE($3, decided_by), decided_at = COALESCE($4, decided_at), ",
            "expires_at = COALESCE($5, expires_at), failure_reason = COALESCE($6, failure_reason) ",
            "WHERE id = $7 AND status = $8 RETURNING ",
            request_columns!()
        ))
        .bind(t.to.as_str())
        .bind(t.at)
        .bind(t.decided_by.as_ref().map(|u| u.as_str().to_owned()))
        .bind(t.decided_by.as_ref().map(|_| t.at))
        .bind(t.expires_at)
        .bind(clean_opt(t.failure_reason.as_deref()))
        .bind(t.id.as_uuid())
        .bind(t.from.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = updated else {
            // Read committed: this sees the winner's committed status.
            let current: Option<String> =
                sqlx::query_scalar("SELECT status FROM requests WHERE id = $1")
                    .bind(t.id.as_uuid())
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
            "INSERT INTO message_refs (request_id, kind, channel, ts) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (request_id, kind) DO UPDATE SET channel = excluded.channel, ts = excluded.ts",
        )
        .bind(id.as_uuid())
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
            "SELECT kind, channel, ts FROM message_refs WHERE request_id = $1 ORDER BY kind",
        )
        .bind(id.as_uuid())
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
             WHERE request_id = $1 ORDER BY at, id",
        )
        .bind(id.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let actor: String = row.try_get("actor")?;
                Ok(AuditEvent {
                    id: row.try_get("id")?,
                    request_id: id,
                    at: row.try_get("at")?,
                    actor: Actor::parse(&actor),
                    action: row.try_get("action")?,
                    detail: row.try_get("detail")?,
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
        let rows = sqlx::query(concat!(
            "WITH due AS (SELECT id AS due_id FROM jobs WHERE NOT dead AND run_at <= $1 ",
            "AND (lease_until IS NULL OR lease_until <= $1) ",
            // A request's notifications one at a time, oldest first: they
            // edit the same messages.
            "AND NOT (kind = 'notify' AND EXISTS (SELECT 1 FROM jobs other ",
            "WHERE other.request_id = jobs.request_id AND other.kind = 'notify' ",
            "AND other.id <> jobs.id AND NOT other.dead AND (other.lease_until > $1 ",
            "OR (other.id < jobs.id AND other.run_at <= $1)))) ",
            "ORDER BY run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) ",
            "UPDATE jobs SET leased_by = $3, lease_until = $4, attempts = jobs.attempts + 1 ",
            "FROM due WHERE jobs.id = due.due_id RETURNING ",
            job_columns!()
        ))
        .bind(now)
        .bind(i64::from(limit))
        .bind(worker.to_owned())
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        let mut jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    async fn complete_job(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND leased_by = $2")
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
            "UPDATE jobs SET last_error = $1, run_at = COALESCE($2, run_at), \
             dead = ($2 IS NULL), leased_by = NULL, lease_until = NULL \
             WHERE id = $3 AND leased_by = $4",
        )
        .bind(clean(error).into_owned())
        .bind(retry_at)
        .bind(id)
        .bind(worker.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn job_stats(&self, now: DateTime<Utc>) -> Result<JobStats, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE NOT dead AND run_at <= $1) AS due, \
                    (SELECT COUNT(*) FROM jobs WHERE dead) AS dead, \
                    (SELECT MIN(run_at) FROM jobs WHERE NOT dead AND run_at <= $1) AS oldest_due",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(JobStats {
            due: row.try_get("due")?,
            dead: row.try_get("dead")?,
            oldest_due: row.try_get("oldest_due")?,
        })
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}
