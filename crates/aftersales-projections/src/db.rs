//! The read-model tables, in a database of their own: a file beside a
//! SQLite log, a schema beside a PostgreSQL one, or wherever `--read-db`
//! says. It holds derived data only, so its commits are not synced and it
//! may be deleted: the runner rebuilds it from the log.
//!
//! Every projection keeps its documents in a table of the same shape,
//! `rm_<name>(collection, key, sort, doc)`, with a side table of search terms
//! `rm_<name>_tags(collection, field, value, key)` and one of entries written
//! once (a case's timeline), `rm_<name>_entries(collection, key, doc)`, kept
//! in key order on SQLite so that a range of them is a few pages. A rebuild fills
//! `rm_<name>__shadow` tables and swaps them in with a rename inside one
//! transaction. The statements are the same on both backends (`$n`
//! parameters and `ON CONFLICT` work on SQLite and PostgreSQL alike); the
//! [`with_pool!`] macro spells each out once per pool type.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use aftersales_store::{redact, sqlite_path, Position, StoreError};
use chrono::Utc;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Connection;
use sqlx::QueryBuilder;

use crate::error::ProjectionError;
use crate::sqlite_reads::{Param, SqliteReaders};

/// Rows per multi-row statement at most: far below either backend's
/// parameter limit.
const ROWS_PER_STATEMENT: usize = 512;

/// `rows` cut into multi-row statements of a few lengths only: as many of
/// [`ROWS_PER_STATEMENT`] as fit, then the rest in powers of two. Each
/// statement text is prepared once per connection and kept with the values
/// last bound to it (SQLite holds a copy until the statement's next run).
/// With one text per length, a connection kept up to a hundred statements
/// of hundreds of documents each, and the service's memory grew under
/// steady load as batches of new lengths came by.
fn statements<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let len = match rest.len() {
            0 => return None,
            len if len >= ROWS_PER_STATEMENT => ROWS_PER_STATEMENT,
            len => 1 << len.ilog2(),
        };
        let (statement, after) = rest.split_at(len);
        rest = after;
        Some(statement)
    })
}

/// Which tables a runtime writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Live,
    /// A rebuild that will replace the live tables.
    Shadow,
    /// A rebuild to compare with the live tables, then dropped.
    Verify,
}

/// The table of a projection's documents.
pub fn table_name(name: &str, target: Target) -> String {
    match target {
        Target::Live => format!("rm_{name}"),
        Target::Shadow => format!("rm_{name}__shadow"),
        Target::Verify => format!("rm_{name}__verify"),
    }
}

/// The status row of a projection's tables.
pub fn status_name(name: &str, target: Target) -> String {
    match target {
        Target::Live => name.to_owned(),
        Target::Shadow => format!("{name}@shadow"),
        Target::Verify => format!("{name}@verify"),
    }
}

impl Target {
    /// The state its status row shows while it is written.
    pub(crate) fn state(self) -> &'static str {
        match self {
            Target::Live => "running",
            Target::Shadow | Target::Verify => "rebuilding",
        }
    }
}

/// A connection pool to the database holding the read models.
#[derive(Debug, Clone)]
pub enum ReadDb {
    Sqlite(SqliteDb),
    Postgres(PgPool),
}

/// The read models' SQLite database: the async driver's pool, and for a
/// file, connections that read on the caller's thread.
#[derive(Debug, Clone)]
pub struct SqliteDb {
    pool: SqlitePool,
    readers: Option<Arc<SqliteReaders>>,
}

macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            ReadDb::Sqlite(SqliteDb { pool: $pool, .. }) => $body,
            ReadDb::Postgres($pool) => $body,
        }
    };
}

/// A transaction that writes. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`) and so waits its turn behind another writer (a
/// rebuild or a verify beside the service's runner); a deferred one that
/// read first fails at its first write when another connection committed
/// meanwhile ("database is locked").
trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error> {
        self.begin().await
    }
}

/// Where a projection stands, as its status row records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusRow {
    pub name: String,
    pub version: u32,
    pub position: Position,
    pub state: String,
    pub failed_position: Option<Position>,
    pub error: Option<String>,
    pub updated_at: String,
    /// Changes whenever the tables change behind the runner that writes
    /// them (a reset, a swapped-in rebuild, a retry of parked events).
    pub epoch: i64,
}

