//! The `--entra-*` settings: sign-in with Microsoft Entra ID, checked at start so a typo is an
//! error that names the setting, never a sign-in page that fails later.

use std::path::PathBuf;

use clap::Args;

use crate::server::oidc::{self, Credential, Entra, Provider};

#[derive(Debug, Args)]
pub struct EntraArgs {
    /// Sign-in with Microsoft Entra ID: the app registration's Application (client) ID
    /// (docs/entra-sign-in.md). Turns the sign-in on; needs --entra-tenant, a credential and
    /// --public-url.
    #[arg(long, env = "ADO_CUTOVER_SERVER_ENTRA_CLIENT_ID")]
    pub entra_client_id: Option<String>,
    /// The Directory (tenant) ID whose people may sign in; everyone else is refused.
    #[arg(long, env = "ADO_CUTOVER_SERVER_ENTRA_TENANT")]
    pub entra_tenant: Option<String>,
    /// A file holding the app's client secret.
    #[arg(long, env = "ADO_CUTOVER_SERVER_ENTRA_CLIENT_SECRET_FILE")]
    pub entra_client_secret_file: Option<PathBuf>,
    /// Instead of a secret: the certificate registered with the app (PEM)...
    #[arg(long, env = "ADO_CUTOVER_SERVER_ENTRA_CERTIFICATE_FILE")]
    pub entra_certificate_file: Option<PathBuf>,
    /// ...and its RSA private key (PEM).
    #[arg(long, env = "ADO_CUTOVER_SERVER_ENTRA_KEY_FILE")]
    pub entra_key_file: Option<PathBuf>,
    /// The OpenID Connect issuer. Default: https://login.microsoftonline.com/<tenant>/v2.0
    /// (national clouds: their own login host).
    #[arg(long, env = "ADO_CUTOVER_SERVER_ENTRA_ISSUER")]
    pub entra_issuer: Option<String>,
    /// App role values or group object IDs that make an admin (comma-separated).
    #[arg(long, env = "ADO_CUTOVER_SERVER_ENTRA_ADMIN", value_delimiter = ',', default_value = oidc::DEFAULT_ADMIN_ROLE)]
    pub entra_admin: Vec<String>,
    /// App role values or group object IDs that make a viewer (comma-separated).
    #[arg(long, env = "ADO_CUTOVER_SERVER_ENTRA_VIEWER", value_delimiter = ',', default_value = oidc::DEFAULT_VIEWER_ROLE)]
    pub entra_viewer: Vec<String>,
}

fn read(path: &PathBuf, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the {what} {}: {e}\nhint: give a readable file (only the server's account should be able to read it)",
            path.display()
        )
    })
}

/// The sign-in, when `--entra-client-id` is given.
pub(super) fn configure(
    args: &EntraArgs,
    public_url: Option<&str>,
) -> anyhow::Result<Option<Entra>> {
    let Some(client_id) = args.entra_client_id.as_deref().map(str::trim) else {
        return Ok(None);
    };
    let tenant = args.entra_tenant.as_deref().map(str::trim).filter(|t| !t.is_empty()).ok_or_else(|| {
        anyhow::anyhow!("--entra-client-id needs --entra-tenant\nhint: the Directory (tenant) ID from the app registration's overview")
    })?;
    let Some(public_url) = public_url else {
        anyhow::bail!(
            "the Entra sign-in needs --public-url, the address people open\nhint: e.g. --public-url https://cutover.example.com; its /login/entra/callback is the redirect URI registered with the app"
        );
    };
    let credential = match (
        &args.entra_client_secret_file,
        &args.entra_certificate_file,
        &args.entra_key_file,
    ) {
        (Some(secret), None, None) => {
            let secret = read(secret, "client secret file")?.trim().to_string();
            if secret.is_empty() {
                anyhow::bail!(
                    "the client secret file is empty\nhint: put the secret's value (not its id) in it"
                );
            }
            Credential::Secret(secret)
        }
        (None, Some(cert), Some(key)) => {
            let cert = read(cert, "certificate file")?;
            let key = read(key, "key file")?;
            Credential::certificate(&cert, key.as_bytes()).map_err(|e| {
                anyhow::anyhow!("{e}\nhint: --entra-certificate-file takes the PEM certificate uploaded to the app, --entra-key-file its RSA private key")
            })?
        }
        _ => anyhow::bail!(
            "the Entra sign-in needs one credential: --entra-client-secret-file, or both --entra-certificate-file and --entra-key-file\nhint: docs/entra-sign-in.md shows both"
        ),
    };
    let issuer = args
        .entra_issuer
        .clone()
        .unwrap_or_else(|| format!("https://login.microsoftonline.com/{tenant}/v2.0"));
    let parsed = url::Url::parse(&issuer).map_err(|_| {
        anyhow::anyhow!("--entra-issuer `{issuer}` is not a URL\nhint: e.g. https://login.microsoftonline.com/<tenant>/v2.0")
    })?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !loopback {
        anyhow::bail!(
            "--entra-issuer `{issuer}` is not https\nhint: an identity provider is reached over https only"
        );
    }
    let roles = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect()
    };
    Ok(Some(Entra {
        provider: Provider::new(&issuer),
        client_id: client_id.to_string(),
        credential,
        tenant: tenant.to_string(),
        admin: roles(&args.entra_admin),
        viewer: roles(&args.entra_viewer),
        redirect_uri: format!("{}/login/entra/callback", public_url.trim_end_matches('/')),
    }))
}
