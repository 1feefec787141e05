//! Which Microsoft Entra tenant backs an organization, asked without signing in.
//!
//! `HEAD https://dev.azure.com/{org}/_apis/connectionData` with `X-TFS-FedAuthRedirect: Suppress`
//! answers 401 with `WWW-Authenticate: Bearer authorization_uri=https://login.microsoftonline.com/{tenant}`
//! and/or `X-VSS-ResourceTenant: {tenant}`; the all-zero tenant means the organization still
//! uses personal Microsoft accounts. The same parsing as Git Credential Manager and the
//! Azure Pipelines agent. Redirects are never followed; a short timeout keeps an offline
//! machine fast.

use std::collections::HashMap;
use std::time::Duration;

use ureq::Agent;
use ureq::http::StatusCode;
use ureq::http::header::{HeaderMap, WWW_AUTHENTICATE};

use super::allowed;
use crate::agent::env::Env;
use crate::agent::http;

/// The environment variable that points the lookup elsewhere (a proxy, or a test server on
/// 127.0.0.1). Plain http is accepted only for loopback addresses.
pub const BASE_URL_VAR: &str = "ADO_CUTOVER_AZURE_DEVOPS_URL";
const DEFAULT_BASE: &str = "https://dev.azure.com";
const MSA_TENANT: &str = "00000000-0000-0000-0000-000000000000";

/// What the lookup learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// Connected to this Entra tenant (lower-case GUID).
    Entra(String),
    /// Still backed by personal Microsoft accounts.
    Msa,
    /// Azure DevOps says there is no such organization.
    NotFound,
    /// The answer could not be read, or there was none (offline): why.
    Unknown(String),
}

/// Looks organizations up, each at most once per run.
pub struct Lookup {
    client: Agent,
    base: String,
    cache: HashMap<String, Backing>,
}

impl Lookup {
    /// A lookup against Azure DevOps, or the base URL `ADO_CUTOVER_AZURE_DEVOPS_URL` names.
    pub fn new(env: &Env) -> Lookup {
        let base = env
            .get(BASE_URL_VAR)
            .unwrap_or(DEFAULT_BASE)
            .trim_end_matches('/')
            .to_string();
        let client = http::agent(Duration::from_secs(3));
        Lookup {
            client,
            base,
            cache: HashMap::new(),
        }
    }

    /// Which tenant backs `org`.
    pub fn backing(&mut self, org: &str) -> Backing {
        let key = org.to_ascii_lowercase();
        if let Some(known) = self.cache.get(&key) {
            return known.clone();
        }
        let answer = self.ask(&key);
        self.cache.insert(key, answer.clone());
        answer
    }

    fn ask(&self, org: &str) -> Backing {
        let url = format!("{}/{org}/_apis/connectionData", self.base);
        if !allowed(&url) {
            return Backing::Unknown(format!(
                "{BASE_URL_VAR} must be an https URL (http only on this machine's loopback)"
            ));
        }
        let response = self
            .client
            .head(&url)
            .header("Accept", "application/json")
            .header("X-TFS-FedAuthRedirect", "Suppress")
            .call();
        match response {
            Ok(response) if response.status() == StatusCode::NOT_FOUND => Backing::NotFound,
            Ok(response) => parse(response.headers()).unwrap_or_else(|| {
                Backing::Unknown(format!(
                    "Azure DevOps answered {} without naming a tenant",
                    response.status()
                ))
            }),
            Err(ureq::Error::Timeout(_)) => {
                Backing::Unknown("Azure DevOps did not answer in time".into())
            }
            Err(_) => Backing::Unknown("Azure DevOps could not be reached (offline?)".into()),
        }
    }
}

/// The tenant named by the headers, the way Git Credential Manager reads them: the scheme and
/// parameter names of `WWW-Authenticate` are case-insensitive (RFC 9110), values may be quoted.
pub(crate) fn parse(headers: &HeaderMap) -> Option<Backing> {
    for value in headers.get_all(WWW_AUTHENTICATE) {
        let Ok(value) = value.to_str() else { continue };
        if let Some(tenant) = bearer_authority_tenant(value) {
            return Some(backing_of(&tenant));
        }
    }
    let tenants: Vec<String> = headers
        .get_all("X-VSS-ResourceTenant")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(guid)
        .collect();
    if let Some(tenant) = tenants.iter().find(|t| t.as_str() != MSA_TENANT) {
        return Some(Backing::Entra(tenant.clone()));
    }
    (tenants.len() == 1).then_some(Backing::Msa)
}

