//! `ado-cutover-server`: receives the agents' reports, stores them, and shows admins who is
//! done, who is stuck and why.
//!
//! The server is a library: [`app`] builds the router from a [`State`], [`serve`] runs it on a
//! listener until a shutdown future resolves, so tests bind port 0. Time is an input
//! ([`Clock`]). Nothing that matters lives only in this process (sessions, sign-ins under way,
//! tokens and the audit log are in the database), so several instances can share one
//! PostgreSQL behind a load balancer.

pub mod api;
pub mod auth;
pub mod cli;
pub mod coalesce;
pub mod dashboard;
pub mod error;
pub mod expected;
mod listen;
pub mod metrics;
pub mod oidc;
pub mod outcome;
pub mod store;
pub mod tokens;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use time::OffsetDateTime;

pub use store::Store;

/// Where "now" comes from: the system clock, or a fixed time in tests.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(OffsetDateTime::now_utc)
}

/// What every request handler shares.
#[derive(Clone)]
pub struct State {
    pub store: Store,
    pub clock: Clock,
    pub metrics: Arc<metrics::Metrics>,
    pub limits: Limits,
    /// Rate limits per token, per instance.
    pub rate: Arc<auth::RateLimiter>,
    /// Sign-in attempts per client address per minute, per instance ([`SIGN_INS_PER_MINUTE`]):
    /// a stranger cannot fill the audit log or the table of sign-ins under way.
    pub sign_in_rate: Arc<auth::RateLimiter>,
    /// When this instance last noted each token's use.
    pub token_use: Arc<auth::TokenUse>,
    /// The admin token works (break-glass sign-in and the API); `--no-admin-token` turns it off.
    pub admin_token: bool,
    /// Sign-in with Microsoft Entra ID, when configured.
    pub entra: Option<Arc<oidc::Entra>>,
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    /// Mark the session cookie `Secure` (on unless the server listens on loopback only, or
    /// when people reach it over HTTPS: [`State::https`]).
    pub secure_cookies: bool,
    /// People reach the server over HTTPS (through a TLS proxy, `--public-url https://...`):
    /// the cookie is `Secure` and every answer carries HSTS.
    pub https: bool,
    /// `/metrics` answers only a token (API or admin).
    pub metrics_need_token: bool,
    /// The fleet's counts for `/metrics`, briefly cached.
    pub fleet_cache: Arc<metrics::FleetCache>,
    /// How often webhook notices are made and failed deliveries tried again.
    pub webhooks: webhooks::Timing,
    /// The summary (the overview, the API): requests at the same time share one computation.
    pub summary: Arc<coalesce::Coalesced<store::Summary>>,
}

/// Sign-in requests (the token form, the start of an Entra sign-in and the way back) one client
/// address may make per minute on one instance; a sign-in takes two.
pub const SIGN_INS_PER_MINUTE: u32 = 30;