/// An event a read model could not decode or apply, set aside.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParkedEvent {
    /// The status row's name: the read model, or `<name>@shadow` while a
    /// rebuild runs.
    pub projection: String,
    pub position: Position,
    pub event_id: uuid::Uuid,
    pub stream: String,
    pub event_type: String,
    pub error: String,
    /// How often it failed: once when parked, then once per retry.
    pub attempts: u32,
    pub parked_at: String,
}

/// How a commit moves a read model.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Move {
    /// The checkpoint moves from `from` to `to`, if the tables are still at
    /// `from` in `epoch`.
    Checkpoint {
        from: Position,
        to: Position,
        epoch: i64,
    },
    /// A parked event at `position` was applied after all: it is unparked
    /// and the epoch moves, so the runner reloads what it holds.
    Unpark { position: Position },
}

/// A document row to write; `doc: None` deletes it.
#[derive(Debug)]
pub(crate) struct RowWrite {
    pub collection: &'static str,
    pub key: String,
    pub sort: String,
    pub doc: Option<String>,
    /// Drop all its search terms first (the row may have old ones that are
    /// not known).
    pub retag: bool,
    /// Old search terms to drop: most changes move one term, and rewriting
    /// them all would cost an index delete and insert each.
    pub untag: Vec<(&'static str, String)>,
    /// Search terms to add.
    pub tags: Vec<(&'static str, String)>,
    /// An entry written once, to the entries table (`doc` is set, no
    /// search terms).
    pub entry: bool,
}

/// A stored document row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRow {
    pub key: String,
    pub sort: String,
    pub doc: String,
}

/// A filtered, paged read of one collection.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub collection: &'static str,
    /// Every `(field, value)` must match a search term.
    pub tags: Vec<(&'static str, String)>,
    /// `sort >= from`.
    pub sort_from: Option<String>,
    /// `sort < until`.
    pub sort_until: Option<String>,
    /// Rows after this `(sort, key)`: the cursor of the previous page.
    pub after: Option<(String, String)>,
    pub limit: usize,
}

/// The schema the read models live in on PostgreSQL.
pub const READ_SCHEMA: &str = "read_models";

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/read/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("../../migrations/read/postgres");

/// Where the read models of the log at `log_url` live: `read_url` if
/// given, else beside the log (SQLite: `<log>.read.db`; PostgreSQL: the
/// log's database, in the schema [`READ_SCHEMA`]).
pub fn read_db_url(log_url: &str, read_url: Option<&str>) -> Result<String, ProjectionError> {
    let url = match (read_url, sqlite_path(log_url)) {
        (Some(url), _) => url.to_owned(),
        (None, Some(path)) => {
            let stem = path.strip_suffix(".db").unwrap_or(path);
            format!("sqlite://{stem}.read.db")
        }
        (None, None) => log_url.to_owned(),
    };
    if let (Some(log), Some(read)) = (sqlite_path(log_url), sqlite_path(&url)) {
        // `data/a.db` and `./data/a.db` are one file.
        let same = |path: &str| std::path::absolute(path).unwrap_or_else(|_| path.into());
        if same(log) == same(read) {
            return Err(ProjectionError::ReadDbIsTheLog(read.to_owned()));
        }
    }
    Ok(url)
}

impl ReadDb {
    /// Opens the read models' database for the log at `log_url` (see
    /// [`read_db_url`]), creating it and its tables if missing. Its commits
    /// are not synced: what a crash loses, the runner applies again.
    pub async fn open(
        log_url: &str,
        read_url: Option<&str>,
        unsafe_fast: bool,
    ) -> Result<Self, ProjectionError> {
        let url = read_db_url(log_url, read_url)?;
        let db = if let Some(path) = sqlite_path(&url) {
            Self::sqlite(Path::new(path), unsafe_fast).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::postgres(&url).await?
        } else {
            return Err(StoreError::UnsupportedUrl(redact(&url)).into());
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn sqlite(path: &Path, unsafe_fast: bool) -> Result<Self, ProjectionError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A commit survives a crash of the process, not of the machine;
            // the checkpoint goes with the documents, so what is lost is
            // applied again.
            .synchronous(if unsafe_fast {
                SqliteSynchronous::Off
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(30))
            // A batch rewrites many pages: checkpointing the log less often
            // writes each page back to the database file fewer times.
            .pragma("wal_autocheckpoint", "10000");
        let pool = aftersales_store::sqlite_pool_options()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Self::Sqlite(SqliteDb {
            pool,
            readers: Some(Arc::new(SqliteReaders::new(path))),
        }))
    }

    async fn postgres(url: &str) -> Result<Self, ProjectionError> {
        let options = PgConnectOptions::from_str(url)?;
        // The schema must exist before a connection can live in it.
        let mut first = PgConnection::connect_with(&options).await?;
        create_schema(&mut first).await?;
        // Documents are a few KB of JSON, compressed on every rewrite: lz4
        // does it for a fraction of the CPU of the default pglz, where the
        // server was built with it.
        let lz4: Option<bool> = sqlx::query_scalar(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
        )
        .fetch_optional(&mut first)
        .await?;
        first.close().await?;
        let mut settings = vec![
            ("search_path", READ_SCHEMA),
            // Derived data: a commit need not wait for the disk.
            ("synchronous_commit", "off"),
        ];
        if lz4 == Some(true) {
            settings.push(("default_toast_compression", "lz4"));
        }
        let options = options.options(settings);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self::Postgres(pool))
    }

