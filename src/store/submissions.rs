//! What keeps repeats cheap and harmless: a request created from a form
//! submission once (keyed by the modal's view ID, so a redelivered or
//! replayed submission finds the request the first one created, on any
//! replica), and a read of a request's notification backlog (whether its
//! messages may be stale). Also the insert both request-creating
//! operations share.

use sqlx::{AssertSqlSafe, ColumnIndex, Executor, Row as _};

use super::codec::{self, clean, clean_opt, request_columns};
use super::dialect::{BindNullable, Connection, Dialect, Row, Value};
use super::requests::NewAudit;
use super::sql::SqlStore;
use super::{Actor, Approval, NewJob, NotificationJobs, StoreError, Submitted};
use crate::domain::{AccessRequest, RequestId, RequestStatus};
use chrono::{DateTime, Utc};

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::DB>,
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
    i32: Value<D::DB>,
{
    /// A new request, its `created` event, the `approved` event of
    /// `approval` and its jobs, inside `tx`.
    pub(super) async fn insert_request(
        tx: &mut Connection<D>,
        req: &AccessRequest,
        approval: Option<&Approval>,
        jobs: &[NewJob],
    ) -> Result<(), StoreError> {
        let inserted = sqlx::query(concat!(
            "INSERT INTO requests (",
            request_columns!(),
            ", node_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18, $19)"
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
        .bind_nullable(clean_opt(req.decided_by_email.as_deref()))
        .bind_nullable(req.extends.map(D::id))
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
        if let Some(approval) = approval {
            let approved = NewAudit {
                id: req.id,
                at: req.decided_at.unwrap_or(req.created_at),
                actor: &approval.actor,
                action: RequestStatus::Approved.as_str(),
                detail: &approval.detail,
            };
            Self::insert_audit(&mut *tx, approved).await?;
        }
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
        approval: Option<&Approval>,
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
        Self::insert_request(&mut tx, req, approval, jobs).await?;
        tx.commit().await?;
        Ok(Submitted::Now)
    }

    /// See [`super::Store::notification_jobs`].
    pub(super) async fn count_notification_jobs(
        &self,
        id: RequestId,
        now: DateTime<Utc>,
    ) -> Result<NotificationJobs, StoreError> {
        let sql = format!(
            "SELECT COALESCE(SUM(CASE WHEN dead = {no} AND (leased_by IS NULL OR lease_until <= $2) \
             AND (run_at <= $2 OR attempts > 0) THEN 1 ELSE 0 END), 0) AS waiting, \
             COALESCE(SUM(CASE WHEN dead = {no} THEN 0 ELSE 1 END), 0) AS dead \
             FROM jobs WHERE request_id = $1 AND kind = 'notify'",
            no = D::FALSE
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(D::id(id))
            .bind(D::time(now))
            .fetch_one(&self.pool)
            .await?;
        Ok(NotificationJobs {
            waiting: row.try_get("waiting")?,
            dead: row.try_get("dead")?,
        })
    }
}