/// Request and connection limits (README, "Limits").
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest report body accepted, in bytes.
    pub body_bytes: usize,
    /// The largest upload of the expected users, in bytes.
    pub upload_bytes: usize,
    /// Reports per token per minute, per server instance.
    pub reports_per_minute: u32,
    /// Connections served at once; more wait until one ends.
    pub connections: usize,
    /// How long a client may take to send a request's head (also how long an idle keep-alive
    /// connection stays open).
    pub header_timeout: Duration,
    /// How long one request may take, its body included.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes: 1024 * 1024,
            upload_bytes: 64 * 1024 * 1024,
            reports_per_minute: 60_000,
            connections: 512,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl State {
    pub fn new(store: Store, clock: Clock, limits: Limits) -> State {
        State {
            store,
            clock,
            metrics: Arc::new(metrics::Metrics::default()),
            rate: Arc::new(auth::RateLimiter::new(limits.reports_per_minute)),
            limits,
            token_use: Arc::default(),
            sign_in_rate: Arc::new(auth::RateLimiter::new(SIGN_INS_PER_MINUTE)),
            admin_token: true,
            entra: None,
            trusted_proxies: Arc::default(),
            secure_cookies: true,
            https: false,
            metrics_need_token: false,
            fleet_cache: Arc::new(metrics::FleetCache::default()),
            summary: Arc::default(),
            webhooks: webhooks::Timing::default(),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// The fleet's summary over the last 30 days, as of this call or later (shared with the
    /// requests that ask at the same time: [`coalesce`]).
    pub async fn summary(&self) -> Result<store::Summary, store::StoreError> {
        let arrived = std::time::Instant::now();
        self.summary
            .get(arrived, || self.store.summary(self.now(), 30))
            .await
    }
}

/// The whole HTTP application.
pub fn app(state: State) -> Router {
    let timeout = state.limits.request_timeout;
    let hsts = state.https;
    Router::new()
        .merge(api::routes(&state))
        .merge(dashboard::routes(state.limits.upload_bytes))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            listen::request_timeout,
        ))
        .layer(axum::middleware::from_fn(error::log_errors))
        .layer(axum::middleware::from_fn_with_state(
            hsts,
            auth::security_headers,
        ))
        .with_state(state)
}

/// An address nobody serves: JSON under `/api/`, like every API error, a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        error::ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "there is no such API address",
            "the API is described at /api/v1/openapi.json",
        )
        .into_response()
    } else {
        dashboard::not_found().into_response()
    }
}

/// How long the instance that prunes old reports keeps the job: a little less than the hour
/// between rounds, so the next round finds it free when that instance is gone.
const PRUNE_LEASE: Duration = Duration::from_secs(55 * 60);

/// Prunes reports older than `keep`, on the one instance that holds this hour's lease.
async fn prune_once(store: &Store, instance: &str, now: time::OffsetDateTime, keep: Duration) {
    let (at, until) = (store::millis(now), store::millis(now + PRUNE_LEASE));
    match store.take_lease("prune", instance, at, until).await {
        Ok(true) => match store.prune(now - keep).await {
            Ok(pruned) => {
                tracing::info!("pruned {pruned} old reports (this instance prunes this hour)")
            }
            Err(err) => tracing::warn!("pruning old reports failed: {err}"),
        },
        Ok(false) => tracing::info!("another instance prunes old reports this hour"),
        Err(err) => tracing::warn!("pruning old reports failed: {err}"),
    }
}

/// Serves `app(state)` on `listener` until `shutdown` resolves. Hourly, it folds the fleet
/// counts of closed database connections, forgets expired dashboard sessions and finished
/// webhook deliveries older than [`webhooks::KEEP_DELIVERIES_DAYS`] and, when `retention` is
/// set, prunes old reports.
pub async fn serve(
    state: State,
    listener: tokio::net::TcpListener,
    retention: Option<Duration>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    let clock = state.clock.clone();
    // Which instance this is, for leases: several may share one PostgreSQL.
    let instance = uuid::Uuid::new_v4().to_string();
    tokio::spawn(webhooks::run(state.clone(), instance.clone()));
    tokio::spawn(async move {
        loop {
            let now = clock();
            if let Some(keep) = retention {
                prune_once(&store, &instance, now, keep).await;
            }
            if let Err(err) = store.fold_counts().await {
                tracing::warn!("folding the counts of closed connections failed: {err}");
            }
            if let Err(err) = store.prune_sessions(now).await {
                tracing::warn!("forgetting expired sessions and sign-ins failed: {err}");
            }
            let month_ago = store::millis(now) - webhooks::KEEP_DELIVERIES_DAYS * store::DAY_MS;
            if let Err(err) = store.prune_deliveries(month_ago).await {
                tracing::warn!("forgetting old webhook deliveries failed: {err}");
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
    let limits = state.limits;
    listen::accept_loop(app(state), listener, limits, shutdown).await
}
