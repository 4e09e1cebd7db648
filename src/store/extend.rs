//! Extending an active grant (see [`super::Store::extend_grant`]): a
//! compare-and-set on the grant's status and expiry, its `extended`
//! event, the extension request finished, and the jobs, all in one
//! transaction, so the grant's expiry only ever moves by one extension
//! at a time and an approved extension is applied exactly once.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Executor, Pool, Row as _};

use super::codec::{self, request_columns};
use super::dialect::{Connection, Dialect, Row, Value};
use super::requests::NewAudit;
use super::sql::SqlStore;
use super::{Actor, NewJob, StoreError};
use crate::domain::{AccessRequest, RequestId, RequestStatus};

/// Time added to an active grant (Extend), applied only if the grant is
/// still active and still ends at `expected_until`.
#[derive(Clone, Debug)]
pub struct Extension {
    pub grant: RequestId,
    /// The grant's expiry the extension was computed from.
    pub expected_until: DateTime<Utc>,
    pub new_until: DateTime<Utc>,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    /// Context of the `extended` audit event (who asked, how much, why).
    pub detail: serde_json::Value,
    /// The approved request to extend the grant that this applies: it
    /// goes `approved → extended` (its `expires_at` the grant's new
    /// expiry) in the same transaction, with the same event.
    pub request: Option<RequestId>,
    /// Jobs enqueued in the same transaction.
    pub jobs: Vec<NewJob>,
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::DB>,
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
    i32: Value<D::DB>,
{
    /// See [`super::Store::extend_grant`].
    pub(super) async fn apply_extension(
        pool: &Pool<D::DB>,
        ext: &Extension,
    ) -> Result<AccessRequest, StoreError> {
        let mut tx = pool.begin_with(D::BEGIN_WRITE).await?;
        let updated = sqlx::query(concat!(
            "UPDATE requests SET expires_at = $1, updated_at = $2 ",
            "WHERE id = $3 AND status = 'active' AND expires_at = $4 RETURNING ",
            request_columns!()
        ))
        .bind(D::time(ext.new_until))
        .bind(D::time(ext.at))
        .bind(D::id(ext.grant))
        .bind(D::time(ext.expected_until))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = updated else {
            return Err(Self::why_not_extended(&mut tx, ext.grant).await?);
        };
        let grant = Self::read_request(&row)?;
        let event = |id| NewAudit {
            id,
            at: ext.at,
            actor: &ext.actor,
            action: RequestStatus::Extended.as_str(),
            detail: &ext.detail,
        };
        Self::insert_audit(&mut *tx, event(ext.grant)).await?;
        if let Some(request) = ext.request {
            let finished = sqlx::query(
                "UPDATE requests SET status = 'extended', expires_at = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'approved' AND extends = $4 RETURNING id",
            )
            .bind(D::time(ext.new_until))
            .bind(D::time(ext.at))
            .bind(D::id(request))
            .bind(D::id(ext.grant))
            .fetch_optional(&mut *tx)
            .await?;
            if finished.is_none() {
                let current = Self::status_of(&mut tx, request).await?;
                return Err(match current {
                    None => StoreError::NotFound(request),
                    Some(current) => StoreError::Conflict {
                        id: request,
                        expected: RequestStatus::Approved,
                        current,
                    },
                });
            }
            Self::insert_audit(&mut *tx, event(request)).await?;
        }
        for job in &ext.jobs {
            Self::insert_job(&mut *tx, job).await?;
        }
        tx.commit().await?;
        Ok(grant)
    }

    async fn status_of(
        conn: &mut Connection<D>,
        id: RequestId,
    ) -> Result<Option<RequestStatus>, StoreError> {
        let row = sqlx::query("SELECT status FROM requests WHERE id = $1")
            .bind(D::id(id))
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|r| codec::parse_status(&r.try_get::<String, _>("status")?))
            .transpose()
    }

    /// Why the grant's compare-and-set changed nothing.
    async fn why_not_extended(
        conn: &mut Connection<D>,
        grant: RequestId,
    ) -> Result<StoreError, StoreError> {
        Ok(match Self::status_of(conn, grant).await? {
            None => StoreError::NotFound(grant),
            Some(RequestStatus::Active) => StoreError::ExpiryChanged(grant),
            Some(current) => StoreError::Conflict {
                id: grant,
                expected: RequestStatus::Active,
                current,
            },
        })
    }
}
