//! Writes that must happen once, however often they are asked for: a
//! request created from a form submission (keyed by the modal's view ID,
//! so a redelivered or replayed submission finds the request the first
//! one created, on any replica), and a job enqueued unless one like it is
//! already waiting. Also the insert both request-creating operations share.

use sqlx::{AssertSqlSafe, ColumnIndex, Executor, Row as _};

use super::codec::{self, clean, clean_opt, request_columns};
use super::dialect::{BindNullable, Connection, Dialect, Row, Value};
use super::requests::NewAudit;
use super::sql::SqlStore;
use super::{Actor, NewJob, StoreError, Submitted};
use crate::domain::AccessRequest;

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::DB>,
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
    i32: Value<D::DB>,
{
    /// A new request, its `created` event and its jobs, inside `tx`.
    pub(super) async fn insert_request(
        tx: &mut Connection<D>,
        req: &AccessRequest,
        jobs: &[NewJob],
    ) -> Result<(), StoreError> {
        let inserted = sqlx::query(concat!(
            "INSERT INTO requests (",
            request_columns!(),
            ", node_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17)"
        ))
        .bind(D::id(req.id))
        .bind(req.requester.as_str().to_owned())
        .bind_nullable(clean_opt(req.requester_email.as_deref()))
        .bind(req.attribute.as_str().to_owned())
        .bind(D::json(req.value.to_json()))
        .bind(D::json(codec::device_json(&req.device)?))
        .bind(codec::duration_secs(req.duration)?)
        .bind_nullable(req.approver.as_ref().map(|a| a.as_str().to_owned()))
        .bind(clean(req.reason.as_str()).into_owned())
        .bind(req.status.as_str().to_owned())
        .bind(D::time(req.created_at))
        .bind(D::time(req.updated_at))
        .bind_nullable(req.decided_by.as_ref().map(|a| a.as_str().to_owned()))
        .bind_nullable(req.decided_at.map(D::time))
        .bind_nullable(req.expires_at.map(D::time))
        .bind_nullable(clean_opt(req.failure_reason.as_deref()))
        .bind(req.device.node_id.as_str().to_owned())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(StoreError::Duplicate(req.id))
            }
            other => other?,
        };
        let created = NewAudit {
            id: req.id,
            at: req.created_at,
            actor: &Actor::User(req.requester.clone()),
            action: "created",
            detail: &codec::created_detail(req),
        };
        Self::insert_audit(&mut *tx, created).await?;
        for job in jobs {
            Self::insert_job(&mut *tx, job).await?;
        }
        Ok(())
    }

    /// See [`super::Store::create_submitted_request`].
    pub(super) async fn create_once(
        &self,
        view_id: &str,
        req: &AccessRequest,
        jobs: &[NewJob],
    ) -> Result<Submitted, StoreError> {
        codec::check_new_status(req.status)?;
        let view_id = clean(view_id).into_owned();
        let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
        // First, so that a concurrent duplicate waits here (PostgreSQL: on
        // the key's lock, until this transaction ends) and then finds it.
        let claimed = sqlx::query(
            "INSERT INTO form_submissions (view_id, request_id, at) VALUES ($1, $2, $3) \
             ON CONFLICT (view_id) DO NOTHING RETURNING view_id",
        )
        .bind(view_id.clone())
        .bind(D::id(req.id))
        .bind(D::time(req.created_at))
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_none() {
            tx.rollback().await?;
            let row = sqlx::query("SELECT request_id FROM form_submissions WHERE view_id = $1")
                .bind(view_id)
                .fetch_one(&self.pool)
                .await?;
            return Ok(Submitted::Before(D::read_id(row.try_get("request_id")?)?));
        }
        Self::insert_request(&mut tx, req, jobs).await?;
        tx.commit().await?;
        Ok(Submitted::Now)
    }

    /// See [`super::Store::enqueue_unless_queued`].
    pub(super) async fn enqueue_once(&self, job: &NewJob) -> Result<Option<i64>, StoreError> {
        let Some(id) = job.request_id else {
            return Self::insert_job(&self.pool, job).await.map(Some);
        };
        let (_, tag) = codec::job_payload(&job.kind)?;
        // Not dead, and not running: a job that started may have read the
        // request before the change this one is for.
        let waiting = format!(
            "SELECT 1 AS one FROM jobs WHERE request_id = $1 AND kind = $2 AND dead = {} \
             AND (leased_by IS NULL OR lease_until <= $3) LIMIT 1",
            D::FALSE
        );
        let queued = sqlx::query(AssertSqlSafe(waiting))
            .bind(D::id(id))
            .bind(tag)
            .bind(D::time(job.run_at))
            .fetch_optional(&self.pool)
            .await?;
        match queued {
            Some(_) => Ok(None),
            None => Self::insert_job(&self.pool, job).await.map(Some),
        }
    }
}
