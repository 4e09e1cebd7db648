//! Picks the backend from the database URL's scheme.

use super::DynStore;

/// Connect to the database the URL names. To be implemented with the
/// SQLite and PostgreSQL backends.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DynStore> {
    let _ = (url, max_connections);
    anyhow::bail!("no database backend built yet")
}