    async fn migrate(&self) -> Result<(), ProjectionError> {
        with_pool!(self, pool => {
            let migrator = if self.is_postgres() { &POSTGRES_MIGRATOR } else { &SQLITE_MIGRATOR };
            migrator.run(pool).await.map_err(StoreError::from)?;
        });
        Ok(())
    }

    /// A private in-memory database, for a report "as of" a past moment.
    pub async fn memory() -> Result<Self, ProjectionError> {
        let options = SqliteConnectOptions::new()
            .filename(":memory:")
            .synchronous(SqliteSynchronous::Off);
        // One connection for its whole life: each in-memory connection is a
        // database of its own.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        // Another connection to `:memory:` would be another database.
        let db = Self::Sqlite(SqliteDb {
            pool,
            readers: None,
        });
        db.migrate().await?;
        Ok(db)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    pub async fn status(&self, name: &str) -> Result<Option<StatusRow>, ProjectionError> {
        Ok(self.statuses(Some(name)).await?.into_iter().next())
    }

    pub async fn all_statuses(&self) -> Result<Vec<StatusRow>, ProjectionError> {
        self.statuses(None).await
    }

    async fn statuses(&self, name: Option<&str>) -> Result<Vec<StatusRow>, ProjectionError> {
        type Row = (
            String,
            i64,
            i64,
            String,
            Option<i64>,
            Option<String>,
            String,
            i64,
        );
        let sql =
            "SELECT name, version, position, state, failed_position, error, updated_at, epoch \
                   FROM projections WHERE ($1 IS NULL OR name = $1) ORDER BY name";
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(name).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(name, version, position, state, failed, error, updated_at, epoch)| StatusRow {
                    name,
                    version: u32::try_from(version).unwrap_or_default(),
                    position: position.unsigned_abs(),
                    state,
                    failed_position: failed.map(i64::unsigned_abs),
                    error,
                    updated_at,
                    epoch,
                },
            )
            .collect())
    }

