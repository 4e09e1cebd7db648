//! The one [`Store`] implementation, for both backends: every statement
//! is written once, with `$n` placeholders, here or (when several
//! operations share it, or it names a table's columns) in the table's
//! module ([`super::requests`], [`super::jobs`]); what differs between
//! PostgreSQL and SQLite comes from the [`Dialect`]. Writes that read
//! first (create, transition, claim) run in the dialect's write
//! transaction.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Executor, Pool, Row as _};

use super::codec::{self, clean_opt, request_columns};
use super::dialect::{Arguments, BindNullable, Connection, Dialect, Row, Value};
use super::jobs::JobStatements;
use super::requests::NewAudit;
use super::{
    Actor, Approval, AuditEvent, Extension, Job, JobStats, MessageRef, NewJob, NotificationJobs,
    RecordedApproval, RequestFilter, Store, StoreError, Submitted, Transition, Vote, VoteOutcome,
};
use crate::domain::{AccessRequest, RequestId};

/// The store on the dialect's database: [`super::postgres::PgStore`] or
/// [`super::sqlite::SqliteStore`], built by their `connect`.
pub struct SqlStore<D: Dialect> {
    pub(super) pool: Pool<D::DB>,
    jobs: JobStatements,
}

impl<D: Dialect> SqlStore<D> {
    pub(super) fn new(pool: Pool<D::DB>) -> Self {
        Self {
            pool,
            jobs: JobStatements::render::<D>(),
        }
    }

    /// `sql`, whose one parameter is a request's ID.
    fn by_request(sql: &'static str, id: RequestId) -> Query<'static, D::DB, Arguments<D>> {
        sqlx::query(sql).bind(D::id(id))
    }
}

// sqlx implements its executor, column-index and value traits for each
// driver separately, so generic code names the ones it uses (both drivers
// have them all); the table modules name the same minus the executor.
#[async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::DB>,
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
    i32: Value<D::DB>,
{
    fn backend(&self) -> &'static str {
        D::NAME
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        D::migrator().run(&self.pool).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let tables: i64 = sqlx::query(D::COUNT_MIGRATIONS_TABLE)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let mut applied = Vec::new();
        if tables > 0 {
            let rows =
                sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                    .fetch_all(&self.pool)
                    .await?;
            for row in rows {
                applied.push(row.try_get::<i64, _>("version")?);
            }
        }
        Ok(D::migrator()
            .iter()
            .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
            .map(|m| format!("{}/{}", m.version, m.description))
            .collect())
    }

