//! Authentication (R-RBAC-1): verify the `Authorization: Bearer` JWT with a pinned algorithm
//! (HS256 via `JWT_SECRET` or RS256 via `JWT_PUBLIC_KEY_FILE`), check `exp` and, when configured,
//! `iss`/`aud`, and build the domain [`Actor`]. No token is an anonymous actor; a bad token is an
//! error for the whole request.

use std::path::PathBuf;

use axum::http::HeaderMap;
use domain::permissions::Actor;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("set JWT_SECRET (HS256) or JWT_PUBLIC_KEY_FILE (RS256), not both")]
    Both,
    #[error("no JWT key configured: set JWT_SECRET (HS256) or JWT_PUBLIC_KEY_FILE (RS256)")]
    Missing,
    #[error("JWT_SECRET must be at least 32 bytes")]
    WeakSecret,
    #[error("cannot read JWT public key {path}: {message}")]
    PublicKey { path: String, message: String },
}

/// Why a presented token was refused. Details are logged, never returned to the caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("malformed Authorization header")]
    MalformedHeader,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
}

/// Claims this platform reads (R-IF): `sub`, `scope` (space separated), `malets`, `exp`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub malets: Vec<String>,
    /// The affiliate the caller is (an affiliate's own dashboard), in place of `malets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affiliate: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Not before (seconds since the epoch): refused until then, with the leeway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at: a token issued in the future (beyond the leeway) is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// JWT settings, from `JWT_SECRET` / `JWT_PUBLIC_KEY_FILE`, `JWT_ISSUER`, `JWT_AUDIENCE`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthSettings {
    /// HS256 shared secret (at least 32 bytes).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
    /// RS256 public key (PEM file).
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Expected `iss`, checked when set.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Expected `aud`, checked when set.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// A ready verifier: the key and a validation with the algorithm pinned.
#[derive(Clone)]
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("algorithms", &self.validation.algorithms).finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        // An empty variable (`JWT_SECRET=` from a template) counts as unset.
        let settings = &AuthSettings {
            jwt_secret: settings.jwt_secret.clone().filter(|s| !s.expose_secret().trim().is_empty()),
            jwt_public_key_file: settings.jwt_public_key_file.clone().filter(|p| !p.as_os_str().is_empty()),
            jwt_issuer: settings.jwt_issuer.clone().filter(|s| !s.trim().is_empty()),
            jwt_audience: settings.jwt_audience.clone().filter(|s| !s.trim().is_empty()),
        };
        let (key, algorithm) = match (&settings.jwt_secret, &settings.jwt_public_key_file) {
            (Some(_), Some(_)) => return Err(AuthConfigError::Both),
            (None, None) => return Err(AuthConfigError::Missing),
            (Some(secret), None) => {
                if secret.expose_secret().len() < 32 {
                    return Err(AuthConfigError::WeakSecret);
                }
                (DecodingKey::from_secret(secret.expose_secret().as_bytes()), Algorithm::HS256)
            }
            (None, Some(path)) => {
                let pem = std::fs::read(path).map_err(|e| AuthConfigError::PublicKey {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                let key = DecodingKey::from_rsa_pem(&pem).map_err(|e| AuthConfigError::PublicKey {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                (key, Algorithm::RS256)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        // jsonwebtoken leaves `nbf` unchecked by default.
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if settings.jwt_issuer.is_some() {
            required.push("iss");
        }
        if settings.jwt_audience.is_some() {
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        match &settings.jwt_issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &settings.jwt_audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Ok(Authenticator { key, validation })
    }

    /// The actor of a request: anonymous without `Authorization`, an error for a bad token.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Actor, AuthError> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Actor::anonymous());
        };
        let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::MalformedHeader)?;
        self.verify(token)
    }

    pub fn verify(&self, token: &str) -> Result<Actor, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        let c = data.claims;
        if let Some(iat) = c.iat
            && iat > chrono::Utc::now().timestamp() + i64::try_from(LEEWAY_SECS).unwrap_or(0)
        {
            return Err(AuthError::InvalidClaims("iat is in the future".into()));
        }
        Actor::from_claims(&c.sub, &c.scope, &c.malets)
            .map(|a| a.with_affiliate(c.affiliate.as_deref()))
            .map_err(|e| AuthError::InvalidClaims(e.to_string()))
    }
}

/// Mints an HS256 token for local development (`<bin> mint-token`).
pub fn mint_hs256(secret: &SecretString, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}

/// Options of the `mint-token` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct MintTokenArgs {
    /// User id (`sub`).
    #[arg(long, default_value = "dev-user")]
    pub sub: String,
    /// Space-separated permissions.
    #[arg(long, default_value = "VIEW_PAYOUTS MANAGE_PAYOUTS VIEW_REVENUE")]
    pub scope: String,
    /// Comma-separated Malet ids, or `*` for every Malet (admins).
    #[arg(long, default_value = "malet-1")]
    pub malets: String,
    /// The affiliate the token is for (an affiliate's dashboard; use with `--malets ''`).
    #[arg(long)]
    pub affiliate: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: SecretString,
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

impl MintTokenArgs {
    pub fn mint(&self) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: self.sub.clone(),
            scope: self.scope.clone(),
            malets: self.malets.split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect(),
            affiliate: self.affiliate.clone(),
            exp: chrono::Utc::now().timestamp() + self.ttl,
            iss: self.jwt_issuer.clone(),
            aud: self.jwt_audience.clone(),
            nbf: None,
            iat: Some(chrono::Utc::now().timestamp()),
        };
        mint_hs256(&self.jwt_secret, &claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use domain::permissions::Permission;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/jwt")
    }

    fn hs(iss: Option<&str>, aud: Option<&str>) -> Authenticator {
        Authenticator::from_settings(&AuthSettings {
            jwt_secret: Some(SecretString::from(SECRET.to_owned())),
            jwt_public_key_file: None,
            jwt_issuer: iss.map(str::to_owned),
            jwt_audience: aud.map(str::to_owned),
        })
        .expect("authenticator")
    }

    fn claims(exp_offset: i64) -> Claims {
        Claims {
            affiliate: None,
            sub: "u1".into(),
            scope: "VIEW_PAYOUTS".into(),
            malets: vec!["m1".into()],
            exp: chrono::Utc::now().timestamp() + exp_offset,
            iss: None,
            aud: None,
            nbf: None,
            iat: None,
        }
    }

    fn mint(c: &Claims) -> String {
        mint_hs256(&SecretString::from(SECRET.to_owned()), c).expect("mint")
    }

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
        h
    }

    #[test]
    fn valid_hs256_token_builds_the_actor() {
        let actor = hs(None, None).authenticate(&headers(&mint(&claims(60)))).expect("valid");
        assert_eq!(actor.can(Permission::ViewPayouts, "m1"), Ok(()));
        assert!(hs(None, None).authenticate(&HeaderMap::new()).expect("anonymous").subject().is_none());
    }

    #[test]
    fn expired_forged_malformed_and_none_tokens_are_rejected() {
        let auth = hs(None, None);
        assert!(auth.authenticate(&headers(&mint(&claims(-120)))).is_err(), "expired");
        let other =
            mint_hs256(&SecretString::from("another-secret-another-secret-xx".to_owned()), &claims(60)).expect("mint");
        assert!(auth.authenticate(&headers(&other)).is_err(), "wrong key");
        let mut tampered = mint(&claims(60));
        tampered.push('x');
        assert!(auth.authenticate(&headers(&tampered)).is_err(), "tampered");
        // alg "none": header {"alg":"none","typ":"JWT"}, no signature.
        let b64 = |s: &str| {
            use base64_like::encode;
            encode(s.as_bytes())
        };
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&serde_json::to_string(&claims(60)).expect("json"))
        );
        assert!(auth.authenticate(&headers(&none)).is_err(), "alg none");
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(matches!(auth.authenticate(&h), Err(AuthError::MalformedHeader)));
    }

    #[test]
    fn not_before_and_issued_in_the_future_are_refused_beyond_the_leeway() {
        let auth = hs(None, None);
        let now = chrono::Utc::now().timestamp();
        let mut c = claims(3600);
        c.nbf = Some(now + 600);
        assert!(auth.verify(&mint(&c)).is_err(), "nbf in 10 minutes");
        c.nbf = Some(now + 10);
        assert!(auth.verify(&mint(&c)).is_ok(), "nbf within the leeway");
        c.nbf = Some(now - 10);
        assert!(auth.verify(&mint(&c)).is_ok());
        c.iat = Some(now + 600);
        assert!(matches!(auth.verify(&mint(&c)), Err(AuthError::InvalidClaims(_))), "iat in 10 minutes");
        c.iat = Some(now + 5);
        assert!(auth.verify(&mint(&c)).is_ok(), "iat within the leeway");
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let auth = hs(Some("https://auth.example"), Some("mallnline"));
        let mut c = claims(60);
        assert!(auth.verify(&mint(&c)).is_err(), "missing iss/aud");
        c.iss = Some("https://auth.example".into());
        c.aud = Some("mallnline".into());
        assert!(auth.verify(&mint(&c)).is_ok());
        c.aud = Some("other".into());
        assert!(auth.verify(&mint(&c)).is_err(), "wrong aud");
    }

    #[test]
    fn rs256_is_pinned_and_rejects_hs256_tokens() {
        let auth = Authenticator::from_settings(&AuthSettings {
            jwt_secret: None,
            jwt_public_key_file: Some(fixtures().join("test-only-public.pem")),
            jwt_issuer: None,
            jwt_audience: None,
        })
        .expect("rs256 authenticator");
        let pem = std::fs::read(fixtures().join("test-only-private.pem")).expect("private key");
        let key = EncodingKey::from_rsa_pem(&pem).expect("rsa key");
        let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims(60), &key).expect("rs256 token");
        assert!(auth.verify(&token).is_ok());
        // An HS256 token (even one signed with the public key's bytes) is refused.
        let public = std::fs::read(fixtures().join("test-only-public.pem")).expect("public key");
        let confused =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(60), &EncodingKey::from_secret(&public))
                .expect("hs256");
        assert!(auth.verify(&confused).is_err(), "algorithm confusion");
        assert!(auth.verify(&mint(&claims(60))).is_err());
    }

    #[test]
    fn configuration_errors_are_typed() {
        let s = |secret: Option<&str>, file: Option<&str>| AuthSettings {
            jwt_secret: secret.map(|x| SecretString::from(x.to_owned())),
            jwt_public_key_file: file.map(std::path::PathBuf::from),
            jwt_issuer: None,
            jwt_audience: None,
        };
        assert!(matches!(Authenticator::from_settings(&s(None, None)), Err(AuthConfigError::Missing)));
        assert!(matches!(Authenticator::from_settings(&s(Some(""), None)), Err(AuthConfigError::Missing)));
        // Empty values are unset: an empty secret next to a key file selects RS256.
        let public = fixtures().join("test-only-public.pem");
        assert!(Authenticator::from_settings(&s(Some(""), public.to_str())).is_ok());
        assert!(matches!(Authenticator::from_settings(&s(Some("short"), None)), Err(AuthConfigError::WeakSecret)));
        assert!(matches!(Authenticator::from_settings(&s(Some(SECRET), Some("/x"))), Err(AuthConfigError::Both)));
        assert!(matches!(
            Authenticator::from_settings(&s(None, Some("/nonexistent.pem"))),
            Err(AuthConfigError::PublicKey { .. })
        ));
    }

    /// Unpadded base64url, enough to forge an `alg: none` token in a test.
    mod base64_like {
        pub fn encode(bytes: &[u8]) -> String {
            const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                let chars = chunk.len() + 1;
                for i in 0..chars {
                    out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
                }
            }
            out
        }
    }
}
