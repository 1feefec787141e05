//! `ado-cutover-server token create|list|revoke`: tokens on the database of `--database-url`
//! (by default the SQLite file of a first start in this folder, which must exist). The secret
//! of a new token goes to standard output alone, so it can be written to a file; everything
//! else goes to standard error.

use clap::Subcommand;

use super::{Cli, DEFAULT_DATABASE, say};
use crate::server::auth::Kind;
use crate::server::dashboard::when;
use crate::server::store::{Store, millis};
use crate::server::tokens;

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Make a token; its secret is printed once, on standard output.
    Create {
        /// enrollment (agents send reports), api (scripts read), admin (break-glass).
        #[arg(long, value_parser = ["enrollment", "api", "admin"])]
        kind: String,
        /// A label: a rollout wave or department. Devices that send with an enrollment token
        /// show its label on the dashboard.
        #[arg(long)]
        label: Option<String>,
        /// How long it works: e.g. 90d, 12h, 2w; `never` (the default) for no end.
        #[arg(long, default_value = "never")]
        expires: String,
    },
    /// List tokens: id, kind, label, made, expiry, last use, state. Never a secret.
    List {
        /// As JSON (one array).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (from `token list`): refused at once by every instance.
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// Who the audit log names for the command line: the operating-system account.
fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("command line ({user})")
}

pub(super) async fn run(cli: &Cli, action: &TokenAction) -> anyhow::Result<()> {
    let url = match &cli.database_url {
        Some(url) => url.clone(),
        None => {
            if !std::path::Path::new(DEFAULT_DATABASE).exists() {
                anyhow::bail!(
                    "there is no {DEFAULT_DATABASE} in this folder\nhint: run this where the server keeps its database, or name it with --database-url"
                );
            }
            format!("sqlite://{DEFAULT_DATABASE}")
        }
    };
    let store = Store::open(&url, false).await?;
    let now = time::OffsetDateTime::now_utc();
    match action {
        TokenAction::Create {
            kind,
            label,
            expires,
        } => {
            let kind = Kind::parse(kind).expect("clap checked the kind");
            let label = tokens::label(label.as_deref().unwrap_or("")).map_err(|e| {
                anyhow::anyhow!(
                    "{e}\nhint: a label is up to 64 characters of plain text, e.g. wave-1"
                )
            })?;
            let lifetime = tokens::lifetime(expires)
                .map_err(|e| anyhow::anyhow!("{e}\nhint: e.g. --expires 90d"))?;
            let (secret, info) =
                tokens::issue(&store, kind, label.as_deref(), lifetime, &actor(), "", now).await?;
            say(&format!(
                "made {} token {}{}{}; its secret follows on standard output, once (the server keeps only its hash)\n",
                info.kind,
                info.id,
                info.label
                    .as_deref()
                    .map(|l| format!(", label {l}"))
                    .unwrap_or_default(),
                info.expires_at
                    .map(|at| format!(", expires {}", when(at)))
                    .unwrap_or_default(),
            ));
            print_secret(&secret);
        }
        TokenAction::List { json } => {
            let list = store.tokens().await?;
            if *json {
                print_secret(&serde_json::to_string_pretty(&list)?);
            } else {
                let now = millis(now);
                let mut out = format!(
                    "{:<12}  {:<10}  {:<16}  {:<20}  {:<20}  {:<20}  {}\n",
                    "ID", "KIND", "LABEL", "MADE", "EXPIRES", "LAST USED", "STATE"
                );
                for t in &list {
                    out += &format!(
                        "{:<12}  {:<10}  {:<16}  {:<20}  {:<20}  {:<20}  {}\n",
                        t.id,
                        t.kind,
                        t.label.as_deref().unwrap_or("-"),
                        when(t.created_at),
                        t.expires_at.map(when).unwrap_or_else(|| "never".into()),
                        t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                        t.state(now)
                    );
                }
                print_secret(out.trim_end());
            }
        }
        TokenAction::Revoke { id } => match tokens::revoke(&store, id, &actor(), "", now).await? {
            Some(info) => say(&format!(
                "revoked {} token {}{}: every instance refuses it from now on\n",
                info.kind,
                info.id,
                info.label
                    .as_deref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default()
            )),
            None => anyhow::bail!(
                "there is no token with id {id}\nhint: `ado-cutover-server token list` shows the ids"
            ),
        },
    }
    Ok(())
}

/// Standard output: what a script reads (a secret, a list).
#[allow(clippy::print_stdout)]
fn print_secret(text: &str) {
    println!("{text}");
}
