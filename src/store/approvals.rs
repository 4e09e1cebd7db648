//! The `approvals` table and the writes that must happen under a
//! request's write lock: recording an approval (and, with the last one
//! needed, approving the request in the same transaction), and appending
//! an audit event at most once. The lock is the request's row (a no-op
//! `UPDATE`: PostgreSQL's row lock; SQLite's `BEGIN IMMEDIATE` already
//! serializes writers), so concurrent clicks on any replica are counted
//! one after the other and exactly one completes the request.

use std::time::Duration;

use serde_json::json;
use sqlx::{ColumnIndex, Executor, Pool, Row as _};

use super::codec::{self, clean_opt, request_columns};
use super::dialect::{BindNullable, Connection, Dialect, Row, Value};
use super::requests::NewAudit;
use super::sql::SqlStore;
use super::{Actor, NewJob, RecordedApproval, StoreError, Vote, VoteOutcome};
use crate::domain::approval::{completes, effective_duration};
use crate::domain::{RequestId, RequestStatus, SlackUserId};

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::DB>,
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
    i32: Value<D::DB>,
{
    /// Takes the request's write lock inside `conn`'s transaction; its
    /// status and duration (seconds), or `NotFound`.
    async fn lock_request(
        conn: &mut Connection<D>,
        id: RequestId,
    ) -> Result<(RequestStatus, i64), StoreError> {
        let row = sqlx::query(
            "UPDATE requests SET status = status WHERE id = $1 RETURNING status, duration_secs",
        )
        .bind(D::id(id))
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound(id))?;
        let status = codec::parse_status(&row.try_get::<String, _>("status")?)?;
        Ok((status, row.try_get("duration_secs")?))
    }

    pub(super) async fn read_approvals<'c>(
        conn: impl Executor<'c, Database = D::DB>,
        id: RequestId,
    ) -> Result<Vec<RecordedApproval>, StoreError> {
        let rows = sqlx::query(
            "SELECT approver, approver_email, at, duration_secs FROM approvals \
             WHERE request_id = $1 ORDER BY at, approver",
        )
        .bind(D::id(id))
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(|row| {
                let raw: String = row.try_get("approver")?;
                let secs: Option<i64> = row.try_get("duration_secs")?;
                Ok(RecordedApproval {
                    approver: SlackUserId::parse(&raw)
                        .map_err(|e| StoreError::Corrupt(format!("approval of {id}: {e}")))?,
                    email: row.try_get("approver_email")?,
                    at: D::read_time(row.try_get("at")?)?,
                    duration: secs.map(|s| Duration::from_secs(s.max(0) as u64)),
                })
            })
            .collect()
    }

    /// See [`super::Store::approve`].
    pub(super) async fn record_vote(
        pool: &Pool<D::DB>,
        vote: &Vote,
    ) -> Result<VoteOutcome, StoreError> {
        let mut tx = pool.begin_with(D::BEGIN_WRITE).await?;
        let (status, asked_secs) = Self::lock_request(&mut tx, vote.id).await?;
        if status != RequestStatus::Pending {
            return Err(StoreError::Conflict {
                id: vote.id,
                expected: RequestStatus::Pending,
                current: status,
            });
        }
        let inserted = sqlx::query(
            "INSERT INTO approvals (request_id, approver, approver_email, at, duration_secs) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, approver) DO NOTHING \
             RETURNING approver",
        )
        .bind(D::id(vote.id))
        .bind(vote.approver.as_str().to_owned())
        .bind_nullable(clean_opt(vote.email.as_deref()))
        .bind(D::time(vote.at))
        .bind_nullable(vote.duration.map(codec::duration_secs).transpose()?)
        .fetch_optional(&mut *tx)
        .await?;
        let approvals = Self::read_approvals(&mut *tx, vote.id).await?;
        if inserted.is_none() {
            tx.commit().await?;
            return Ok(VoteOutcome::AlreadyCounted(approvals));
        }
        let actor = Actor::User(vote.approver.clone());
        let mut detail = json!({
            "approvals": approvals.iter().map(|a| a.approver.as_str()).collect::<Vec<_>>(),
            "required": vote.required,
        });
        if let Some(d) = vote.duration {
            detail["duration_seconds"] = json!(d.as_secs());
        }
        if !completes(approvals.len(), vote.required) {
            let event = NewAudit {
                id: vote.id,
                at: vote.at,
                actor: &actor,
                action: "approval_added",
                detail: &detail,
            };
            Self::insert_audit(&mut *tx, event).await?;
            Self::insert_jobs(&mut tx, &vote.on_counted).await?;
            tx.commit().await?;
            return Ok(VoteOutcome::Counted(approvals));
        }
        let asked = Duration::from_secs(asked_secs.max(0) as u64);
        let duration = effective_duration(asked, approvals.iter().map(|a| a.duration));
        if duration < asked {
            detail["duration_asked_seconds"] = json!(asked.as_secs());
            detail["duration_seconds"] = json!(duration.as_secs());
        }
        let row = sqlx::query(concat!(
            "UPDATE requests SET status = 'approved', updated_at = $1, decided_by = $2, ",
            "decided_at = $1, decided_by_email = $3, duration_secs = $4 ",
            "WHERE id = $5 AND status = 'pending' RETURNING ",
            request_columns!()
        ))
        .bind(D::time(vote.at))
        .bind(vote.approver.as_str().to_owned())
        .bind_nullable(clean_opt(vote.email.as_deref()))
        .bind(codec::duration_secs(duration)?)
        .bind(D::id(vote.id))
        .fetch_one(&mut *tx)
        .await?;
        let req = Self::read_request(&row)?;
        let event = NewAudit {
            id: vote.id,
            at: vote.at,
            actor: &actor,
            action: RequestStatus::Approved.as_str(),
            detail: &detail,
        };
        Self::insert_audit(&mut *tx, event).await?;
        Self::insert_jobs(&mut tx, &vote.on_approved).await?;
        tx.commit().await?;
        Ok(VoteOutcome::Approved(Box::new(req)))
    }

    async fn insert_jobs(conn: &mut Connection<D>, jobs: &[NewJob]) -> Result<(), StoreError> {
        for job in jobs {
            Self::insert_job(&mut *conn, job).await?;
        }
        Ok(())
    }

    /// See [`super::Store::append_audit_once`].
    pub(super) async fn audit_once(
        pool: &Pool<D::DB>,
        event: NewAudit<'_>,
        jobs: &[NewJob],
    ) -> Result<bool, StoreError> {
        let mut tx = pool.begin_with(D::BEGIN_WRITE).await?;
        Self::lock_request(&mut tx, event.id).await?;
        let found = sqlx::query(
            "SELECT id FROM audit_events WHERE request_id = $1 AND action = $2 LIMIT 1",
        )
        .bind(D::id(event.id))
        .bind(event.action.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_some() {
            tx.commit().await?;
            return Ok(false);
        }
        Self::insert_audit(&mut *tx, event).await?;
        Self::insert_jobs(&mut tx, jobs).await?;
        tx.commit().await?;
        Ok(true)
    }
}
