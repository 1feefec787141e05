//! PostgreSQL's point lookups, batched. Every report looks up its token and its device's key,
//! every admin request its token: a row by its key, microseconds of work, but each a round trip
//! with its own parse, bind and reply. Under ingest on 2 cores the connections doing them took
//! about a third of PostgreSQL's time (4,600 lookups/s), as much as a writer.
//!
//! Here the lookups that arrive together share one statement over arrays (`= ANY`, through
//! [`sql::unnest`]), one per batch, each key once. Nothing is cached: a lookup's statement is
//! always sent after the lookup was asked for, so it sees every change committed before (a
//! token revoked or a key forgotten on any instance counts at once, as before). Two tasks per
//! kind take turns, so one collects the next batch while the other's statement runs.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use sqlx::Row as _;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::tokens::{BY_HASHES, TokenInfo, info};
use super::{StoreError, sql};

/// The most keys one statement looks up.
const BATCH: usize = 256;

/// Tasks per kind of lookup (each with a connection when it runs).
const TASKS: usize = 2;

pub(super) struct Lookups {
    tokens: Batched<String, TokenInfo>,
    keys: Batched<(String, String), (String, String)>,
}

impl Lookups {
    /// Lookups on the database at `url`, on connections of their own (the native driver binds
    /// arrays, which the store's `Any` pool cannot), opened when first needed.
    pub(super) fn start(url: &str) -> Result<Lookups, sqlx::Error> {
        let options = super::setup::keyed_options(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(2 * TASKS as u32)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_lazy_with(options);
        let by_hashes = sql::unnest(BY_HASHES, &["text"]);
        let keys = sql::unnest(sql::batch::KEYS, &["text", "text"]);
        Ok(Lookups {
            tokens: Batched::start(pool.clone(), move |pool, hashes: Vec<String>| {
                let statement = by_hashes.clone();
                async move {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(statement))
                        .bind(hashes)
                        .fetch_all(&pool)
                        .await?;
                    Ok(rows.iter().map(|r| (r.get(0), info(r, 1))).collect())
                }
            }),
            keys: Batched::start(pool, move |pool, wanted: Vec<(String, String)>| {
                let statement = keys.clone();
                async move {
                    let (devices, users): (Vec<String>, Vec<String>) = wanted.into_iter().unzip();
                    let rows = sqlx::query(sqlx::AssertSqlSafe(statement))
                        .bind(devices)
                        .bind(users)
                        .fetch_all(&pool)
                        .await?;
                    Ok(rows
                        .iter()
                        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
                        .collect())
                }
            }),
        })
    }

    /// The token with this hash, whatever its state.
    pub(super) async fn token(&self, sha256: &str) -> Result<Option<TokenInfo>, StoreError> {
        self.tokens.get(sha256.to_string()).await
    }

    /// A device and user's key and the report that enrolled them.
    pub(super) async fn key(
        &self,
        device_id: &str,
        user_name: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        self.keys
            .get((device_id.to_string(), user_name.to_string()))
            .await
    }
}

type Reply<V> = oneshot::Sender<Result<Option<V>, String>>;

/// The queue of lookups, shared by a kind's tasks.
type Jobs<K, V> = Arc<Mutex<mpsc::Receiver<(K, Reply<V>)>>>;

/// Lookups of one kind: the queue the tasks take them from.
struct Batched<K, V> {
    queue: mpsc::Sender<(K, Reply<V>)>,
}

impl<K, V> Batched<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Starts the tasks; `fetch` runs one statement for a batch's keys (each once) and returns
    /// the rows found by key. The tasks end when the queue's sender is dropped.
    fn start<F, Fut>(pool: PgPool, fetch: F) -> Batched<K, V>
    where
        F: Fn(PgPool, Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HashMap<K, V>, sqlx::Error>> + Send + 'static,
    {
        let (queue, jobs) = mpsc::channel(4 * BATCH);
        let jobs = Arc::new(Mutex::new(jobs));
        let fetch = Arc::new(fetch);
        for _ in 0..TASKS {
            tokio::spawn(serve(pool.clone(), jobs.clone(), fetch.clone()));
        }
        Batched { queue }
    }

    async fn get(&self, key: K) -> Result<Option<V>, StoreError> {
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

/// One task: takes what is queued (waiting its turn while the other task takes), looks it up,
/// answers each.
async fn serve<K, V, F, Fut>(pool: PgPool, jobs: Jobs<K, V>, fetch: Arc<F>)
where
    K: Eq + Hash + Clone,
    V: Clone,
    F: Fn(PgPool, Vec<K>) -> Fut,
    Fut: Future<Output = Result<HashMap<K, V>, sqlx::Error>>,
{
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if jobs.lock().await.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        let mut seen = HashSet::new();
        let keys: Vec<K> = batch
            .iter()
            .filter(|(key, _)| seen.insert(key.clone()))
            .map(|(key, _)| key.clone())
            .collect();
        let found = fetch(pool.clone(), keys).await.map_err(|e| e.to_string());
        for (key, reply) in batch.drain(..) {
            let answer = match &found {
                Ok(found) => Ok(found.get(&key).cloned()),
                Err(err) => Err(err.clone()),
            };
            let _ = reply.send(answer);
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Setup {
        what: "the database lookups stopped".into(),
        hint: "restart the server; its log says why".into(),
    }
}
