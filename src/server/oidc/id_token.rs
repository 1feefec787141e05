//! Checking an ID token, all of it: the signature against the issuer's published keys (an
//! asymmetric algorithm only, the key chosen by `kid`), the issuer (Entra's multi-tenant form
//! `.../{tenantid}/v2.0` filled in with the token's own tenant), the audience, `exp`/`nbf`/`iat`
//! against the server's clock with a small skew, the nonce of this sign-in, and the tenant.
//! Pure: the caller fetches keys and passes the time.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// How far the issuer's clock may be from ours.
pub const SKEW_SECONDS: i64 = 120;

/// What the token must be.
pub struct Expect<'a> {
    /// The issuer, as configured (may hold `{tenantid}`).
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The only tenant whose people may sign in.
    pub tenant: &'a str,
    pub nonce: &'a str,
    /// Unix seconds.
    pub now: i64,
}

/// What the server uses of a valid token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    #[serde(default)]
    pub tid: Option<String>,
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// App roles assigned to the person (Entra's `roles` claim).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Group object ids (Entra's `groups` claim, when the app registration emits it).
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    nonce: Option<String>,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
}

impl Claims {
    /// The name people know this account by.
    pub fn display(&self) -> String {
        self.preferred_username
            .clone()
            .or_else(|| self.email.clone())
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| format!("subject {}", self.sub))
    }
}

/// Why a token was refused. `UnknownKey` means: fetch the issuer's keys again (rotation) and
/// retry once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the ID token is signed with a key the issuer does not publish (kid {0})")]
    UnknownKey(String),
    #[error("the ID token is not a signed token this server accepts: {0}")]
    Malformed(String),
    #[error("the ID token's signature does not match the issuer's key")]
    Signature,
    #[error("the ID token was issued by {0}, not by the configured issuer")]
    Issuer(String),
    #[error("the ID token is meant for another application")]
    Audience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is not valid yet")]
    NotYetValid,
    #[error("the ID token does not belong to this sign-in (wrong nonce)")]
    Nonce,
    #[error("the account belongs to tenant {0}, not to this organization's tenant")]
    Tenant(String),
}

