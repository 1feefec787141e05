//! The `ado-cutover-server` command line, and its first start: the database is opened (and
//! created only where that is the default), tokens are generated when none was ever made, and
//! the admin is told where everything is. `token create|list|revoke` manage tokens on the same
//! database ([`token`]); the `--entra-*` settings turn on the Entra sign-in ([`entra`]).

mod entra;
mod token;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::auth::{self, Kind};
use super::store::{AuditEntry, NewToken, Store, millis, redact_url};
use super::{Limits, State, system_clock};

/// The default SQLite file, in the current folder.
pub const DEFAULT_DATABASE: &str = "ado-cutover-server.db";

/// Receives ado-cutover reports and shows admins who is done.
#[derive(Debug, Parser)]
#[command(name = "ado-cutover-server", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address to listen on. Put a reverse proxy with TLS in front for anything but loopback.
    #[arg(
        long,
        env = "ADO_CUTOVER_SERVER_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// Database URL: sqlite://path/to/file.db or postgres://user@host/database.
    /// Default: ado-cutover-server.db in the current folder, created on first start.
    #[arg(long, env = "ADO_CUTOVER_SERVER_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Create the SQLite file named by --database-url if it does not exist.
    #[arg(long)]
    pub create: bool,
    /// Where the generated tokens are written on first start (mode 0600).
    /// Default: next to the SQLite database, or the current folder.
    #[arg(long, env = "ADO_CUTOVER_SERVER_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Delete reports older than this many days (each device's latest is always kept).
    #[arg(long, env = "ADO_CUTOVER_SERVER_RETENTION_DAYS", default_value_t = 365)]
    pub retention_days: u64,
    /// The largest report accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_report_bytes: usize,
    /// The largest upload of the expected users (the dashboard's form), in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub max_upload_bytes: usize,
    /// Reports accepted per token per minute, per server instance.
    #[arg(long, default_value_t = 60_000)]
    pub reports_per_minute: u32,
    /// Connections served at once; more wait until one ends. Keep it below the process's open
    /// file limit (`ulimit -n`).
    #[arg(
        long,
        env = "ADO_CUTOVER_SERVER_MAX_CONNECTIONS",
        default_value_t = 512
    )]
    pub max_connections: usize,
    /// Seconds a client may take to send a request's head; an idle connection is closed after
    /// as long.
    #[arg(long, default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds one request may take, its body included.
    #[arg(long, default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// The address people use, e.g. https://cutover.example.com when a TLS proxy is in front:
    /// with https, the session cookie is Secure and every answer carries HSTS, even though this
    /// server listens on plain HTTP behind the proxy.
    #[arg(long, env = "ADO_CUTOVER_SERVER_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Answer /metrics only with a token that may read (an API token, or the admin token).
    #[arg(long, env = "ADO_CUTOVER_SERVER_METRICS_TOKEN")]
    pub metrics_token: bool,
    /// Refuse the admin token everywhere (dashboard sign-in and API): people sign in with
    /// Microsoft Entra ID, scripts use API tokens. `token create --kind admin` still works here.
    #[arg(long, env = "ADO_CUTOVER_SERVER_NO_ADMIN_TOKEN")]
    pub no_admin_token: bool,
    /// A reverse proxy (IP address) whose X-Forwarded-For header names the client, for the
    /// audit log. Repeat it, or separate addresses with commas.
    #[arg(
        long,
        env = "ADO_CUTOVER_SERVER_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxy: Vec<std::net::IpAddr>,
    #[command(flatten)]
    pub entra: entra::EntraArgs,
}

/// What to do instead of serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make, list and revoke tokens (on the database of --database-url; every running
    /// instance takes the change at once).
    Token {
        #[command(subcommand)]
        action: token::TokenAction,
    },
}