/// The tenant GUID at the end of a `Bearer` challenge's `authorization_uri`.
fn bearer_authority_tenant(challenge: &str) -> Option<String> {
    let challenge = challenge.trim();
    let (scheme, rest) = challenge
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((challenge, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    rest.split(',').find_map(|part| {
        let (name, value) = part.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("authorization_uri") {
            return None;
        }
        let uri = value.trim().trim_matches('"');
        uri.trim_end_matches('/').rsplit('/').next().and_then(guid)
    })
}

fn guid(text: &str) -> Option<String> {
    uuid::Uuid::try_parse(text.trim())
        .ok()
        .map(|id| id.hyphenated().to_string())
}

fn backing_of(tenant: &str) -> Backing {
    if tenant == MSA_TENANT {
        Backing::Msa
    } else {
        Backing::Entra(tenant.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn reads_the_bearer_challenge_first() {
        let h = headers(&[
            (
                "WWW-Authenticate",
                "Bearer authorization_uri=https://login.microsoftonline.com/72F988BF-86F1-41AF-91AB-2D7CD011DB47",
            ),
            ("WWW-Authenticate", "Basic realm=\"https://dev.azure.com/\""),
            ("X-VSS-ResourceTenant", MSA_TENANT),
        ]);
        assert_eq!(
            parse(&h),
            Some(Backing::Entra(
                "72f988bf-86f1-41af-91ab-2d7cd011db47".into()
            ))
        );
    }

    #[test]
    fn scheme_and_parameter_names_are_case_insensitive() {
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        for challenge in [
            format!("bEArEr auThORizAtIoN_uRi=https://login.microsoftonline.com/{t}"),
            format!("BEARER authorization_uri=\"https://login.microsoftonline.com/{t}/\""),
            format!("Bearer realm=\"\", Authorization_URI = https://login.microsoftonline.com/{t}"),
        ] {
            let h = headers(&[("WWW-Authenticate", &challenge)]);
            assert_eq!(parse(&h), Some(Backing::Entra(t.into())), "{challenge}");
        }
        // Another scheme, or a scheme that merely starts with "Bearer", names no tenant.
        for challenge in [
            format!("Basic authorization_uri=https://login.microsoftonline.com/{t}"),
            format!("Bearerx authorization_uri=https://login.microsoftonline.com/{t}"),
        ] {
            let h = headers(&[("WWW-Authenticate", &challenge)]);
            assert_eq!(parse(&h), None, "{challenge}");
        }
    }

    #[test]
    fn falls_back_to_the_resource_tenant_header() {
        let msa = headers(&[("X-VSS-ResourceTenant", MSA_TENANT)]);
        assert_eq!(parse(&msa), Some(Backing::Msa));
        let mixed = headers(&[(
            "X-VSS-ResourceTenant",
            "00000000-0000-0000-0000-000000000000, 72f988bf-86f1-41af-91ab-2d7cd011db47",
        )]);
        assert_eq!(
            parse(&mixed),
            Some(Backing::Entra(
                "72f988bf-86f1-41af-91ab-2d7cd011db47".into()
            ))
        );
        assert_eq!(parse(&headers(&[("X-Other", "x")])), None);
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(allowed("https://dev.azure.com/contoso"));
        assert!(allowed("http://127.0.0.1:8080/contoso"));
        assert!(!allowed("http://dev.azure.com/contoso"));
    }

    /// Fuzz (#19): whatever Azure DevOps' answer carries in `WWW-Authenticate` and
    /// `X-VSS-ResourceTenant`, the lookup reads a tenant or nothing, never panics.
    #[test]
    fn fuzz_tenant_lookup_headers() {
        let seeds: &[&[u8]] = &[
            b"Bearer authorization_uri=https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111, Basic realm=\"https://tfsprodweu2.app.visualstudio.com/\", TFS-Federated",
            b"bearer AUTHORIZATION_URI=\"https://login.microsoftonline.com/common\"",
            b"11111111-1111-1111-1111-111111111111, 00000000-0000-0000-0000-000000000000",
        ];
        let dictionary: &[&[u8]] = &[
            b"Bearer ",
            b"authorization_uri=",
            b"\"",
            b",",
            b"=",
            b"https://login.microsoftonline.com/",
            b"/",
        ];
        crate::fuzz::run("tenant-lookup headers", seeds, dictionary, |bytes| {
            let Ok(value) = ureq::http::HeaderValue::from_bytes(bytes) else {
                return;
            };
            let mut headers = HeaderMap::new();
            headers.append(WWW_AUTHENTICATE, value.clone());
            let _ = parse(&headers);
            let mut headers = HeaderMap::new();
            headers.append("X-VSS-ResourceTenant", value);
            let _ = parse(&headers);
        });
    }
}
