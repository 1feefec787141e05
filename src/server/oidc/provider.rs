//! Talking to the identity provider (Microsoft Entra ID, or any OpenID Connect issuer): its
//! discovery document and signing keys, cached, with the keys fetched again when a token names
//! one we do not have (Entra rotates its keys), at most [`REFRESHES_PER_MINUTE`] times a minute;
//! and the exchange of the sign-in code for tokens, authenticated with a client secret or a
//! certificate (a signed client assertion, as Entra recommends).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// How the server proves it is the registered app.
pub enum Credential {
    /// A client secret (read from a file).
    Secret(String),
    /// A certificate registered with the app, and its private key (PEM).
    Certificate {
        key: jsonwebtoken::EncodingKey,
        /// base64url SHA-256 of the certificate (`x5t#S256`).
        thumbprint: String,
    },
}

impl Credential {
    /// A certificate credential from PEM texts.
    pub fn certificate(cert_pem: &str, key_pem: &[u8]) -> Result<Credential, String> {
        let body: String = cert_pem
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .ok()
            .filter(|d| !d.is_empty())
            .ok_or("the certificate file holds no PEM certificate")?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem)
            .map_err(|e| format!("the key file holds no RSA private key in PEM ({e})"))?;
        Ok(Credential::Certificate {
            key,
            thumbprint: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
        })
    }
}

/// The parts of the discovery document the sign-in uses.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// How often the keys may be fetched again because a token named an unknown one.
pub const REFRESHES_PER_MINUTE: usize = 6;
/// How long the discovery document and keys are kept before they are fetched anew.
const KEEP: Duration = Duration::from_secs(24 * 3600);

#[derive(Default)]
struct Cache {
    metadata: Option<(Metadata, Instant)>,
    keys: Option<(JwkSet, Instant)>,
    refreshes: VecDeque<Instant>,
}

/// One identity provider.
pub struct Provider {
    issuer: String,
    http: reqwest::Client,
    cache: Mutex<Cache>,
}

/// A provider call that failed, in words.
pub type Failed = String;

/// An HTTP error with its causes (reqwest's own text names only the request).
fn causes(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

impl Provider {
    pub fn new(issuer: &str) -> Provider {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            // A few calls per sign-in: a fresh connection each time, never one the provider
            // closed while it sat idle in a pool.
            .pool_max_idle_per_host(0)
            .user_agent(concat!("ado-cutover-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's TLS set-up");
        Provider {
            issuer: issuer.trim_end_matches('/').to_string(),
            http,
            cache: Mutex::default(),
        }
    }

    /// The configured issuer (may hold `{tenantid}`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, Failed> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url} did not answer: {}", causes(&e)))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|e| format!("{url} sent something unexpected: {e}"))
    }

    /// The discovery document (cached).
    pub async fn metadata(&self) -> Result<Metadata, Failed> {
        let mut cache = self.cache.lock().await;
        if let Some((metadata, at)) = &cache.metadata
            && at.elapsed() < KEEP
        {
            return Ok(metadata.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let metadata: Metadata = self.get_json(&url).await?;
        if metadata.issuer.trim_end_matches('/') != self.issuer {
            return Err(format!(
                "{url} names the issuer {}, not {}",
                metadata.issuer, self.issuer
            ));
        }
        cache.metadata = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    /// The signing keys: cached, or fetched anew when `refresh` (a token named an unknown key)
    /// and fewer than [`REFRESHES_PER_MINUTE`] refreshes were made in the last minute.
    pub async fn keys(&self, refresh: bool) -> Result<JwkSet, Failed> {
        let metadata = self.metadata().await?;
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        while cache
            .refreshes
            .front()
            .is_some_and(|at| now.duration_since(*at) > Duration::from_secs(60))
        {
            cache.refreshes.pop_front();
        }
        let fresh = cache
            .keys
            .as_ref()
            .filter(|(_, at)| at.elapsed() < KEEP)
            .map(|(keys, _)| keys.clone());
        let allowed = cache.refreshes.len() < REFRESHES_PER_MINUTE;
        match fresh {
            Some(keys) if !refresh || !allowed => return Ok(keys),
            _ => {}
        }
        if refresh {
            cache.refreshes.push_back(now);
        }
        let keys: JwkSet = self.get_json(&metadata.jwks_uri).await?;
        cache.keys = Some((keys.clone(), now));
        Ok(keys)
    }

    /// Exchanges a sign-in code for the ID token.
    pub async fn exchange(
        &self,
        client_id: &str,
        credential: &Credential,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<String, Failed> {
        let metadata = self.metadata().await?;
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", redirect_uri.to_string()),
            ("client_id", client_id.to_string()),
            ("code_verifier", verifier.to_string()),
        ];
        match credential {
            Credential::Secret(secret) => form.push(("client_secret", secret.clone())),
            Credential::Certificate { key, thumbprint } => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push((
                    "client_assertion",
                    assertion(client_id, &metadata.token_endpoint, key, thumbprint)?,
                ));
            }
        }
        let response = self
            .http
            .post(&metadata.token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("the token endpoint did not answer: {}", causes(&e)))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("the token endpoint sent something unexpected ({status}): {e}"))?;
        if !status.is_success() {
            // The provider's error code and description: never a secret (we sent the secret,
            // the provider does not echo it).
            return Err(format!(
                "the identity provider refused the sign-in code: {} {}",
                body["error"].as_str().unwrap_or("(no error code)"),
                body["error_description"].as_str().unwrap_or("")
            )
            .trim_end()
            .to_string());
        }
        body["id_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "the token endpoint sent no ID token".to_string())
    }
}

/// A client assertion: a short-lived JWT signed with the certificate's key (PS256 with
/// `x5t#S256`, the form Microsoft's identity platform documents).
fn assertion(
    client_id: &str,
    audience: &str,
    key: &jsonwebtoken::EncodingKey,
    thumbprint: &str,
) -> Result<String, Failed> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
    header.x5t_s256 = Some(thumbprint.to_string());
    let claims = serde_json::json!({
        "aud": audience, "iss": client_id, "sub": client_id,
        "jti": crate::server::auth::random_token(),
        "iat": now, "nbf": now, "exp": now + 300,
    });
    jsonwebtoken::encode(&header, &claims, key)
        .map_err(|e| format!("signing the client assertion failed: {e}"))
}

/// PKCE's S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636_s256() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_certificate_credential_needs_a_certificate_and_a_key() {
        let key = include_str!("test_key.pem");
        assert!(Credential::certificate("no pem here", key.as_bytes()).is_err());
        let cert = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
        match Credential::certificate(cert, key.as_bytes()).unwrap() {
            Credential::Certificate { thumbprint, .. } => {
                assert_eq!(
                    thumbprint,
                    URL_SAFE_NO_PAD.encode(Sha256::digest([0u8, 1, 2]))
                );
            }
            Credential::Secret(_) => unreachable!(),
        }
        assert!(Credential::certificate(cert, b"not a key").is_err());
    }
}