/// Runs the server until Ctrl-C or SIGTERM. Its log (errors with their causes, warnings) goes
/// to standard error, where systemd and containers collect it.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Token { action }) = &cli.command {
        return token::run(&cli, action).await;
    }
    // Checked before anything is opened or created.
    let https = match cli.public_url.as_deref() {
        None => false,
        Some(url) if url.starts_with("https://") => true,
        Some(url) if url.starts_with("http://") => false,
        Some(url) => anyhow::bail!(
            "--public-url `{url}` is not an http:// or https:// address\nhint: give the address people open, e.g. https://cutover.example.com"
        ),
    };
    // A second start in the same process (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_max_level(tracing::Level::INFO)
        .try_init();
    let (url, create) = match &cli.database_url {
        Some(url) => (url.clone(), cli.create),
        None => (format!("sqlite://{DEFAULT_DATABASE}"), true),
    };
    let entra = entra::configure(&cli.entra, cli.public_url.as_deref())?;
    let store = Store::open(&url, create).await?;
    let now = time::OffsetDateTime::now_utc();
    let token_file =
        cli.token_file
            .clone()
            .unwrap_or_else(|| match url.strip_prefix("sqlite://") {
                Some(path) => Path::new(path.split('?').next().unwrap_or(path))
                    .with_file_name("ado-cutover-server-tokens.txt"),
                None => PathBuf::from("ado-cutover-server-tokens.txt"),
            });
    // A kind of token that was never made gets one; a revoked one is not replaced behind the
    // admins' back (`token create` makes a new one). No admin token when it is turned off.
    let mut created = Vec::new();
    for kind in [Kind::Enrollment, Kind::Admin] {
        if kind == Kind::Admin && cli.no_admin_token {
            continue;
        }
        if store.tokens_made(kind.name()).await? == 0 {
            let token = auth::random_token();
            let id = auth::hex(&auth::random_bytes::<6>());
            store
                .add_token(
                    &NewToken {
                        id: &id,
                        sha256: &auth::hash_hex(&token),
                        kind: kind.name(),
                        label: None,
                        expires_at: None,
                        created_by: "first start",
                    },
                    now,
                )
                .await?;
            created.push((kind, token));
        }
    }
    if !created.is_empty() {
        write_tokens(&token_file, &created)?;
    }
    let limits = Limits {
        body_bytes: cli.max_report_bytes,
        upload_bytes: cli.max_upload_bytes,
        reports_per_minute: cli.reports_per_minute,
        connections: cli.max_connections,
        header_timeout: Duration::from_secs(cli.header_timeout_secs.max(1)),
        request_timeout: Duration::from_secs(cli.request_timeout_secs.max(1)),
    };
    note_settings(&store, &cli, entra.as_ref(), now).await?;
    let mut state = State::new(store, system_clock(), limits);
    state.https = https;
    state.secure_cookies = state.https || !cli.listen.ip().is_loopback();
    state.metrics_need_token = cli.metrics_token;
    state.admin_token = !cli.no_admin_token;
    state.trusted_proxies = std::sync::Arc::new(cli.trusted_proxy.clone());
    let entra_on = entra.is_some();
    state.entra = entra.map(std::sync::Arc::new);
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e}\nhint: pick a free address with --listen",
                cli.listen
            )
        })?;
    let address = listener.local_addr()?;
    let mut banner = format!("ado-cutover-server {}\n", env!("CARGO_PKG_VERSION"));
    // Where things are, absolute: a first start from a folder writes into that folder.
    let shown_url = match url.strip_prefix("sqlite://") {
        Some(path) => format!(
            "sqlite://{}",
            std::path::absolute(path)
                .map_or_else(|_| path.to_string(), |p| p.display().to_string())
        ),
        None => redact_url(&url),
    };
    banner += &format!("  database:  {shown_url}\n");
    banner += &format!("  dashboard: http://{address}/\n");
    banner += &format!("  reports:   POST http://{address}/api/v1/reports\n");
    banner += &format!(
        "  sign-in:   {}{}\n",
        if entra_on { "Microsoft Entra ID" } else { "" },
        match (entra_on, cli.no_admin_token) {
            (true, true) => "",
            (true, false) => ", and the admin token (break-glass)",
            (false, false) => "the admin token",
            (false, true) => "none (the admin token is off and Entra ID is not set up)",
        }
    );
    if created.is_empty() {
        banner += "  tokens:    as generated at the first start (see that start's token file)\n";
    } else {
        banner += &format!(
            "  tokens:    written to {} (keep it private)\n",
            std::path::absolute(&token_file)
                .unwrap_or_else(|_| token_file.clone())
                .display()
        );
    }
    say(&banner);
    let retention = Duration::from_secs(cli.retention_days.max(1) * 24 * 3600);
    super::serve(state, listener, Some(retention), shutdown()).await?;
    Ok(())
}

/// The sign-in settings in words; when they differ from the last start's, the audit log says
/// so (who changed them is whoever changed the server's configuration).
async fn note_settings(
    store: &Store,
    cli: &Cli,
    entra: Option<&super::oidc::Entra>,
    now: time::OffsetDateTime,
) -> anyhow::Result<()> {
    let settings = format!(
        "{}; admin token {}; metrics {}; trusted proxies: {}",
        entra.map_or_else(|| "Entra sign-in: off".to_string(), |e| e.describe()),
        if cli.no_admin_token { "off" } else { "on" },
        if cli.metrics_token {
            "need a token"
        } else {
            "open"
        },
        if cli.trusted_proxy.is_empty() {
            "none".to_string()
        } else {
            cli.trusted_proxy
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if store
        .last_audit_detail("settings-changed")
        .await?
        .as_deref()
        != Some(settings.as_str())
    {
        store
            .add_audit(&AuditEntry {
                id: 0,
                at: millis(now),
                actor: "server configuration".into(),
                action: "settings-changed".into(),
                target: String::new(),
                outcome: "ok".into(),
                address: String::new(),
                detail: settings,
            })
            .await?;
    }
    Ok(())
}

/// Writes new tokens where only the owner can read them. Appends, so an earlier file is kept.
fn write_tokens(path: &Path, tokens: &[(Kind, String)]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot write the tokens to {}: {e}\nhint: choose a writable place with --token-file",
            path.display()
        )
    })?;
    for (kind, token) in tokens {
        let what = match kind {
            Kind::Enrollment => "enrollment token (agents: report.enrollment_token_file)",
            Kind::Admin => "admin token (dashboard sign-in, admin API)",
            Kind::Api => "API token (scripts read)",
        };
        writeln!(file, "# {what}\n{}={token}", kind.name())?;
    }
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The server's own words to whoever started it (the start-up lines), on standard error; the
/// log goes through `tracing`.
#[allow(clippy::print_stderr)]
pub fn say(text: &str) {
    eprint!("{text}");
}
