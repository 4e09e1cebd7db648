//! The statements and row readers that more than one store operation uses:
//! appending an audit event and enqueueing a job (alone or inside a
//! transition), reading a request or a job, filtering requests.

use sqlx::{ColumnIndex, Executor, QueryBuilder, Row as _};

use super::codec::{self, clean, clean_json, RawRequest};
use super::dialect::{BindNullable, Connection, Dialect, Row, Value};
use super::sql::SqlStore;
use super::{Actor, Job, NewJob, RequestFilter, StoreError};
use crate::domain::{AccessRequest, RequestId};

/// A new audit event of a request.
pub(super) struct NewAudit<'a> {
    pub id: RequestId,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: &'a Actor,
    pub action: &'a str,
    pub detail: &'a serde_json::Value,
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::DB>,
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
    i32: Value<D::DB>,
{
    pub(super) fn read_request(row: &Row<D>) -> Result<AccessRequest, StoreError> {
        RawRequest {
            id: D::read_id(row.try_get("id")?)?,
            requester: row.try_get("requester")?,
            requester_email: row.try_get("requester_email")?,
            attribute: row.try_get("attribute")?,
            value: D::read_json("value", row.try_get("value")?)?,
            device: D::read_json("device", row.try_get("device")?)?,
            duration_secs: row.try_get("duration_secs")?,
            approver: row.try_get("approver")?,
            reason: row.try_get("reason")?,
            status: row.try_get("status")?,
            created_at: D::read_time(row.try_get("created_at")?)?,
            updated_at: D::read_time(row.try_get("updated_at")?)?,
            decided_by: row.try_get("decided_by")?,
            decided_at: D::read_opt_time(row.try_get("decided_at")?)?,
            expires_at: D::read_opt_time(row.try_get("expires_at")?)?,
            failure_reason: row.try_get("failure_reason")?,
        }
        .into_request()
    }

    /// A claimed job, read from [`codec::job_columns`].
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

    pub(super) async fn insert_audit(
        conn: &mut Connection<D>,
        event: NewAudit<'_>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_events (request_id, at, actor, action, detail) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(D::id(event.id))
        .bind(D::time(event.at))
        .bind(event.actor.as_str().to_owned())
        .bind(clean(event.action).into_owned())
        .bind(D::json(clean_json(event.detail)))
        .execute(conn)
        .await
        .map_err(missing_request(event.id))?;
        Ok(())
    }

    pub(super) async fn insert_job(
        conn: &mut Connection<D>,
        job: &NewJob,
    ) -> Result<i64, StoreError> {
        let (payload, tag) = codec::job_payload(&job.kind)?;
        let inserted = sqlx::query(
            "INSERT INTO jobs (request_id, kind, payload, run_at) VALUES ($1, $2, $3, $4) \
             RETURNING id",
        )
        .bind_nullable(job.request_id.map(D::id))
        .bind(tag)
        .bind(D::json(payload))
        .bind(D::time(job.run_at))
        .fetch_one(conn)
        .await;
        match (inserted, job.request_id) {
            (Ok(row), _) => Ok(row.try_get("id")?),
            (Err(e), Some(id)) => Err(missing_request(id)(e)),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// `select` (a `SELECT … FROM requests`) narrowed to the requests the
    /// filter selects; its limit is left to the caller.
    pub(super) fn filtered(select: &str, f: &RequestFilter) -> QueryBuilder<D::DB> {
        let mut qb = QueryBuilder::new(select);
        qb.push(" WHERE TRUE");
        if let Some(u) = &f.requester {
            qb.push(" AND requester = ")
                .push_bind(u.as_str().to_owned());
        }
        if let Some(u) = &f.approver {
            qb.push(" AND approver = ").push_bind(u.as_str().to_owned());
        }
        if !f.statuses.is_empty() {
            qb.push(" AND status IN (");
            let mut list = qb.separated(", ");
            for s in &f.statuses {
                list.push_bind(s.as_str().to_owned());
            }
            qb.push(")");
        }
        if let Some(n) = &f.node_id {
            qb.push(" AND node_id = ").push_bind(n.as_str().to_owned());
        }
        if let Some(a) = &f.attribute {
            qb.push(" AND attribute = ").push_bind(a.clone());
        }
        let times = [
            (" AND created_at >= ", f.created_since),
            (" AND created_at <= ", f.created_before),
            (" AND expires_at <= ", f.expires_before),
        ];
        for (condition, time) in times {
            if let Some(t) = time {
                qb.push(condition).push_bind(D::time(t));
            }
        }
        qb
    }
}

/// Maps a foreign-key failure (the request does not exist) to `NotFound`.
pub(super) fn missing_request(id: RequestId) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound(id),
        _ => StoreError::Database(e),
    }
}
