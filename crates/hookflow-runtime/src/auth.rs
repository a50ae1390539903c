//! Webhook route authentication, one kind of [`Auth`] per file: what each kind reads from the
//! request, how it is checked against the credential snapshot, its `WWW-Authenticate` challenge,
//! its credential kind, and what the execution record redacts for it.
//!
//! Every check goes through [`verify`] (constant time). Presented secrets are never logged; only
//! the credential's name is.

mod api_key;
mod basic;
mod bearer;
mod hmac;

use std::collections::HashMap;

use hookflow_core::nodes::webhook::Auth;
use http::HeaderMap;

use crate::credentials::{Credential, CredentialKind, verify};

pub use api_key::DEFAULT_KEY_HEADER;
pub use hmac::REPLAY_CAPACITY;

/// The header of `Authorization: <scheme> <credentials>`, as received (lower case).
const AUTHORIZATION: &str = "authorization";

/// What a route's auth reads of a request.
///
/// `body` and `now_ms` are read by the kind that signs the body (an HMAC over the raw bytes
/// within a timestamp tolerance); the others ignore the body. `now_ms` is also the clock the
/// secrets' expiry is held against, for every kind.
#[derive(Debug, Clone, Copy)]
pub struct AuthInput<'a> {
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The request's query string, without the `?`.
    pub query: Option<&'a str>,
    /// The raw body, as received (within the route's limit).
    pub body: &'a [u8],
    /// Now, in milliseconds since the Unix epoch.
    pub now_ms: i64,
}

/// Why a call was refused: what the route answers with (its challenge) and what was wrong. The
/// message is for logs and says nothing of what was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct AuthError {
    /// The route's `WWW-Authenticate` challenge, if its kind has one.
    pub challenge: Option<&'static str>,
    /// What was wrong.
    pub reason: Reason,
}

/// What was wrong with a refused call's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The call presents no credentials where the route's kind reads them.
    #[error("the call presents no credentials")]
    Missing,
    /// The route's credential is not in the snapshot, or is of another kind.
    #[error("the route's credential does not exist or has another kind")]
    Unknown,
    /// The presented secret (or username) is not an active one of the credential.
    #[error("the presented credentials are not valid")]
    Mismatch,
    /// A header that the route's signature check reads is missing.
    #[error("a header of the signature is missing")]
    SignatureMissing,
    /// A signature header is there but cannot be read (its prefix, encoding or timestamp).
    #[error("a header of the signature is malformed")]
    SignatureMalformed,
    /// The signed timestamp is further from the server's clock than the route's tolerance.
    #[error("the signed timestamp is outside the tolerance")]
    TimestampOutsideTolerance,
    /// No signature presented is the body's HMAC under an active secret of the credential.
    #[error("the signature does not match")]
    SignatureMismatch,
    /// The signature verified, but was seen before within the tolerance.
    #[error("the signature was seen before")]
    Replayed,
}

/// What a caller presented: a secret, and the username of a Basic call.
struct Presented {
    secret: Vec<u8>,
    username: Option<String>,
}

/// What the execution record redacts for a route, besides the headers it redacts on every route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redacted<'a> {
    /// The request header that carries the route's secret (matched in any case).
    pub header: Option<&'a str>,
    /// The query parameter that carries it.
    pub query: Option<&'a str>,
}

/// Checks the caller against `auth` and the `credentials` snapshot. `Ok(Some(name))` names the
/// credential that authenticated the call; `Ok(None)` is a route without auth.
pub fn check(
    auth: &Auth,
    input: AuthInput<'_>,
    credentials: &HashMap<String, Credential>,
) -> Result<Option<String>, AuthError> {
    if let Auth::Hmac(signed) = auth {
        return match hmac::check(signed, input, credentials) {
            Ok(()) => Ok(Some(signed.credential.clone())),
            Err(reason) => Err(AuthError { challenge: None, reason }),
        };
    }
    let (Some(kind), Some(name)) = (kind_of(auth), auth.credential()) else { return Ok(None) };
    let refused = |reason| AuthError { challenge: challenge(auth), reason };
    let Some(presented) = presented(auth, input) else {
        tracing::debug!(credential = %name, "refused a call without credentials");
        return Err(refused(Reason::Missing));
    };
    let Some(credential) = credentials.get(name).filter(|c| c.kind == kind) else {
        tracing::warn!(credential = %name, kind = %kind, "the route's credential does not exist (or has another kind)");
        return Err(refused(Reason::Unknown));
    };
    if verify(credential, &presented.secret, presented.username.as_deref(), input.now_ms) {
        Ok(Some(name.to_owned()))
    } else {
        tracing::debug!(credential = %name, "refused a call with a wrong credential");
        Err(refused(Reason::Mismatch))
    }
}

/// Whether a route's auth reads the body (a signature of it): then it is checked once the body
/// is read, within the route's limit.
pub fn reads_body(auth: &Auth) -> bool {
    matches!(auth, Auth::Hmac(_))
}

/// The `WWW-Authenticate` challenge of a route's auth, for its `401`.
pub fn challenge(auth: &Auth) -> Option<&'static str> {
    match auth {
        Auth::Bearer { .. } => Some(bearer::CHALLENGE),
        Auth::Basic { .. } => Some(basic::CHALLENGE),
        Auth::None | Auth::ApiKey { .. } | Auth::Hmac(_) => None,
    }
}