    async fn create_request(
        &self,
        req: &AccessRequest,
        approval: Option<&Approval>,
        jobs: &[NewJob],
    ) -> Result<(), StoreError> {
        codec::check_new_status(req.status)?;
        let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
        Self::insert_request(&mut tx, req, approval, jobs).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_request(&self, id: RequestId) -> Result<Option<AccessRequest>, StoreError> {
        let sql = concat!(
            "SELECT ",
            request_columns!(),
            " FROM requests WHERE id = $1"
        );
        let row = Self::by_request(sql, id).fetch_optional(&self.pool).await?;
        row.as_ref().map(Self::read_request).transpose()
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let select = concat!("SELECT ", request_columns!(), " FROM requests");
        let mut qb = Self::filtered(select, filter);
        qb.push(" ORDER BY created_at DESC, id DESC");
        if let Some(limit) = filter.limit {
            qb.push(" LIMIT ").push_bind(i64::from(limit));
        }
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(Self::read_request).collect()
    }

    async fn count_requests(&self, filter: &RequestFilter) -> Result<i64, StoreError> {
        let mut qb = Self::filtered("SELECT COUNT(*) AS n FROM requests", filter);
        let row = qb.build().fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    async fn transition(&self, t: Transition) -> Result<AccessRequest, StoreError> {
        t.from.transition(t.to)?;
        let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
        let updated = sqlx::query(concat!(
            "UPDATE requests SET status = $1, updated_at = $2, ",
            "decided_by = COALESCE($3, decided_by), decided_at = COALESCE($4, decided_at), ",
            "expires_at = COALESCE($5, expires_at), failure_reason = COALESCE($6, failure_reason), ",
            "decided_by_email = COALESCE($9, decided_by_email) ",
            "WHERE id = $7 AND status = $8 RETURNING ",
            request_columns!()
        ))
        .bind(t.to.as_str().to_owned())
        .bind(D::time(t.at))
        .bind_nullable(t.decided_by.as_ref().map(|(u, _)| u.as_str().to_owned()))
        .bind_nullable(t.decided_by.as_ref().map(|_| D::time(t.at)))
        .bind_nullable(t.expires_at.map(D::time))
        .bind_nullable(clean_opt(t.failure_reason.as_deref()))
        .bind(D::id(t.id))
        .bind(t.from.as_str().to_owned())
        .bind_nullable(t.decided_by.as_ref().and_then(|(_, e)| clean_opt(e.as_deref())))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = updated else {
            // Sees the winner's committed status (PostgreSQL: read
            // committed; SQLite: the write lock is held).
            let current = Self::by_request("SELECT status FROM requests WHERE id = $1", t.id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.try_get::<String, _>("status"))
                .transpose()?;
            return Err(codec::not_updated(&t, current.as_deref())?);
        };
        let req = Self::read_request(&row)?;
        let event = NewAudit {
            id: t.id,
            at: t.at,
            actor: &t.actor,
            action: t.to.as_str(),
            detail: &t.detail,
        };
        Self::insert_audit(&mut *tx, event).await?;
        for job in &t.jobs {
            Self::insert_job(&mut *tx, job).await?;
        }
        tx.commit().await?;
        Ok(req)
    }

    async fn extend_grant(&self, ext: &Extension) -> Result<AccessRequest, StoreError> {
        Self::apply_extension(&self.pool, ext).await
    }

    async fn give_up_grant(
        &self,
        id: RequestId,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Self::mark_given_up(&self.pool, id, reason, at).await
    }

    async fn acquire_lock(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let until = codec::lease_until(now, ttl)?;
        Self::take_lock(&self.pool, name, holder, now, until).await
    }

    async fn renew_lock(
        &self,
        name: &str,
        token: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let until = codec::lease_until(now, ttl)?;
        Self::extend_lock(&self.pool, name, token, until).await
    }

    async fn release_lock(&self, name: &str, token: i64) -> Result<(), StoreError> {
        Self::drop_lock(&self.pool, name, token).await
    }

    async fn set_message_ref(&self, id: RequestId, msg: &MessageRef) -> Result<(), StoreError> {
        Self::upsert_message_ref(&self.pool, id, msg).await
    }

    async fn message_refs(&self, id: RequestId) -> Result<Vec<MessageRef>, StoreError> {
        Self::read_message_refs(&self.pool, id).await
    }

    async fn approve(&self, vote: &Vote) -> Result<VoteOutcome, StoreError> {
        Self::record_vote(&self.pool, vote).await
    }

    async fn approvals(&self, id: RequestId) -> Result<Vec<RecordedApproval>, StoreError> {
        Self::read_approvals(&self.pool, id).await
    }

    async fn append_audit_once(
        &self,
        id: RequestId,
        at: DateTime<Utc>,
        actor: &Actor,
        action: &str,
        detail: Json,
        jobs: &[NewJob],
    ) -> Result<bool, StoreError> {
        let event = NewAudit {
            id,
            at,
            actor,
            action,
            detail: &detail,
        };
        Self::audit_once(&self.pool, event, jobs).await
    }

    async fn append_audit(
        &self,
        id: RequestId,
        at: DateTime<Utc>,
        actor: &Actor,
        action: &str,
        detail: Json,
    ) -> Result<(), StoreError> {
        let event = NewAudit {
            id,
            at,
            actor,
            action,
            detail: &detail,
        };
        Self::insert_audit(&self.pool, event).await
    }

    async fn audit_events(&self, id: RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        let sql = "SELECT id, at, actor, action, detail FROM audit_events \
                   WHERE request_id = $1 ORDER BY at, id";
        let rows = Self::by_request(sql, id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Self::read_audit_event(id, row))
            .collect()
    }

    async fn enqueue(&self, job: &NewJob) -> Result<i64, StoreError> {
        Self::insert_or_join(&self.pool, job).await
    }

    async fn enqueue_once(&self, job: &NewJob) -> Result<Option<i64>, StoreError> {
        if job.kind.coalesce_key().is_some() {
            // The unique index decides, atomically, on every backend.
            return Self::insert_job(&self.pool, job).await;
        }
        let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
        let queued = match Self::live_job_exists(&mut *tx, job).await? {
            true => None,
            false => Self::insert_job(&mut *tx, job).await?,
        };
        tx.commit().await?;
        Ok(queued)
    }

    async fn claim_jobs(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let until = codec::lease_until(now, lease)?;
        let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
        let rows = sqlx::query(self.jobs.claim.clone())
            .bind(D::time(now))
            .bind(i64::from(limit))
            .bind(worker.to_owned())
            .bind(D::time(until))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut jobs = rows
            .iter()
            .map(Self::read_job)
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    async fn renew_job(
        &self,
        id: i64,
        worker: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Self::extend_job(&self.pool, id, worker, until).await
    }

    async fn complete_job(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        // `RETURNING`: whether a row changed, on either driver.
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND leased_by = $2 RETURNING id")
            .bind(id)
            .bind(worker.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(done.is_some())
    }

    async fn fail_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        Self::put_back(&self.pool, id, worker, error, retry_at).await
    }

    async fn job_stats(&self, now: DateTime<Utc>) -> Result<JobStats, StoreError> {
        let row = sqlx::query(self.jobs.stats.clone())
            .bind(D::time(now))
            .fetch_one(&self.pool)
            .await?;
        Ok(JobStats {
            due: row.try_get("due")?,
            dead: row.try_get("dead")?,
            oldest_due: D::read_opt_time(row.try_get("oldest_due")?)?,
        })
    }

    async fn create_submitted_request(
        &self,
        view_id: &str,
        req: &AccessRequest,
        approval: Option<&Approval>,
        jobs: &[NewJob],
    ) -> Result<Submitted, StoreError> {
        self.create_once(view_id, req, approval, jobs).await
    }

    async fn notification_jobs(
        &self,
        id: RequestId,
        now: DateTime<Utc>,
    ) -> Result<NotificationJobs, StoreError> {
        self.count_notification_jobs(id, now).await
    }
}

impl<D: Dialect> std::fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &D::NAME)
            .finish_non_exhaustive()
    }
}
