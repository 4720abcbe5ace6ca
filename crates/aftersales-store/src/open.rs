//! Opening a store from a database URL.

use std::sync::Arc;

use crate::error::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::store::{EventStore, StoreOptions};

/// Where the embedded store lives when no URL is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/aftersales.db";

/// Opens the store a URL names: `sqlite://PATH` (relative or absolute) or
/// `postgres://…` / `postgresql://…`.
pub async fn open(url: &str, options: StoreOptions) -> Result<Arc<dyn EventStore>, StoreError> {
    if let Some(path) = sqlite_path(url) {
        return Ok(Arc::new(SqliteStore::open(path, options).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PostgresStore::open(url, options).await?));
    }
    Err(StoreError::UnsupportedUrl(redact(url)))
}

/// The file path of a `sqlite://` or `sqlite:` URL.
pub fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .filter(|path| !path.is_empty())
}

/// The URL with any password replaced, fit for logs and error messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/aftersales"),
            "postgres://app:***@db:5432/aftersales"
        );
        assert_eq!(redact("sqlite://data/a.db"), "sqlite://data/a.db");
    }

    #[test]
    fn sqlite_urls_name_a_path() {
        assert_eq!(sqlite_path("sqlite://data/a.db"), Some("data/a.db"));
        assert_eq!(sqlite_path("sqlite:///tmp/a.db"), Some("/tmp/a.db"));
        assert_eq!(sqlite_path("sqlite://"), None);
        assert_eq!(sqlite_path("mysql://x"), None);
    }
}
