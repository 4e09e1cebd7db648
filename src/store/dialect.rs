//! What tells the two backends apart, and nothing else, so that every SQL
//! statement of the store is written once ([`super::sql::SqlStore`]):
//! how a time, a request ID and JSON are stored, how a write transaction
//! starts, how booleans are spelled, and how due jobs are leased.
//!
//! Statements use `$1`-style placeholders, which both drivers accept (SQLite
//! takes `$NNN` as a numbered parameter, so one can repeat).

use chrono::{DateTime, Utc};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::query::Query;
use sqlx::{Database, Decode, Encode, IntoArguments, Type};

use super::StoreError;
use crate::domain::RequestId;

/// A Rust type that a column of `DB` holds as it is: bound to statements
/// and read back from rows, also as `NULL`able.
pub trait Value<DB: Database>:
    for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Unpin
{
    /// `Option<Self>`, which sqlx encodes for each driver separately (so a
    /// generic caller cannot bind it directly): see [`BindNullable`].
    type Nullable: for<'q> Encode<'q, DB> + Type<DB> + From<Option<Self>>;
}

impl<DB: Database, T> Value<DB> for T
where
    T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Unpin,
    Option<T>: for<'q> Encode<'q, DB>,
{
    type Nullable = Option<T>;
}

/// Binds an optional [`Value`]: `None` is `NULL`.
pub trait BindNullable<DB: Database>: Sized {
    fn bind_nullable<T: Value<DB>>(self, value: Option<T>) -> Self;
}

impl<DB: Database> BindNullable<DB> for Query<'_, DB, DB::Arguments> {
    fn bind_nullable<T: Value<DB>>(self, value: Option<T>) -> Self {
        self.bind(T::Nullable::from(value))
    }
}

/// A sqlx driver the store runs on: it builds arguments and migrates.
pub trait Driver: Database<Arguments: IntoArguments<Self>, Connection: Migrate> {}

impl<DB> Driver for DB where DB: Database<Arguments: IntoArguments<DB>, Connection: Migrate> {}

/// One backend's side of the store. Implemented by
/// [`super::postgres::PgDialect`] and [`super::sqlite::SqliteDialect`].
pub trait Dialect: Send + Sync + 'static {
    type DB: Driver;
    /// A time as stored (TIMESTAMPTZ, or INTEGER microseconds).
    type Time: Value<Self::DB>;
    /// A request ID as stored (UUID, or TEXT).
    type Id: Value<Self::DB>;
    /// A JSON document as bound and read (JSONB, or TEXT).
    type Json: Value<Self::DB>;

    /// The backend's name, for logs and `check`.
    const NAME: &'static str;
    /// Starts a transaction that reads, then writes what it read. Plain
    /// `BEGIN` where the statements' own row locks serialize writers.
    const BEGIN_WRITE: &'static str = "BEGIN";
    /// The boolean literals, spelled as the schema's partial indexes spell
    /// them, so that the planner can use those indexes.
    const FALSE: &'static str = "FALSE";
    const TRUE: &'static str = "TRUE";
    /// One row, one integer column `n`: 1 if sqlx's `_sqlx_migrations` table
    /// exists, else 0. Only reads.
    const COUNT_MIGRATIONS_TABLE: &'static str;

    /// The migrations for this backend's schema.
    fn migrator() -> &'static Migrator;

    /// The statement that leases the jobs `due` selects (`SELECT id FROM
    /// jobs … LIMIT $2`) by applying `set` to them, returning
    /// [`super::codec::job_columns`], such that concurrent claimers never
    /// lease the same job.
    fn claim_jobs(due: &str, set: &str) -> String;

    fn time(t: DateTime<Utc>) -> Self::Time;
    fn read_time(stored: Self::Time) -> Result<DateTime<Utc>, StoreError>;
    fn id(id: RequestId) -> Self::Id;
    fn read_id(stored: Self::Id) -> Result<RequestId, StoreError>;
    fn json(v: serde_json::Value) -> Self::Json;
    /// `what` names the document in a [`StoreError::Corrupt`].
    fn read_json(what: &str, stored: Self::Json) -> Result<serde_json::Value, StoreError>;

    fn read_opt_time(stored: Option<Self::Time>) -> Result<Option<DateTime<Utc>>, StoreError> {
        stored.map(Self::read_time).transpose()
    }
}

/// A connection of the dialect's driver.
pub type Connection<D> = <<D as Dialect>::DB as Database>::Connection;
/// The bound parameters of a statement of the dialect's driver.
pub type Arguments<D> = <<D as Dialect>::DB as Database>::Arguments;
/// A row as the dialect's driver returns it.
pub type Row<D> = <<D as Dialect>::DB as Database>::Row;
