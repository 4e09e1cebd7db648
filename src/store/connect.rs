//! Picks the backend from the database URL's scheme.

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
    let scheme = url
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    let store: anyhow::Result<DynStore> = match scheme.as_str() {
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
