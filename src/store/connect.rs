//! Picks the backend from the database URL's scheme, and answers what a
//! URL names without opening it.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::DynStore;
use crate::config::redact_url;

/// Connect to the database the URL names: `sqlite:…` (file created when
/// missing; `sqlite::memory:` for a private in-memory database) or
/// `postgres://…` / `postgresql://…`. Errors name the URL without its
/// password. Does not migrate: call [`super::Store::migrate`].
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DynStore> {
    let shown = redact_url(url);
    let store: anyhow::Result<DynStore> = match scheme(url).as_str() {
        "sqlite" => SqliteStore::connect(url, max_connections)
            .await
            .map(|s| Arc::new(s) as DynStore)
            .map_err(flat)
            .with_context(|| format!("cannot open SQLite database {shown}")),
        "postgres" | "postgresql" => PgStore::connect(url, max_connections)
            .await
            .map(|s| Arc::new(s) as DynStore)
            .map_err(flat)
            .with_context(|| format!("cannot connect to PostgreSQL database {shown}")),
        _ => Err(anyhow::anyhow!(
            "unsupported database URL {shown}: it must start with sqlite: or postgres://"
        )),
    };
    store.map_err(|e| without_password(e, url))
}

/// The URL's scheme, lower-cased (`sqlite`, `postgres`…).
fn scheme(url: &str) -> String {
    url.split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether a `sqlite:` URL names an in-memory database, which lives only as
/// long as a connection to it.
pub fn is_in_memory_sqlite(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The file a `sqlite:` URL names, when that file does not exist: opening
/// it would create an empty database, and commands that only read (`check`,
/// an audit export) should say the URL is wrong instead. `None` for other
/// URLs, in-memory databases and files that exist.
pub fn missing_sqlite_file(url: &str) -> Option<PathBuf> {
    if scheme(url) != "sqlite" || is_in_memory_sqlite(url) {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    (!path.exists()).then(|| path.to_path_buf())
}

/// sqlx's messages already include their source; keeping the chain would
/// print every cause twice.
fn flat(e: sqlx::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The driver's own messages should never echo the password, but make sure.
fn without_password(e: anyhow::Error, url: &str) -> anyhow::Error {
    let Some(password) = url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    else {
        return e;
    };
    let decoded = percent_encoding::percent_decode_str(&password)
        .decode_utf8_lossy()
        .into_owned();
    let text = format!("{e:#}");
    if text.contains(&password) || text.contains(&decoded) {
        anyhow::anyhow!(text.replace(&password, "***").replace(&decoded, "***"))
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_an_error_is_masked() {
        let url = "postgres://app:s%3Acret@db.invalid/x";
        let e = without_password(anyhow::anyhow!("failed for s:cret and s%3Acret"), url);
        assert_eq!(e.to_string(), "failed for *** and ***");
        let untouched = without_password(anyhow::anyhow!("refused"), url);
        assert_eq!(untouched.to_string(), "refused");
    }

    #[test]
    fn only_a_missing_sqlite_file_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope.db");
        let url = format!("sqlite://{}", missing.display());
        assert_eq!(missing_sqlite_file(&url), Some(missing.clone()));
        assert!(!missing.exists(), "checking must not create the file");
        std::fs::write(&missing, b"").unwrap();
        assert_eq!(missing_sqlite_file(&url), None);
        assert_eq!(missing_sqlite_file("sqlite::memory:"), None);
        assert_eq!(missing_sqlite_file("sqlite:file:x?mode=memory"), None);
        assert_eq!(missing_sqlite_file("postgres://db/accessbot"), None);
        assert_eq!(missing_sqlite_file("postgres://u@localhost/db"), None);
    }

    #[test]
    fn in_memory_sqlite_urls_are_recognised() {
        assert!(is_in_memory_sqlite("sqlite::memory:"));
        assert!(is_in_memory_sqlite(
            "sqlite:file:shared?mode=memory&cache=shared"
        ));
        assert!(!is_in_memory_sqlite(
            "sqlite:///var/lib/accessbot/accessbot.db"
        ));
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_refused_by_name() {
        let err = connect("mysql://root:hunter2@localhost/db", 1)
            .await
            .err()
            .expect("mysql is not supported");
        let text = format!("{err:#}");
        assert!(text.contains("unsupported database URL"), "{text}");
        assert!(text.contains("mysql://root:***@localhost/db"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
