//! The database checks: reachable, and every migration applied. Nothing is
//! written: a missing SQLite file is reported, not created, and pending
//! migrations are left for `accessbot migrate`.

use std::future::Future;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::Check;
use crate::config::{redact_url, Config};
use crate::store::missing_sqlite_file;

const DATABASE: &str = "database";
const MIGRATIONS: &str = "database migrations";
/// Longer than the PostgreSQL connect timeout and SQLite's busy timeout,
/// so their own messages win; only a hang beyond both ends here.
const DB_TIMEOUT: Duration = Duration::from_secs(30);

const URL_FIX: &str = "check database.url (env DATABASE_URL): host, port, user, password and database name, and that the server is running and reachable from here";

pub(super) async fn checks(config: &Config) -> Vec<Check> {
    let url = config.database.url.expose_secret();
    let shown = redact_url(url);
    if let Some(path) = missing_sqlite_file(url) {
        return vec![
            Check::fail(
                DATABASE,
                format!(
                    "the SQLite file {} does not exist (check did not create it)",
                    path.display()
                ),
                "run `accessbot migrate` to create it with its schema, or correct database.url (env DATABASE_URL)",
            ),
            not_checked(),
        ];
    }
    let store = match within(crate::store::connect(url, 1)).await {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => return unreachable(format!("{e:#}")),
        Err(()) => return unreachable(no_answer(&shown)),
    };
    match within(store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return unreachable(format!("{shown}: {e}")),
        Err(()) => return unreachable(no_answer(&shown)),
    }
    let reachable = Check::pass(
        DATABASE,
        format!("{} at {shown} is reachable", store.backend()),
    );
    let migrations = match within(store.pending_migrations()).await {
        Ok(Ok(pending)) if pending.is_empty() => Check::pass(MIGRATIONS, "every migration is applied"),
        Ok(Ok(pending)) => Check::fail(
            MIGRATIONS,
            format!(
                "{} migration(s) not applied: {} (check did not apply them)",
                pending.len(),
                pending.join(", ")
            ),
            "run `accessbot migrate` (`accessbot serve` also applies them when it starts)",
        ),
        Ok(Err(e)) => Check::fail(
            MIGRATIONS,
            format!("cannot read which migrations are applied: {e}"),
            "check that database.url's user may read the database; `accessbot migrate` sets the schema up",
        ),
        Err(()) => Check::fail(MIGRATIONS, no_answer(&shown), URL_FIX),
    };
    vec![reachable, migrations]
}

/// The database cannot be used: why, and the migrations left unchecked.
fn unreachable(problem: String) -> Vec<Check> {
    vec![Check::fail(DATABASE, problem, URL_FIX), not_checked()]
}

fn no_answer(shown: &str) -> String {
    format!("{shown} did not answer within {}s", DB_TIMEOUT.as_secs())
}

fn not_checked() -> Check {
    Check::fail(
        MIGRATIONS,
        "not checked: no database to check",
        "fix the database problem above, then run the check again",
    )
}

async fn within<T>(fut: impl Future<Output = T>) -> Result<T, ()> {
    tokio::time::timeout(DB_TIMEOUT, fut).await.map_err(|_| ())
}
