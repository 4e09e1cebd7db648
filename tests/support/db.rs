//! Real databases for tests: a fresh SQLite file, or a fresh PostgreSQL
//! database per test (so tests run in parallel).
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (a server this user may
//! `CREATE DATABASE` on), else from a testcontainers container when Docker
//! is available. With neither, Postgres tests are skipped loudly, or fail
//! when `REQUIRE_POSTGRES=1`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use accessbot::store::DynStore;
use sqlx::{Connection, Executor, PgConnection};
use testcontainers_modules::postgres::Postgres as PostgresImage;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

/// Test databases on a shared server older than this are left-overs of
/// earlier runs and are dropped.
const STALE_AFTER: Duration = Duration::from_secs(3600);
const DB_PREFIX: &str = "accessbot_test_";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that lives as long as this value (the temp dir or container
/// is removed on drop; databases on a shared server are swept by later runs).
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    _container: Option<ContainerAsync<PostgresImage>>,
}

impl TestDb {
    /// `None` only for Postgres when it is unavailable and not required.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite().await),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A fresh SQLite file in a temp dir (not yet created: the store creates it).
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("accessbot.db").display());
        TestDb {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
            _container: None,
        }
    }

    /// A fresh, empty PostgreSQL database.
    pub async fn postgres() -> Option<TestDb> {
        if let Ok(server) = std::env::var("TEST_DATABASE_URL") {
            // Asked for explicitly: any failure is a test failure.
            let url = create_database(&server)
                .await
                .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but unusable: {e:#}"));
            return Some(TestDb {
                url,
                backend: Backend::Postgres,
                _dir: None,
                _container: None,
            });
        }
        match start_container().await {
            Ok((url, container)) => Some(TestDb {
                url,
                backend: Backend::Postgres,
                _dir: None,
                _container: Some(container),
            }),
            Err(e) => {
                let why = format!(
                    "neither TEST_DATABASE_URL nor Docker (testcontainers) is available: {e:#}"
                );
                if std::env::var("REQUIRE_POSTGRES").as_deref() == Ok("1") {
                    panic!("REQUIRE_POSTGRES=1 but PostgreSQL tests cannot run: {why}");
                }
                eprintln!("\n*** SKIPPED PostgreSQL test: {why} ***\n");
                None
            }
        }
    }

    /// Connects with `max_connections` and applies the migrations.
    pub async fn store(&self, max_connections: u32) -> DynStore {
        let store = accessbot::store::connect(&self.url, max_connections)
            .await
            .unwrap_or_else(|e| panic!("connect to test database: {e:#}"));
        store.migrate().await.expect("migrate test database");
        store
    }

    /// Runs `sql` (no parameters) on the database directly, for a test to
    /// look under or reach past the store; the first column of each row as
    /// an integer (none for a statement that returns no rows).
    pub async fn raw(&self, sql: &str) -> Vec<i64> {
        use sqlx::Row;
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                rows.iter().map(|r| r.get::<i64, _>(0)).collect()
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                rows.iter().map(|r| r.get::<i64, _>(0)).collect()
            }
        }
    }

    /// Connects without migrating (for tests of migration itself).
    pub async fn unmigrated_store(&self, max_connections: u32) -> DynStore {
        accessbot::store::connect(&self.url, max_connections)
            .await
            .unwrap_or_else(|e| panic!("connect to test database: {e:#}"))
    }
}

/// Creates `accessbot_test_<unix secs>_<uuid>` on the server and returns its URL.
async fn create_database(server: &str) -> anyhow::Result<String> {
    let mut admin = PgConnection::connect(server).await?;
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if !SWEPT.swap(true, Ordering::SeqCst) {
        sweep_stale(&mut admin).await;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let name = format!("{DB_PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
    // Concurrent CREATE DATABASE can briefly collide on the template.
    let mut attempt = 0;
    loop {
        match admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
        {
            Ok(_) => break,
            Err(e) if attempt < 20 && e.to_string().contains("being accessed by other users") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    admin.close().await?;
    let mut url = url::Url::parse(server)?;
    url.set_path(&name);
    Ok(url.to_string())
}

/// Drops test databases left by runs more than [`STALE_AFTER`] ago; best effort.
async fn sweep_stale(admin: &mut PgConnection) {
    let names: Vec<String> =
        match sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{DB_PREFIX}%"))
            .fetch_all(&mut *admin)
            .await
        {
            Ok(n) => n,
            Err(_) => return,
        };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for name in names {
        let created = name
            .strip_prefix(DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|c| now.saturating_sub(c) > STALE_AFTER.as_secs()) {
            let _ = admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .await;
        }
    }
}

async fn start_container() -> anyhow::Result<(String, ContainerAsync<PostgresImage>)> {
    let container = PostgresImage::default()
        .with_host_auth()
        .with_tag("16-alpine")
        .start()
        .await?;
    let host = container.get_host().await?;
    let port = container.get_host_port_ipv4(5432).await?;
    Ok((
        format!("postgres://postgres@{host}:{port}/postgres"),
        container,
    ))
}