/// The kind of credential `auth` checks against, if any.
pub fn kind_of(auth: &Auth) -> Option<CredentialKind> {
    match auth {
        Auth::None => None,
        Auth::ApiKey { .. } => Some(CredentialKind::ApiKey),
        Auth::Bearer { .. } => Some(CredentialKind::Bearer),
        Auth::Basic { .. } => Some(CredentialKind::Basic),
        Auth::Hmac(_) => Some(CredentialKind::Hmac),
    }
}

/// Where a route's caller puts its secret, for the execution record to redact.
pub fn redacted(auth: &Auth) -> Redacted<'_> {
    match auth {
        // A signature is no secret: it is good for one body only.
        Auth::None | Auth::Hmac(_) => Redacted::default(),
        Auth::ApiKey { location, name, .. } => api_key::redacted(*location, name.as_deref()),
        Auth::Bearer { .. } | Auth::Basic { .. } => {
            Redacted { header: Some(AUTHORIZATION), query: None }
        }
    }
}

/// What the caller presented where `auth` reads it; `None` when there is nothing usable (always,
/// on a route without auth).
fn presented(auth: &Auth, input: AuthInput<'_>) -> Option<Presented> {
    match auth {
        Auth::None | Auth::Hmac(_) => None,
        Auth::ApiKey { location, name, .. } => {
            api_key::presented(*location, name.as_deref(), input)
        }
        Auth::Bearer { .. } => bearer::presented(input),
        Auth::Basic { .. } => basic::presented(input),
    }
}

/// The credentials of an `Authorization: <scheme> <credentials>` header (scheme in any case).
fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

#[cfg(test)]
mod tests {
    use hookflow_store::StoredSecret;
    use http::{HeaderName, HeaderValue};

    use super::*;
    use crate::credentials::digest;

    /// The name of the credential in [`snapshot`].
    pub(super) const NAME: &str = "c";
    /// Its secret.
    pub(super) const SECRET: &str = "s3cret";

    /// A snapshot with one credential, [`NAME`], of `kind`, whose secret is [`SECRET`].
    pub(super) fn snapshot(
        kind: CredentialKind,
        username: Option<&str>,
    ) -> HashMap<String, Credential> {
        let secret = StoredSecret {
            digest: digest(SECRET),
            created_at_ms: 0,
            expires_at_ms: None,
            secret: None,
        };
        let credential = Credential {
            name: NAME.into(),
            kind,
            username: username.map(str::to_owned),
            secrets: vec![secret],
            created_at_ms: 0,
        };
        HashMap::from([(NAME.to_owned(), credential)])
    }

    /// Headers of `pairs`.
    pub(super) fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    /// `auth` checked on `headers` and `query` against `credentials`.
    pub(super) fn checked(
        auth: &Auth,
        headers: &HeaderMap,
        query: Option<&str>,
        credentials: &HashMap<String, Credential>,
    ) -> Result<Option<String>, AuthError> {
        check(auth, AuthInput { headers, query, body: b"", now_ms: 1_700_000_000_000 }, credentials)
    }

    #[test]
    fn a_route_without_auth_lets_everyone_in() {
        let none = Auth::None;
        assert_eq!(checked(&none, &HeaderMap::new(), None, &HashMap::new()), Ok(None));
        assert_eq!(
            (challenge(&none), kind_of(&none), redacted(&none)),
            (None, None, Redacted::default())
        );
    }

    #[test]
    fn a_missing_or_other_kind_credential_refuses_every_call() {
        let bearer = Auth::Bearer { credential: NAME.into() };
        let presented = headers(&[("authorization", "Bearer s3cret")]);
        let unknown = Err(AuthError { challenge: Some("Bearer"), reason: Reason::Unknown });
        assert_eq!(checked(&bearer, &presented, None, &HashMap::new()), unknown);
        let api_key = snapshot(CredentialKind::ApiKey, None);
        assert_eq!(checked(&bearer, &presented, None, &api_key), unknown);
    }

    #[test]
    fn an_expired_secret_is_a_mismatch() {
        let mut credentials = snapshot(CredentialKind::Bearer, None);
        if let Some(c) = credentials.get_mut(NAME) {
            c.secrets[0].expires_at_ms = Some(1);
        }
        let bearer = Auth::Bearer { credential: NAME.into() };
        let presented = headers(&[("authorization", "Bearer s3cret")]);
        let refused = checked(&bearer, &presented, None, &credentials).unwrap_err();
        assert_eq!(refused.reason, Reason::Mismatch);
    }

    #[test]
    fn the_refusal_says_nothing_of_what_was_presented() {
        let bearer = Auth::Bearer { credential: NAME.into() };
        let presented = headers(&[("authorization", "Bearer wrong-token")]);
        let credentials = snapshot(CredentialKind::Bearer, None);
        let refused = checked(&bearer, &presented, None, &credentials).unwrap_err();
        assert_eq!(refused.to_string(), "the presented credentials are not valid");
    }

    #[test]
    fn the_authorization_scheme_is_matched_in_any_case() {
        let h = headers(&[("authorization", "bAsIc abc def")]);
        assert_eq!(authorization(&h, "basic"), Some("abc def"));
        assert_eq!(authorization(&h, "bearer"), None);
        assert_eq!(authorization(&headers(&[("authorization", "Basic")]), "basic"), None);
        assert_eq!(authorization(&HeaderMap::new(), "basic"), None);
    }
}
