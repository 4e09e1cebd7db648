//! A request's rows (the request, its audit trail) written and read
//! into domain values, and the statements that more than one store
//! operation runs: appending an audit event (alone, or inside a create or
//! a transition) and filtering requests.

use std::time::Duration;

use sqlx::{ColumnIndex, Executor, QueryBuilder, Row as _};

use super::codec::{self, clean, clean_json};
use super::dialect::{Dialect, Row, Value};
use super::sql::SqlStore;
use super::{Actor, AuditEvent, RequestFilter, StoreError};
use crate::domain::{AccessRequest, AttributeKey, AttributeValue, Reason, RequestId, SlackUserId};

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
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
{
    /// A request from [`codec::request_columns`].
    pub(super) fn read_request(row: &Row<D>) -> Result<AccessRequest, StoreError> {
        let id = D::read_id(row.try_get("id")?)?;
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("request {id}: {what}: {e}"))
        };
        let text = |column: &str| row.try_get::<String, _>(column);
        let user = |what: &str, raw: String| SlackUserId::parse(&raw).map_err(|e| bad(what, &e));
        let opt_user = |what: &str| -> Result<Option<SlackUserId>, StoreError> {
            let raw: Option<String> = row.try_get(what)?;
            raw.map(|r| user(what, r)).transpose()
        };
        let value = D::read_json("value", row.try_get("value")?)?;
        let device = D::read_json("device", row.try_get("device")?)?;
        let duration_secs: i64 = row.try_get("duration_secs")?;
        Ok(AccessRequest {
            id,
            requester: user("requester", text("requester")?)?,
            requester_email: row.try_get("requester_email")?,
            attribute: AttributeKey::parse(&text("attribute")?)
                .map_err(|e| bad("attribute", &e))?,
            value: AttributeValue::from_json(&value).map_err(|e| bad("value", &e))?,
            device: serde_json::from_value(device).map_err(|e| bad("device", &e))?,
            duration: Duration::from_secs(
                u64::try_from(duration_secs).map_err(|e| bad("duration", &e))?,
            ),
            approver: opt_user("approver")?,
            reason: Reason::parse(&text("reason")?).map_err(|e| bad("reason", &e))?,
            status: codec::parse_status(&text("status")?)?,
            created_at: D::read_time(row.try_get("created_at")?)?,
            updated_at: D::read_time(row.try_get("updated_at")?)?,
            decided_by: opt_user("decided_by")?,
            decided_at: D::read_opt_time(row.try_get("decided_at")?)?,
            expires_at: D::read_opt_time(row.try_get("expires_at")?)?,
            failure_reason: row.try_get("failure_reason")?,
            decided_by_email: row.try_get("decided_by_email")?,
            extends: row
                .try_get::<Option<D::Id>, _>("extends")?
                .map(D::read_id)
                .transpose()?,
        })
    }

    pub(super) fn read_audit_event(id: RequestId, row: &Row<D>) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            id: row.try_get("id")?,
            request_id: id,
            at: D::read_time(row.try_get("at")?)?,
            actor: Actor::parse(&row.try_get::<String, _>("actor")?),
            action: row.try_get("action")?,
            detail: D::read_json("audit detail", row.try_get("detail")?)?,
        })
    }

    pub(super) async fn insert_audit<'c>(
        conn: impl Executor<'c, Database = D::DB>,
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

    /// `select` (a `SELECT … FROM requests`) narrowed to the requests the
    /// filter selects; its limit is left to the caller.
    pub(super) fn filtered(select: &str, f: &RequestFilter) -> QueryBuilder<D::DB> {
        let mut qb = QueryBuilder::new(select);
        qb.push(" WHERE TRUE");
        let texts = [
            (
                " AND requester = ",
                f.requester.as_ref().map(|u| u.as_str()),
            ),
            (
                " AND requester <> ",
                f.not_requester.as_ref().map(|u| u.as_str()),
            ),
            (" AND approver = ", f.approver.as_ref().map(|u| u.as_str())),
            (
                " AND decided_by = ",
                f.decided_by.as_ref().map(|u| u.as_str()),
            ),
            (" AND node_id = ", f.node_id.as_ref().map(|n| n.as_str())),
            (" AND attribute = ", f.attribute.as_deref()),
        ];
        for (condition, text) in texts {
            if let Some(text) = text {
                qb.push(condition).push_bind(text.to_owned());
            }
        }
        if let Some(grant) = f.extends {
            qb.push(" AND extends = ").push_bind(D::id(grant));
        }
        if !f.statuses.is_empty() {
            qb.push(" AND status IN (");
            let mut list = qb.separated(", ");
            for s in &f.statuses {
                list.push_bind(s.as_str().to_owned());
            }
            qb.push(")");
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

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut super::dialect::Connection<D>: Executor<'c, Database = D::DB>,
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
{
    /// See [`super::Store::give_up_grant`].
    pub(super) async fn mark_given_up(
        pool: &sqlx::Pool<D::DB>,
        id: RequestId,
        reason: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = pool.begin_with(D::BEGIN_WRITE).await?;
        let marked = sqlx::query(
            "UPDATE requests SET failure_reason = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'approved' AND failure_reason IS NULL RETURNING id",
        )
        .bind(clean(reason).into_owned())
        .bind(D::time(at))
        .bind(D::id(id))
        .fetch_optional(&mut *tx)
        .await?;
        if marked.is_some() {
            let event = NewAudit {
                id,
                at,
                actor: &Actor::System,
                action: "grant_given_up",
                detail: &serde_json::json!({ "error": reason }),
            };
            Self::insert_audit(&mut *tx, event).await?;
        }
        tx.commit().await?;
        Ok(marked.is_some())
    }
}
