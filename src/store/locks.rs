//! The `attribute_locks` table: named leases with fencing tokens, so that
//! one writer at a time owns a (device, attribute key) pair across
//! replicas. A holder that crashes loses its lease when it runs out.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Executor, Row as _};

use super::dialect::{Connection, Dialect, Row, Value};
use super::sql::SqlStore;
use super::StoreError;

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::DB>,
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
{
    /// One statement, so two takers cannot both win: the row is inserted,
    /// or taken over when its lease ran out (or it is the same holder's),
    /// its token raised either way.
    pub(super) async fn take_lock<'c>(
        conn: impl Executor<'c, Database = D::DB>,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let taken = sqlx::query(
            "INSERT INTO attribute_locks (name, holder, token, lease_until) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             token = attribute_locks.token + 1, lease_until = excluded.lease_until \
             WHERE attribute_locks.lease_until <= $4 OR attribute_locks.holder = excluded.holder \
             RETURNING token",
        )
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .bind(D::time(until))
        .bind(D::time(now))
        .fetch_optional(conn)
        .await?;
        Ok(taken.map(|row| row.try_get("token")).transpose()?)
    }

    pub(super) async fn extend_lock<'c>(
        conn: impl Executor<'c, Database = D::DB>,
        name: &str,
        token: i64,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let extended = sqlx::query(
            "UPDATE attribute_locks SET lease_until = $1 WHERE name = $2 AND token = $3 \
             RETURNING token",
        )
        .bind(D::time(until))
        .bind(name.to_owned())
        .bind(token)
        .fetch_optional(conn)
        .await?;
        Ok(extended.is_some())
    }

    pub(super) async fn drop_lock<'c>(
        conn: impl Executor<'c, Database = D::DB>,
        name: &str,
        token: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM attribute_locks WHERE name = $1 AND token = $2")
            .bind(name.to_owned())
            .bind(token)
            .execute(conn)
            .await?;
        Ok(())
    }
}