    /// Creates the tables of a read model and its status row, empty at
    /// position 0, unless the status row exists already.
    pub(crate) async fn create(
        &self,
        status_name: &str,
        table: &str,
        version: u32,
        target: Target,
    ) -> Result<(), ProjectionError> {
        let mut statements = vec![
            format!("DROP TABLE IF EXISTS {table}"),
            format!("DROP TABLE IF EXISTS {table}_tags"),
            format!("DROP TABLE IF EXISTS {table}_entries"),
            format!(
                "CREATE TABLE {table} (collection TEXT NOT NULL, key TEXT NOT NULL, \
                 sort TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (collection, key))"
            ),
            self.entries_table(table),
            format!(
                "CREATE TABLE {table}_tags (collection TEXT NOT NULL, field TEXT NOT NULL, \
                 value TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (collection, field, value, key))"
            ),
            format!("CREATE INDEX {table}_tags_key_{} ON {table}_tags (collection, key)", generation()),
        ];
        // Only readers page by sort key: a rebuild indexes it once at the
        // end, which is far cheaper than keeping it up to date row by row.
        if target == Target::Live {
            statements.push(sort_index(table));
        }
        let now = Utc::now().to_rfc3339();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for statement in &statements {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            // A runner still holding the old tables' documents must notice.
            let epoch: Option<i64> = sqlx::query_scalar("SELECT epoch FROM projections WHERE name = $1")
                .bind(status_name)
                .fetch_optional(&mut *tx)
                .await?;
            for statement in ["DELETE FROM projections WHERE name = $1", "DELETE FROM parked_events WHERE projection = $1"] {
                sqlx::query(statement).bind(status_name).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO projections (name, version, position, state, updated_at, epoch) \
                 VALUES ($1, $2, 0, $3, $4, $5)",
            )
            .bind(status_name)
            .bind(i64::from(version))
            .bind(target.state())
            .bind(&now)
            .bind(epoch.map_or(0, |e| e + 1))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Drops a read model's tables and status row.
    pub(crate) async fn drop(&self, status_name: &str, table: &str) -> Result<(), ProjectionError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}")).execute(&mut *tx).await?;
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}_tags")).execute(&mut *tx).await?;
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}_entries")).execute(&mut *tx).await?;
            for statement in ["DELETE FROM projections WHERE name = $1", "DELETE FROM parked_events WHERE projection = $1"] {
                sqlx::query(statement).bind(status_name).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub(crate) async fn set_state(
        &self,
        status_name: &str,
        state: &str,
        failure: Option<(Position, &str)>,
    ) -> Result<(), ProjectionError> {
        let now = Utc::now().to_rfc3339();
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE projections SET state = $2, failed_position = $3, error = $4, updated_at = $5 \
                 WHERE name = $1",
            )
            .bind(status_name)
            .bind(state)
            .bind(failure.map(|(position, _)| to_i64(position)))
            .bind(failure.map(|(_, error)| error))
            .bind(&now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The stored documents of the given keys.
    pub(crate) async fn load(
        &self,
        table: &str,
        collection: &str,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, ProjectionError> {
        let mut found = Vec::new();
        for chunk in statements(keys) {
            with_pool!(self, pool => {
                let mut query = QueryBuilder::new(format!("SELECT key, doc FROM {table} WHERE collection = "));
                query.push_bind(collection).push(" AND key IN (");
                let mut list = query.separated(", ");
                for key in chunk {
                    list.push_bind(key);
                }
                query.push(")");
                let rows: Vec<(String, String)> = query.build_query_as().fetch_all(pool).await?;
                found.extend(rows);
            });
        }
        Ok(found)
    }

    /// Writes changed documents and moves the read model as `how` says, in
    /// one transaction. Fails with `Busy` if the checkpoint is no longer
    /// where the runner left it: another process applied these events, or
    /// the tables were reset, swapped or changed by a retry.
    pub(crate) async fn commit(
        &self,
        status_name: &str,
        table: &str,
        rows: &[RowWrite],
        how: Move,
    ) -> Result<(), ProjectionError> {
        let now = Utc::now().to_rfc3339();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // The status row first: on SQLite it takes the write lock before
            // any work is done, on PostgreSQL it locks the row.
            let moved = match how {
                Move::Checkpoint { from, to, epoch } => sqlx::query(
                    "UPDATE projections SET position = $3, updated_at = $4 \
                     WHERE name = $1 AND position = $2 AND epoch = $5",
                )
                .bind(status_name)
                .bind(to_i64(from))
                .bind(to_i64(to))
                .bind(&now)
                .bind(epoch),
                Move::Unpark { position } => sqlx::query(
                    "UPDATE projections SET epoch = epoch + 1, updated_at = $3 \
                     WHERE name = $1 AND EXISTS (SELECT 1 FROM parked_events \
                     WHERE projection = $1 AND position = $2)",
                )
                .bind(status_name)
                .bind(to_i64(position))
                .bind(&now),
            }
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved != 1 {
                return Err(ProjectionError::Busy(status_name.to_owned()));
            }
            if let Move::Unpark { position } = how {
                sqlx::query("DELETE FROM parked_events WHERE projection = $1 AND position = $2")
                    .bind(status_name)
                    .bind(to_i64(position))
                    .execute(&mut *tx)
                    .await?;
            }
            // Old search terms of rewritten documents, then deleted documents.
            let retag: Vec<&RowWrite> = rows.iter().filter(|row| row.retag).collect();
            let deletes: Vec<&RowWrite> = rows.iter().filter(|row| row.doc.is_none()).collect();
            for (target, doomed) in [(format!("{table}_tags"), &retag), (table.to_owned(), &deletes)] {
                for (collection, keys) in by_collection(doomed) {
                    for chunk in statements(&keys) {
                        let mut query = QueryBuilder::new(format!("DELETE FROM {target} WHERE collection = "));
                        query.push_bind(collection).push(" AND key IN (");
                        let mut list = query.separated(", ");
                        for key in chunk {
                            list.push_bind(*key);
                        }
                        query.push(")");
                        query.build().execute(&mut *tx).await?;
                    }
                }
            }
            let untags: Vec<(&RowWrite, &(&'static str, String))> = rows
                .iter()
                .flat_map(|row| row.untag.iter().map(move |tag| (row, tag)))
                .collect();
            for chunk in statements(&untags) {
                let mut query = QueryBuilder::new(format!(
                    "DELETE FROM {table}_tags WHERE (collection, field, value, key) IN ("
                ));
                query.push_values(chunk, |mut values, (row, (field, value))| {
                    values.push_bind(row.collection).push_bind(*field).push_bind(value).push_bind(&row.key);
                });
                query.push(")");
                query.build().execute(&mut *tx).await?;
            }
            let upserts: Vec<(&RowWrite, &String)> = rows
                .iter()
                .filter(|row| !row.entry)
                .filter_map(|row| row.doc.as_ref().map(|doc| (row, doc)))
                .collect();
            for chunk in statements(&upserts) {
                let mut query = QueryBuilder::new(format!("INSERT INTO {table} (collection, key, sort, doc) "));
                query.push_values(chunk, |mut values, (row, doc)| {
                    values.push_bind(row.collection).push_bind(&row.key).push_bind(&row.sort).push_bind(*doc);
                });
                query.push(" ON CONFLICT (collection, key) DO UPDATE SET sort = excluded.sort, doc = excluded.doc");
                query.build().execute(&mut *tx).await?;
            }
            // An entry is written again only when its event is applied
            // again (a retried parked event): the same entry. In key order,
            // each lands beside the last in the table's order.
            let mut entries: Vec<(&RowWrite, &String)> = rows
                .iter()
                .filter(|row| row.entry)
                .filter_map(|row| row.doc.as_ref().map(|doc| (row, doc)))
                .collect();
            entries.sort_unstable_by(|(a, _), (b, _)| (a.collection, &a.key).cmp(&(b.collection, &b.key)));
            for chunk in statements(&entries) {
                let mut query = QueryBuilder::new(format!("INSERT INTO {table}_entries (collection, key, doc) "));
                query.push_values(chunk, |mut values, (row, doc)| {
                    values.push_bind(row.collection).push_bind(&row.key).push_bind(*doc);
                });
                query.push(" ON CONFLICT (collection, key) DO UPDATE SET doc = excluded.doc");
                query.build().execute(&mut *tx).await?;
            }
            let tags: Vec<(&RowWrite, &(&'static str, String))> = rows
                .iter()
                .filter(|row| row.doc.is_some())
                .flat_map(|row| row.tags.iter().map(move |tag| (row, tag)))
                .collect();
            for chunk in statements(&tags) {
                let mut query = QueryBuilder::new(format!("INSERT INTO {table}_tags (collection, field, value, key) "));
                query.push_values(chunk, |mut values, (row, (field, value))| {
                    values.push_bind(row.collection).push_bind(*field).push_bind(value).push_bind(&row.key);
                });
                query.push(" ON CONFLICT DO NOTHING");
                query.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Puts a finished rebuild's shadow tables in place of the live ones, in
    /// one transaction: readers see the old read model or the new one.
    pub(crate) async fn swap(
        &self,
        name: &str,
        live: &str,
        shadow: &str,
    ) -> Result<(), ProjectionError> {
        let shadow_name = format!("{name}@shadow");
        let now = Utc::now().to_rfc3339();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for statement in [
                sort_index(shadow),
                format!("DROP TABLE IF EXISTS {live}"),
                format!("DROP TABLE IF EXISTS {live}_tags"),
                format!("DROP TABLE IF EXISTS {live}_entries"),
                format!("ALTER TABLE {shadow} RENAME TO {live}"),
                format!("ALTER TABLE {shadow}_tags RENAME TO {live}_tags"),
                format!("ALTER TABLE {shadow}_entries RENAME TO {live}_entries"),
            ] {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
            let epoch: Option<i64> = sqlx::query_scalar("SELECT epoch FROM projections WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            for statement in ["DELETE FROM projections WHERE name = $1", "DELETE FROM parked_events WHERE projection = $1"] {
                sqlx::query(statement).bind(name).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE parked_events SET projection = $1 WHERE projection = $2")
                .bind(name)
                .bind(&shadow_name)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE projections SET name = $1, state = 'running', updated_at = $3, epoch = $4 WHERE name = $2",
            )
            .bind(name)
            .bind(&shadow_name)
            .bind(&now)
            .bind(epoch.map_or(0, |e| e + 1))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Sets an event aside for a read model; parking it again records the
    /// newest error.
    pub(crate) async fn park(&self, parked: &ParkedEvent) -> Result<(), ProjectionError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO parked_events \
                 (projection, position, event_id, stream, event_type, error, attempts, parked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (projection, position) DO UPDATE SET error = excluded.error, \
                 attempts = parked_events.attempts + 1, parked_at = excluded.parked_at",
            )
            .bind(&parked.projection)
            .bind(to_i64(parked.position))
            .bind(parked.event_id.to_string())
            .bind(&parked.stream)
            .bind(&parked.event_type)
            .bind(&parked.error)
            .bind(i64::from(parked.attempts))
            .bind(&parked.parked_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The events parked for a read model (every one when `None`), in log
    /// order.
    pub async fn parked(
        &self,
        projection: Option<&str>,
    ) -> Result<Vec<ParkedEvent>, ProjectionError> {
        type Row = (String, i64, String, String, String, String, i64, String);
        let sql = "SELECT projection, position, event_id, stream, event_type, error, attempts, parked_at \
                   FROM parked_events WHERE ($1 IS NULL OR projection = $1) ORDER BY projection, position";
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(projection).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(
                |(
                    projection,
                    position,
                    event_id,
                    stream,
                    event_type,
                    error,
                    attempts,
                    parked_at,
                )| {
                    Ok(ParkedEvent {
                        event_id: event_id.parse().map_err(|e| {
                            ProjectionError::CorruptRow(format!("parked_events: {e}"))
                        })?,
                        projection,
                        position: position.unsigned_abs(),
                        stream,
                        event_type,
                        error,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                        parked_at,
                    })
                },
            )
            .collect()
    }

    /// How many events each read model has parked; those with none are
    /// left out.
    pub async fn parked_counts(&self) -> Result<Vec<(String, u64)>, ProjectionError> {
        let sql = "SELECT projection, COUNT(*) FROM parked_events GROUP BY projection ORDER BY projection";
        let rows: Vec<(String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(sql).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(name, n)| (name, n.unsigned_abs()))
            .collect())
    }

    /// Forgets a parked event, skipped for good.
    pub(crate) async fn forget_parked(
        &self,
        projection: &str,
        position: Position,
    ) -> Result<bool, ProjectionError> {
        let deleted = with_pool!(self, pool => {
            sqlx::query("DELETE FROM parked_events WHERE projection = $1 AND position = $2")
                .bind(projection)
                .bind(to_i64(position))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted == 1)
    }

    /// A page of one collection, in `(sort, key)` order.
    pub async fn list(
        &self,
        table: &str,
        list: &ListQuery,
    ) -> Result<Vec<DocRow>, ProjectionError> {
        let (sql, params) = list_statement(table, list);
        let rows: Vec<(String, String, String)> = match self {
            ReadDb::Sqlite(SqliteDb {
                readers: Some(readers),
                ..
            }) => readers.query(&sql, &params, |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?,
            _ => with_pool!(self, pool => {
                let mut query = sqlx::query_as(&sql);
                for param in &params {
                    query = match *param {
                        Param::Text(text) => query.bind(text),
                        Param::Int(int) => query.bind(int),
                    };
                }
                query.fetch_all(pool).await?
            }),
        };
        Ok(rows
            .into_iter()
            .map(|(key, sort, doc)| DocRow { key, sort, doc })
            .collect())
    }

    /// A page of `list`'s rows (at most `list.limit`) after a cursor of a
    /// previous page, and the cursor of the next page if there is one.
    pub async fn page(
        &self,
        table: &str,
        mut list: ListQuery,
        cursor: Option<&str>,
    ) -> Result<(Vec<DocRow>, Option<String>), ProjectionError> {
        list.after = cursor
            .map(|cursor| {
                cursor
                    .split_once('|')
                    .map(|(sort, key)| (sort.to_owned(), key.to_owned()))
                    .ok_or_else(|| ProjectionError::InvalidCursor(cursor.to_owned()))
            })
            .transpose()?;
        let limit = list.limit;
        list.limit += 1;
        let mut rows = self.list(table, &list).await?;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|row| format!("{}|{}", row.sort, row.key))
        } else {
            None
        };
        Ok((rows, next))
    }

    /// The documents whose search term `field` sorts after `after`, in the
    /// order of that term, with it: one statement, so one snapshot of the
    /// read model, never half a batch.
    pub async fn after_term(
        &self,
        table: &str,
        collection: &str,
        field: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, DocRow)>, ProjectionError> {
        let sql = format!(
            "SELECT t.value, d.key, d.sort, d.doc FROM {table}_tags t \
             JOIN {table} d ON d.collection = t.collection AND d.key = t.key \
             WHERE t.collection = $1 AND t.field = $2 AND t.value > $3 \
             ORDER BY t.value, t.key LIMIT $4"
        );
        let rows: Vec<(String, String, String, String)> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(collection)
                .bind(field)
                .bind(after)
                .bind(to_i64(limit as u64))
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(value, key, sort, doc)| (value, DocRow { key, sort, doc }))
            .collect())
    }

    /// A document, and the entries of `rows_of` keyed from `from` to `to`
    /// (both included) as one JSON array in key order, read in one
    /// statement: one snapshot of the read model, so the two agree. One row
    /// back rather than one per entry: through the async driver each row
    /// is a hand-off between threads.
    pub async fn load_with_entries(
        &self,
        table: &str,
        collection: &str,
        key: &str,
        rows_of: &str,
        (from, to): (&str, &str),
    ) -> Result<Option<(String, String)>, ProjectionError> {
        if let ReadDb::Sqlite(SqliteDb {
            readers: Some(readers),
            ..
        }) = self
        {
            return readers.doc_with_entries(table, (collection, key), rows_of, (from, to));
        }
        let concat = match self {
            ReadDb::Sqlite(_) => "group_concat",
            ReadDb::Postgres(_) => "string_agg",
        };
        let sql = format!(
            "SELECT doc, (SELECT {concat}(doc, ',' ORDER BY key) FROM {table}_entries \
             WHERE collection = $3 AND key BETWEEN $4 AND $5) \
             FROM {table} WHERE collection = $1 AND key = $2"
        );
        let row: Option<(String, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(collection)
                .bind(key)
                .bind(rows_of)
                .bind(from)
                .bind(to)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(doc, rows)| (doc, format!("[{}]", rows.unwrap_or_default()))))
    }

    /// Every document of a collection, in key order.
    pub async fn all(&self, table: &str, collection: &str) -> Result<Vec<DocRow>, ProjectionError> {
        let sql = format!("SELECT key, sort, doc FROM {table} WHERE collection = $1 ORDER BY key");
        let rows: Vec<(String, String, String)> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(collection).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(key, sort, doc)| DocRow { key, sort, doc })
            .collect())
    }

    /// Every row of a read model with its search terms, for a comparison.
    pub(crate) async fn dump(
        &self,
        table: &str,
    ) -> Result<Vec<(String, String, String, String)>, ProjectionError> {
        let sql =
            format!("SELECT collection, key, sort, doc FROM {table} ORDER BY collection, key");
        let tags_sql = format!(
            "SELECT collection, key, field, value FROM {table}_tags ORDER BY collection, key, field, value"
        );
        let entries_sql =
            format!("SELECT collection, key, doc FROM {table}_entries ORDER BY collection, key");
        self.ensure_entries(table).await?;
        with_pool!(self, pool => {
            let mut rows: Vec<(String, String, String, String)> = sqlx::query_as(&sql).fetch_all(pool).await?;
            let tags: Vec<(String, String, String, String)> = sqlx::query_as(&tags_sql).fetch_all(pool).await?;
            rows.extend(tags.into_iter().map(|(c, k, f, v)| (format!("{c}#tag"), k, f, v)));
            let entries: Vec<(String, String, String)> = sqlx::query_as(&entries_sql).fetch_all(pool).await?;
            rows.extend(entries.into_iter().map(|(c, k, doc)| (format!("{c}#entry"), k, String::new(), doc)));
            Ok(rows)
        })
    }

    /// The statement that creates a read model's entries table if missing.
    /// SQLite keeps it in key order (`WITHOUT ROWID`): a case's timeline is
    /// then a few neighbouring pages, not one page per entry.
    fn entries_table(&self, table: &str) -> String {
        let clustered = if self.is_postgres() {
            ""
        } else {
            " WITHOUT ROWID"
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {table}_entries (collection TEXT NOT NULL, \
             key TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (collection, key)){clustered}"
        )
    }

    /// Creates the entries table of a read model's tables made before there
    /// were entries.
    pub(crate) async fn ensure_entries(&self, table: &str) -> Result<(), ProjectionError> {
        let sql = self.entries_table(table);
        with_pool!(self, pool => {
            sqlx::query(&sql).execute(pool).await?;
        });
        Ok(())
    }
}

/// The statement of [`ReadDb::list`] and its parameters, in order.
fn list_statement<'a>(table: &str, list: &'a ListQuery) -> (String, Vec<Param<'a>>) {
    let mut params = Vec::new();
    let mut bind = |param: Param<'a>| {
        params.push(param);
        format!("${}", params.len())
    };
    let mut sql = format!(
        "SELECT key, sort, doc FROM {table} WHERE collection = {}",
        bind(Param::Text(list.collection))
    );
    for (field, value) in &list.tags {
        let collection = bind(Param::Text(list.collection));
        let field = bind(Param::Text(field));
        let value = bind(Param::Text(value));
        sql.push_str(&format!(
            " AND key IN (SELECT key FROM {table}_tags WHERE collection = {collection} \
             AND field = {field} AND value = {value})"
        ));
    }
    if let Some(from) = &list.sort_from {
        sql.push_str(&format!(" AND sort >= {}", bind(Param::Text(from))));
    }
    if let Some(until) = &list.sort_until {
        sql.push_str(&format!(" AND sort < {}", bind(Param::Text(until))));
    }
    if let Some((sort, key)) = &list.after {
        let sort = bind(Param::Text(sort));
        let key = bind(Param::Text(key));
        sql.push_str(&format!(
            " AND (sort > {sort} OR (sort = {sort} AND key > {key}))"
        ));
    }
    let limit = bind(Param::Int(to_i64(list.limit as u64)));
    sql.push_str(&format!(" ORDER BY sort, key LIMIT {limit}"));
    (sql, params)
}

/// A suffix of its own for every index: index names are global in a
/// PostgreSQL schema and follow a table through renames.
fn generation() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(12);
    id
}

fn sort_index(table: &str) -> String {
    format!(
        "CREATE INDEX {table}_sort_{} ON {table} (collection, sort, key)",
        generation()
    )
}

/// Keys grouped by collection, for one statement per collection.
fn by_collection<'a>(rows: &[&'a RowWrite]) -> Vec<(&'static str, Vec<&'a str>)> {
    let mut groups: Vec<(&'static str, Vec<&'a str>)> = Vec::new();
    for row in rows {
        match groups
            .iter_mut()
            .find(|(collection, _)| *collection == row.collection)
        {
            Some((_, keys)) => keys.push(&row.key),
            None => groups.push((row.collection, vec![&row.key])),
        }
    }
    groups
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Creates the read models' schema; two processes starting at once may
/// both try, and one of them finds it made.
async fn create_schema(connection: &mut PgConnection) -> Result<(), ProjectionError> {
    let sql = format!("CREATE SCHEMA IF NOT EXISTS {READ_SCHEMA}");
    match sqlx::query(&sql).execute(&mut *connection).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("23505") => Ok(()),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_written_in_statements_of_few_lengths() {
        let mut lengths = std::collections::BTreeSet::new();
        for len in 0..=3 * ROWS_PER_STATEMENT {
            let rows: Vec<usize> = (0..len).collect();
            let cut: Vec<&[usize]> = statements(&rows).collect();
            assert_eq!(cut.concat(), rows, "every row once, in order");
            lengths.extend(cut.iter().map(|statement| statement.len()));
        }
        let expected: std::collections::BTreeSet<usize> = (0..=ROWS_PER_STATEMENT.ilog2())
            .map(|bit| 1 << bit)
            .collect();
        assert_eq!(lengths, expected);
    }
}
