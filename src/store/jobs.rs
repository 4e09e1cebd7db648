//! The job queue's statements and rows: enqueueing (alone, or inside a
//! create or a transition), claiming, and reading a claimed job.

use sqlx::{AssertSqlSafe, ColumnIndex, Executor, Row as _, SqlSafeStr, SqlStr};

use super::codec;
use super::dialect::{BindNullable, Connection, Dialect, Row, Value};
use super::requests::missing_request;
use super::sql::SqlStore;
use super::{Job, NewJob, StoreError};

/// The job statements that spell boolean literals, rendered once for the
/// dialect (`dead = 0` on SQLite, `dead = FALSE` on PostgreSQL: each as
/// its partial indexes are written).
pub(super) struct JobStatements {
    pub claim: SqlStr,
    pub stats: SqlStr,
}

impl JobStatements {
    pub fn render<D: Dialect>() -> Self {
        let (no, yes) = (D::FALSE, D::TRUE);
        // A request's notifications run one at a time, oldest first: they
        // edit the same messages. So do the jobs of one coalescing key
        // (one person's App Home): an older publish must not land last.
        let due = format!(
            "SELECT id FROM jobs WHERE dead = {no} AND run_at <= $1 \
             AND (lease_until IS NULL OR lease_until <= $1) \
             AND NOT (kind = 'notify' AND EXISTS (SELECT 1 FROM jobs other \
             WHERE other.request_id = jobs.request_id AND other.kind = 'notify' \
             AND other.id <> jobs.id AND other.dead = {no} AND (other.lease_until > $1 \
             OR (other.id < jobs.id AND other.run_at <= $1)))) \
             AND NOT (coalesce_key IS NOT NULL AND EXISTS (SELECT 1 FROM jobs other \
             WHERE other.coalesce_key = jobs.coalesce_key AND other.id <> jobs.id \
             AND other.dead = {no} AND (other.lease_until > $1 \
             OR (other.id < jobs.id AND other.run_at <= $1)))) \
             ORDER BY run_at, id LIMIT $2"
        );
        let lease = "leased_by = $3, lease_until = $4, attempts = attempts + 1";
        let stats = format!(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE dead = {no} AND run_at <= $1) AS due, \
             (SELECT COUNT(*) FROM jobs WHERE dead = {yes}) AS dead, \
             (SELECT MIN(run_at) FROM jobs WHERE dead = {no} AND run_at <= $1) AS oldest_due"
        );
        Self {
            claim: AssertSqlSafe(D::claim_jobs(&due, lease)).into_sql_str(),
            stats: AssertSqlSafe(stats).into_sql_str(),
        }
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
    i32: Value<D::DB>,
{
    /// A claimed job from [`codec::job_columns`].
    pub(super) fn read_job(row: &Row<D>) -> Result<Job, StoreError> {
        let id: i64 = row.try_get("id")?;
        let request_id: Option<D::Id> = row.try_get("request_id")?;
        let lease_until: Option<D::Time> = row.try_get("lease_until")?;
        let payload = D::read_json("job payload", row.try_get("payload")?)?;
        Ok(Job {
            id,
            request_id: request_id.map(D::read_id).transpose()?,
            kind: codec::parse_job_kind(id, payload)?,
            run_at: D::read_time(row.try_get("run_at")?)?,
            attempts: row.try_get("attempts")?,
            last_error: row.try_get("last_error")?,
            lease_until: D::read_time(
                lease_until
                    .ok_or_else(|| StoreError::Corrupt(format!("claimed job {id} has no lease")))?,
            )?,
        })
    }

    /// Inserts `job`; `None` when a job of its coalescing key is already
    /// waiting (the unique index `jobs_waiting_key`), which then covers it.
    pub(super) async fn insert_job<'c>(
        conn: impl Executor<'c, Database = D::DB>,
        job: &NewJob,
    ) -> Result<Option<i64>, StoreError> {
        let (payload, tag) = codec::job_payload(&job.kind)?;
        let inserted = sqlx::query(
            "INSERT INTO jobs (request_id, kind, payload, run_at, coalesce_key) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind_nullable(job.request_id.map(D::id))
        .bind(tag)
        .bind(D::json(payload))
        .bind(D::time(job.run_at))
        .bind_nullable(job.kind.coalesce_key())
        .fetch_optional(conn)
        .await;
        match (inserted, job.request_id) {
            (Ok(row), _) => Ok(row.map(|r| r.try_get("id")).transpose()?),
            (Err(e), Some(id)) => Err(missing_request(id)(e)),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// The live job of `key` a coalesced job joined (the newest).
    pub(super) async fn live_job_of_key<'c>(
        conn: impl Executor<'c, Database = D::DB>,
        key: &str,
    ) -> Result<Option<i64>, StoreError> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT id FROM jobs WHERE coalesce_key = $1 AND dead = {} ORDER BY id DESC LIMIT 1",
            D::FALSE
        )))
        .bind(key.to_owned())
        .fetch_optional(conn)
        .await?;
        Ok(found.map(|r| r.try_get("id")).transpose()?)
    }

    /// Whether `job`'s request already has a live job of its kind (not dead,
    /// not running): enqueueing another would only repeat it.
    pub(super) async fn live_job_exists<'c>(
        conn: impl Executor<'c, Database = D::DB>,
        job: &NewJob,
    ) -> Result<bool, StoreError> {
        let (_, tag) = codec::job_payload(&job.kind)?;
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT id FROM jobs WHERE request_id = $1 AND kind = $2 AND dead = {} \
             AND leased_by IS NULL LIMIT 1",
            D::FALSE
        )))
        .bind_nullable(job.request_id.map(D::id))
        .bind(tag)
        .fetch_optional(conn)
        .await?;
        Ok(found.is_some())
    }

    /// See [`super::Store::enqueue`]: a keyed job joins the one of its key
    /// that waits; should that one start running meanwhile, this one waits
    /// in its place.
    pub(super) async fn insert_or_join(
        pool: &sqlx::Pool<D::DB>,
        job: &NewJob,
    ) -> Result<i64, StoreError>
    where
        for<'c> &'c mut Connection<D>: Executor<'c, Database = D::DB>,
    {
        for _ in 0..3 {
            if let Some(id) = Self::insert_job(pool, job).await? {
                return Ok(id);
            }
            let key = job.kind.coalesce_key().unwrap_or_default();
            if let Some(id) = Self::live_job_of_key(pool, &key).await? {
                return Ok(id);
            }
        }
        Err(StoreError::Corrupt(format!(
            "could not enqueue {:?}",
            job.kind
        )))
    }

    /// See [`super::Store::fail_job`].
    pub(super) async fn put_back(
        pool: &sqlx::Pool<D::DB>,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<bool, StoreError>
    where
        for<'c> &'c mut Connection<D>: Executor<'c, Database = D::DB>,
    {
        let done = sqlx::query(
            "UPDATE jobs SET last_error = $1, run_at = COALESCE($2, run_at), \
             dead = ($2 IS NULL), leased_by = NULL, lease_until = NULL \
             WHERE id = $3 AND leased_by = $4 RETURNING id",
        )
        .bind(codec::clean(error).into_owned())
        .bind_nullable(retry_at.map(D::time))
        .bind(id)
        .bind(worker.to_owned())
        .fetch_optional(pool)
        .await;
        match (done, retry_at) {
            (Ok(done), _) => Ok(done.is_some()),
            // Another job of its key waits already (queued while this one
            // ran): that one does the work, no sooner than this retry.
            (Err(sqlx::Error::Database(d)), Some(at)) if d.is_unique_violation() => {
                Self::fold_into_waiting(pool, id, worker, at).await
            }
            (Err(e), _) => Err(e.into()),
        }
    }

    /// Drops the running job `id` of `worker` in favour of the waiting job
    /// of its key, which is put off until `retry_at` if due sooner. False
    /// if the lease was lost.
    pub(super) async fn fold_into_waiting(
        pool: &sqlx::Pool<D::DB>,
        id: i64,
        worker: &str,
        retry_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError>
    where
        for<'c> &'c mut Connection<D>: Executor<'c, Database = D::DB>,
    {
        let mut tx = pool.begin_with(D::BEGIN_WRITE).await?;
        let dropped =
            sqlx::query("DELETE FROM jobs WHERE id = $1 AND leased_by = $2 RETURNING coalesce_key")
                .bind(id)
                .bind(worker.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = dropped else {
            return Ok(false);
        };
        let key: Option<String> = row.try_get("coalesce_key")?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE jobs SET run_at = $1 WHERE coalesce_key = $2 AND dead = {} \
             AND leased_by IS NULL AND run_at < $1",
            D::FALSE
        )))
        .bind(D::time(retry_at))
        .bind_nullable(key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn extend_job<'c>(
        conn: impl Executor<'c, Database = D::DB>,
        id: i64,
        worker: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let renewed = sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND leased_by = $3 RETURNING id",
        )
        .bind(D::time(until))
        .bind(id)
        .bind(worker.to_owned())
        .fetch_optional(conn)
        .await?;
        Ok(renewed.is_some())
    }
}
