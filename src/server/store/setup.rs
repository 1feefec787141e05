//! Opening the store: the backend from the URL, a private SQLite file when asked to create
//! one, the connection pool and its per-connection settings, and the migrations.

use std::path::{Path, PathBuf};

use super::{
    Backend, Lookups, Store, StoreError, Writer, pg_lookups, pg_writer, sqlite_lookups,
    sqlite_writer,
};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Opens the database at `url` and applies the migrations. A SQLite file is created only
    /// when `create` is set (the default database); a mistyped path is an error, never a new
    /// empty database.
    pub async fn open(url: &str, create: bool) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Setup {
                what: format!(
                    "`{}` is not a database URL this server knows",
                    redact_url(url)
                ),
                hint: "use sqlite://path/to/file.db or postgres://user@host/database".into(),
            });
        };
        let mut connect_url = url.to_string();
        if backend == Backend::Sqlite {
            let path = sqlite_path(url);
            if !create && !path.exists() {
                return Err(StoreError::Setup {
                    what: format!("the SQLite database {} does not exist", path.display()),
                    hint: "check the path; to start a new database there, add --create".into(),
                });
            }
            if create && !path.exists() {
                // Private whatever the umask: reports name people and machines. SQLite gives its
                // -wal and -shm files the database file's permissions.
                create_private(&path).map_err(|e| StoreError::Setup {
                    what: format!("cannot create the SQLite database {}: {e}", path.display()),
                    hint: "choose a writable folder with --database-url".into(),
                })?;
            }
            // The path is percent-encoded in the opaque `sqlite:` form, so that no URL parser
            // mistakes `C:` for a host or turns a Windows `\` into `/` on the way to SQLite.
            connect_url = format!(
                "sqlite:{}?mode={}",
                percent_encoding::utf8_percent_encode(
                    &path.to_string_lossy(),
                    percent_encoding::NON_ALPHANUMERIC
                ),
                if create { "rwc" } else { "rw" }
            );
        }
        // SQLite's readers: the overview runs its reads at once (up to 10), and every report
        // looks up its token and device key; with 4 connections those lookups queued behind
        // a page's reads (mixed load: p50 55 ms, 996 requests/s, against 48 ms and 1,084/s
        // with 8; docs/RELIABILITY.md).
        let options = pool_options::<sqlx::Any>(if backend == Backend::Sqlite { 8 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Postgres {
                        // No JIT compilation: PostgreSQL compiles a statement whose estimate
                        // passes `jit_above_cost`, and the fleet's summary (its estimate is
                        // dominated by the not-reported users' anti-joins) took 640 ms of
                        // compiling for 10 ms of work at 100,000 devices.
                        sqlx::query("SET jit = off").execute(&mut *conn).await?;
                    }
                    if backend == Backend::Sqlite {
                        // WAL lets the dashboard read while reports are written.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&connect_url).await.map_err(|e| StoreError::Setup {
            what: format!("cannot open the database {}: {e}", redact_url(url)),
            hint: match backend {
                Backend::Sqlite => "check that the folder exists and is writable".into(),
                Backend::Postgres => {
                    "check the host, port, database name and credentials, and that PostgreSQL is running"
                        .into()
                }
            },
        })?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        };
        migrator.run(&pool).await.map_err(|e| StoreError::Setup {
            what: format!("cannot prepare the database: {e}"),
            hint: "the database may belong to a newer ado-cutover-server, or to something else"
                .into(),
        })?;
        let writer = match backend {
            Backend::Sqlite => Writer::Sqlite(
                sqlite_writer::Writer::start(&sqlite_path(url)).map_err(|e| StoreError::Setup {
                    what: format!("cannot open the database for writing: {e}"),
                    hint: "check that the file and its folder are writable".into(),
                })?,
            ),
            Backend::Postgres => {
                Writer::Postgres(
                    pg_writer::Writer::start(url).map_err(|e| StoreError::Setup {
                        what: format!("cannot open the database for writing: {e}"),
                        hint: "check the database URL".into(),
                    })?,
                )
            }
        };
        let lookups = match backend {
            Backend::Sqlite => Lookups::Sqlite(std::sync::Arc::new(
                sqlite_lookups::Lookups::open(&sqlite_path(url)).map_err(|e| {
                    StoreError::Setup {
                        what: format!("cannot open the database for reading: {e}"),
                        hint: "check that the file and its folder are readable and writable".into(),
                    }
                })?,
            )),
            Backend::Postgres => Lookups::Postgres(std::sync::Arc::new(
                pg_lookups::Lookups::start(url).map_err(|e| StoreError::Setup {
                    what: format!("cannot open the database for reading: {e}"),
                    hint: "check the database URL".into(),
                })?,
            )),
        };
        Ok(Store {
            pool,
            backend,
            writer,
            lookups,
        })
    }

    /// True when the database answers.
    pub async fn healthy(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// A connection that sat idle this long is checked before it is used again.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The options of every pool: at most `max` connections, 5 s to wait for one, and a connection
/// checked (a round trip, sqlx's default before every use) only when it sat idle for
/// [`IDLE_CHECK`]: one that broke while idle (a database restart, a failover) is replaced
/// before a request gets it, and a busy server does not pay a round trip per statement.
pub(super) fn pool_options<DB: sqlx::Database>(max: u32) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_CHECK {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// PostgreSQL connections that only run statements keyed by an index (the writer's and the
/// lookups'), each planned once per connection: the plan PostgreSQL would keep for a statement
/// over arrays is made for 100 keys, so it planned every batch anew (custom plans: 2-3 ms of
/// each batch of reports, 0.08 ms of each lookup), while a plan kept from when a table was
/// small scans all of it (a lookup at 12,000 devices: 0.76 ms instead of microseconds). Here
/// the plan is kept and never scans: with sequential scans, hash and merge joins off, each key
/// is found through its index, whatever the tables' sizes were when it was planned. No JIT
/// compiling either (see [`Store::open`]'s connections).
pub(super) fn keyed_options(url: &str) -> Result<sqlx::postgres::PgConnectOptions, sqlx::Error> {
    Ok(url.parse::<sqlx::postgres::PgConnectOptions>()?.options([
        ("jit", "off"),
        ("plan_cache_mode", "force_generic_plan"),
        ("enable_seqscan", "off"),
        ("enable_hashjoin", "off"),
        ("enable_mergejoin", "off"),
    ]))
}

/// Creates an empty file only its owner can read and write (an empty file is an empty SQLite
/// database).
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        options.open(path)?;
        // The mode given to open is masked by the umask; set it outright.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    options.open(path).map(|_| ())
}

/// The file of a `sqlite://` URL (query removed).
fn sqlite_path(url: &str) -> PathBuf {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let rest = rest.split('?').next().unwrap_or(rest);
    Path::new(rest).to_path_buf()
}

/// A database URL without its password.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
