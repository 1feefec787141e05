//! PostgreSQL's point lookups, batched. Every report looks up its token and its device's key,
//! every admin request its token: a row by its key, microseconds of work, but each a round trip
//! with its own bind, execute and reply. Under ingest on 2 cores the connections doing them took
//! about a third of PostgreSQL's time (4,600 lookups/s), as much as a writer.
//!
//! Here the lookups that arrive together, of both kinds, share one statement over arrays, each
//! key once: the tokens by hash and the keys by device and user, one `UNION ALL`, the kind of
//! each row in its first column. Nothing is cached: a lookup's statement is always sent after
//! the lookup was asked for, so it sees every change committed before (a token revoked or a key
//! forgotten on any instance counts at once, as before). Two tasks take turns, so one collects
//! the next batch while the other's statement runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::Row as _;
use sqlx::postgres::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::StoreError;
use super::tokens::{BY_HASHES, TokenInfo, info};

/// The most keys one statement looks up.
const BATCH: usize = 256;

/// Tasks taking turns (each with a connection when it runs).
const TASKS: usize = 2;

/// The device keys of a batch (`$2`, `$3`: arrays of devices and users), in the columns of
/// [`BY_HASHES`]: `'key'`, device, user, secret, the report that enrolled it.
const KEYS: &str = "SELECT 'key', device_id, user_name, secret, first_report,
           NULL, NULL, NULL, NULL::int8, NULL, NULL::int8, NULL::int8, NULL::int8
         FROM device_keys WHERE (device_id, user_name) IN
           (SELECT u.c1, u.c2 FROM UNNEST($2::text[], $3::text[]) AS u(c1, c2))";

/// What is looked up.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A token by its hash.
    Token(String),
    /// A device and user's key.
    Device(String, String),
}

/// What was found.
#[derive(Clone)]
enum Found {
    Token(TokenInfo),
    /// The key and the report that enrolled the device.
    Device(String, String),
}

pub(super) struct Lookups {
    queue: mpsc::Sender<(Key, Reply)>,
}

impl Lookups {
    /// Lookups on the database at `url`, on connections of their own (the native driver binds
    /// arrays, which the store's `Any` pool cannot), opened when first needed.
    pub(super) fn start(url: &str) -> Result<Lookups, sqlx::Error> {
        let options = super::setup::keyed_options(url)?;
        let pool =
            super::setup::pool_options::<sqlx::Postgres>(TASKS as u32).connect_lazy_with(options);
        let (queue, jobs) = mpsc::channel(4 * BATCH);
        let jobs = Arc::new(Mutex::new(jobs));
        let statement: Arc<str> = format!("{BY_HASHES}\n         UNION ALL {KEYS}").into();
        for _ in 0..TASKS {
            tokio::spawn(serve(pool.clone(), jobs.clone(), statement.clone()));
        }
        Ok(Lookups { queue })
    }

    /// The token with this hash, whatever its state.
    pub(super) async fn token(&self, sha256: &str) -> Result<Option<TokenInfo>, StoreError> {
        Ok(match self.get(Key::Token(sha256.to_string())).await? {
            Some(Found::Token(info)) => Some(info),
            _ => None,
        })
    }

    /// A device and user's key and the report that enrolled them.
    pub(super) async fn key(
        &self,
        device_id: &str,
        user_name: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let key = Key::Device(device_id.to_string(), user_name.to_string());
        Ok(match self.get(key).await? {
            Some(Found::Device(secret, first)) => Some((secret, first)),
            _ => None,
        })
    }

    async fn get(&self, key: Key) -> Result<Option<Found>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((key, reply)).await.map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(|err| StoreError::Setup {
                what: format!("the database failed: {err}"),
                hint: "check that PostgreSQL is running and reachable".into(),
            })
    }
}

type Reply = oneshot::Sender<Result<Option<Found>, String>>;

/// The queue of lookups, shared by the tasks.
type Jobs = Arc<Mutex<mpsc::Receiver<(Key, Reply)>>>;

/// One task: takes what is queued (waiting its turn while the other task takes), looks it all
/// up in one statement, answers each.
async fn serve(pool: PgPool, jobs: Jobs, statement: Arc<str>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if jobs.lock().await.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        let found = fetch(&pool, &statement, &batch)
            .await
            .map_err(|e| e.to_string());
        for (key, reply) in batch.drain(..) {
            let answer = match &found {
                Ok(found) => Ok(found.get(&key).cloned()),
                Err(err) => Err(err.clone()),
            };
            let _ = reply.send(answer);
        }
    }
}

/// Looks up every key of `batch` (each once) with `statement`: what was found, by key.
async fn fetch(
    pool: &PgPool,
    statement: &str,
    batch: &[(Key, Reply)],
) -> Result<HashMap<Key, Found>, sqlx::Error> {
    let mut seen = HashSet::new();
    let (mut hashes, mut devices, mut users) = (Vec::new(), Vec::new(), Vec::new());
    for (key, _) in batch {
        if !seen.insert(key) {
            continue;
        }
        match key {
            Key::Token(hash) => hashes.push(hash.as_str()),
            Key::Device(device, user) => {
                devices.push(device.as_str());
                users.push(user.as_str());
            }
        }
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(statement))
        .bind(hashes)
        .bind(devices)
        .bind(users)
        .fetch_all(pool)
        .await?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in &rows {
        let kind: &str = row.get(0);
        if kind == "token" {
            found.insert(Key::Token(row.get(1)), Found::Token(info(row, 5)));
        } else {
            found.insert(
                Key::Device(row.get(1), row.get(2)),
                Found::Device(row.get(3), row.get(4)),
            );
        }
    }
    Ok(found)
}

fn stopped() -> StoreError {
    StoreError::Setup {
        what: "the database lookups stopped".into(),
        hint: "restart the server; its log says why".into(),
    }
}
