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
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
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
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
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
        Actor::from_claims(&c.sub, &c.scope, &c.malets).map_err(|e| AuthError::InvalidClaims(e.to_string()))
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
            exp: chrono::Utc::now().timestamp() + self.ttl,
            iss: self.jwt_issuer.clone(),
            aud: self.jwt_audience.clone(),
        };
        mint_hs256(&self.jwt_secret, &claims)
    }
}
