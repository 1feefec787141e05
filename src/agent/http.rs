//! The agent's HTTPS client: blocking, no async runtime, rustls on ring, and the operating
//! system's certificate verifier, so corporate TLS-inspection roots work as they do in the
//! browser. Redirects are never followed and HTTP errors are answers, not failures: callers read
//! the status themselves.

use std::sync::Arc;
use std::time::Duration;

use ureq::Agent;
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// A client whose whole request (connect, send, read) takes at most `timeout`.
pub(super) fn agent(timeout: Duration) -> Agent {
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::PlatformVerifier)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent(concat!("ado-cutover/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls)
        .build()
        .into()
}
