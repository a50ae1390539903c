//! Per-route authentication: API key (header or query), Bearer and Basic, checked against the
//! credential snapshot with `hookflow_runtime::credentials::verify` (constant time). Presented
//! secrets are never logged.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hookflow_core::intake::parse_query;
use hookflow_core::nodes::webhook::{Auth, KeyLocation};
use hookflow_runtime::credentials::verify;
use hookflow_store::clock::now_ms;
use hookflow_store::{Credential, CredentialKind};

use crate::error::HookError;

/// The default header of an API key.
pub const DEFAULT_KEY_HEADER: &str = "x-api-key";
/// The default query parameter of an API key.
pub const DEFAULT_KEY_QUERY: &str = "api_key";

/// The `WWW-Authenticate` challenge of a Basic route.
pub const BASIC_CHALLENGE: &str = "Basic realm=\"hookflow\"";

/// The `WWW-Authenticate` challenge of a route's auth, for its `401`.
pub fn challenge(auth: &Auth) -> Option<&'static str> {
    match auth {
        Auth::Bearer { .. } => Some("Bearer"),
        Auth::Basic { .. } => Some(BASIC_CHALLENGE),
        Auth::None | Auth::ApiKey { .. } => None,
    }
}

/// Checks the caller against `auth`. `Ok(Some(name))` names the credential that authenticated
/// the call; `Ok(None)` is a route without auth.
pub fn check(
    auth: &Auth,
    headers: &HeaderMap,
    query: Option<&str>,
    credentials: &HashMap<String, Credential>,
) -> Result<Option<String>, HookError> {
    let (name, presented, username, kind) = match auth {
        Auth::None => return Ok(None),
        Auth::ApiKey { location, name, credential } => {
            let presented = match location {
                KeyLocation::Header => {
                    let header = name.as_deref().unwrap_or(DEFAULT_KEY_HEADER);
                    headers.get(header).map(|v| v.as_bytes().to_vec())
                }
                KeyLocation::Query => {
                    let param = name.as_deref().unwrap_or(DEFAULT_KEY_QUERY);
                    parse_query(query.unwrap_or(""))
                        .get(param)
                        .and_then(|v| v.as_str())
                        .map(|v| v.as_bytes().to_vec())
                }
            };
            (credential, presented, None, CredentialKind::ApiKey)
        }
        Auth::Bearer { credential } => {
            let presented = authorization(headers, "bearer").map(|t| t.trim().as_bytes().to_vec());
            (credential, presented, None, CredentialKind::Bearer)
        }
        Auth::Basic { credential } => {
            let decoded = authorization(headers, "basic")
                .and_then(|b| STANDARD.decode(b.trim()).ok())
                .and_then(|raw| String::from_utf8(raw).ok());
            let (user, password) = match decoded.as_deref().and_then(|d| d.split_once(':')) {
                Some((u, p)) => (Some(u.to_owned()), Some(p.as_bytes().to_vec())),
                None => (None, None),
            };
            (credential, password, user, CredentialKind::Basic)
        }
    };
    let refused = HookError::Unauthorized { challenge: challenge(auth) };
    let Some(presented) = presented else {
        tracing::debug!(credential = %name, "refused a call without credentials");
        return Err(refused);
    };
    let Some(credential) = credentials.get(name.as_str()).filter(|c| c.kind == kind) else {
        tracing::warn!(credential = %name, kind = %kind, "the route's credential does not exist (or has another kind)");
        return Err(refused);
    };
    if verify(credential, &presented, username.as_deref(), now_ms()) {
        Ok(Some(name.clone()))
    } else {
        tracing::debug!(credential = %name, "refused a call with a wrong credential");
        Err(refused)
    }
}

/// The credentials of an `Authorization: <scheme> <credentials>` header (scheme case-insensitive).
fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}