const ALLOWED: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Checks `token` (see the module's documentation).
pub fn validate(token: &str, keys: &JwkSet, expect: &Expect<'_>) -> Result<Claims, Invalid> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| Invalid::Malformed(e.to_string()))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(Invalid::Malformed(format!(
            "algorithm {:?} is not allowed",
            header.alg
        )));
    }
    let kid = header.kid.unwrap_or_default();
    let jwk = keys
        .find(&kid)
        .ok_or_else(|| Invalid::UnknownKey(kid.clone()))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| Invalid::Malformed(e.to_string()))?;
    let mut validation = Validation::new(header.alg);
    // Times are checked below against the server's clock; the issuer too (it may be a template).
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_audience(&[expect.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => Invalid::Signature,
            ErrorKind::InvalidAudience => Invalid::Audience,
            _ => Invalid::Malformed(e.to_string()),
        }
    })?;
    let claims = data.claims;
    let tenant = claims.tid.clone().unwrap_or_default();
    let issuer = expect.issuer.replace("{tenantid}", &tenant);
    if claims.iss != issuer {
        return Err(Invalid::Issuer(claims.iss));
    }
    if claims.exp + SKEW_SECONDS <= expect.now {
        return Err(Invalid::Expired);
    }
    let not_before = claims.nbf.or(claims.iat).unwrap_or(i64::MIN);
    if not_before - SKEW_SECONDS > expect.now {
        return Err(Invalid::NotYetValid);
    }
    let nonce_ok = claims.nonce.as_deref().is_some_and(|n| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            n.as_bytes(),
            expect.nonce.as_bytes(),
        ))
    });
    if !nonce_ok {
        return Err(Invalid::Nonce);
    }
    if !tenant.eq_ignore_ascii_case(expect.tenant) {
        return Err(Invalid::Tenant(if tenant.is_empty() {
            "(none named)".into()
        } else {
            tenant
        }));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    /// A 2048-bit RSA test key (made for these tests only) and its public half as a JWK.
    const KEY: &str = include_str!("test_key.pem");
    const N: &str = include_str!("test_key.n");

    fn keys(kid: &str) -> JwkSet {
        serde_json::from_value(json!({"keys": [{
            "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": N.trim(), "e": "AQAB"
        }]}))
        .unwrap()
    }

    const ISSUER: &str = "https://login.example/11111111-aaaa/v2.0";

    fn token(kid: &str, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn claims() -> serde_json::Value {
        json!({"iss": ISSUER, "aud": "app", "sub": "s", "tid": "11111111-aaaa", "nonce": "n1",
               "exp": 2000, "iat": 1000, "preferred_username": "alice@contoso.com",
               "roles": ["Cutover.Admin"]})
    }

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            issuer: ISSUER,
            client_id: "app",
            tenant: "11111111-AAAA",
            nonce: "n1",
            now,
        }
    }

    fn with(change: &[(&str, serde_json::Value)]) -> serde_json::Value {
        let mut claims = claims();
        for (k, v) in change {
            claims[*k] = v.clone();
        }
        claims
    }

    #[test]
    fn a_valid_token_gives_its_claims() {
        let claims = validate(&token("k1", claims()), &keys("k1"), &expect(1500)).unwrap();
        assert_eq!(claims.display(), "alice@contoso.com");
        assert_eq!(claims.roles, ["Cutover.Admin"]);
    }

    #[test]
    fn every_check_refuses_what_it_names() {
        let keys = keys("k1");
        let check = |t: &str, now| validate(t, &keys, &expect(now));
        assert_eq!(
            check(&token("k2", claims()), 1500),
            Err(Invalid::UnknownKey("k2".into()))
        );
        assert_eq!(
            check(&token("k1", with(&[("aud", json!("other"))])), 1500),
            Err(Invalid::Audience)
        );
        assert_eq!(
            check(
                &token("k1", with(&[("iss", json!("https://evil/v2.0"))])),
                1500
            ),
            Err(Invalid::Issuer("https://evil/v2.0".into()))
        );
        assert_eq!(
            check(&token("k1", claims()), 2000 + SKEW_SECONDS),
            Err(Invalid::Expired)
        );
        assert!(
            check(&token("k1", claims()), 2000 + SKEW_SECONDS - 1).is_ok(),
            "within the skew"
        );
        assert_eq!(
            check(&token("k1", claims()), 1000 - SKEW_SECONDS - 1),
            Err(Invalid::NotYetValid)
        );
        assert_eq!(
            check(&token("k1", with(&[("nonce", json!("n2"))])), 1500),
            Err(Invalid::Nonce)
        );
        assert_eq!(
            check(&token("k1", with(&[("nonce", json!(null))])), 1500),
            Err(Invalid::Nonce)
        );
        assert_eq!(
            check(
                &token(
                    "k1",
                    with(&[
                        ("tid", json!("22222222-bbbb")),
                        ("iss", json!("https://login.example/22222222-bbbb/v2.0"))
                    ])
                ),
                1500
            ),
            Err(Invalid::Issuer(
                "https://login.example/22222222-bbbb/v2.0".into()
            )),
            "another tenant's issuer"
        );
        // A token whose payload was changed after signing.
        let good = token("k1", claims());
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = token("k1", with(&[("roles", json!(["Cutover.Admin", "x"]))]));
        parts[1] = forged.split('.').nth(1).unwrap();
        assert_eq!(check(&parts.join("."), 1500), Err(Invalid::Signature));
        // An unsigned token, and a symmetric one keyed with the public key.
        let unsigned = format!(
            "{}.{}.",
            base64_url(r#"{"alg":"none","kid":"k1"}"#),
            parts[1]
        );
        assert!(matches!(check(&unsigned, 1500), Err(Invalid::Malformed(_))));
        let hs = encode(
            &Header {
                kid: Some("k1".into()),
                ..Header::new(Algorithm::HS256)
            },
            &claims(),
            &EncodingKey::from_secret(N.trim().as_bytes()),
        )
        .unwrap();
        assert!(matches!(check(&hs, 1500), Err(Invalid::Malformed(_))));
    }

    #[test]
    fn the_multi_tenant_issuer_takes_the_token_s_tenant_and_the_tenant_is_still_checked() {
        let keys = keys("k1");
        let template = "https://login.example/{tenantid}/v2.0";
        let expect = Expect {
            issuer: template,
            ..expect(1500)
        };
        assert!(validate(&token("k1", claims()), &keys, &expect).is_ok());
        let other = with(&[
            ("tid", json!("22222222-bbbb")),
            ("iss", json!("https://login.example/22222222-bbbb/v2.0")),
        ]);
        assert_eq!(
            validate(&token("k1", other), &keys, &expect),
            Err(Invalid::Tenant("22222222-bbbb".into()))
        );
    }

    fn base64_url(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// Fuzz (#19): whatever comes back as an ID token, it is refused unless it is the signed
    /// token; a changed one never passes, and nothing panics.
    #[test]
    fn fuzz_id_tokens() {
        let keys = keys("k1");
        let good = token("k1", claims());
        let dictionary: &[&[u8]] = &[
            b".",
            b"eyJ",
            b"-",
            b"_",
            b"=",
            b"AAAA",
            b"eyJhbGciOiJub25lIn0",
        ];
        crate::fuzz::run("ID tokens", &[good.as_bytes()], dictionary, |bytes| {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return;
            };
            if validate(text, &keys, &expect(1500)).is_ok() {
                assert_eq!(text, good, "only the signed token passes");
            }
        });
    }
}
