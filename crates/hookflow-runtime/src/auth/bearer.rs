//! `Authorization: Bearer <token>`, checked against a `bearer` credential.

use super::{AuthInput, Presented, authorization};

/// The `WWW-Authenticate` challenge of a Bearer route.
pub(super) const CHALLENGE: &str = "Bearer";

/// The token the caller presented (the scheme in any case, the token trimmed).
pub(super) fn presented(input: AuthInput<'_>) -> Option<Presented> {
    let token = authorization(input.headers, "bearer")?;
    Some(Presented { secret: token.trim().as_bytes().to_vec(), username: None })
}

#[cfg(test)]
mod tests {
    use hookflow_core::nodes::webhook::Auth;
    use hookflow_store::CredentialKind;
    use http::HeaderMap;

    use crate::auth::tests::{NAME, checked, headers, snapshot};
    use crate::auth::{AuthError, Reason, Redacted, challenge, kind_of, redacted};

    #[test]
    fn a_bearer_token_is_read_from_authorization() {
        let bearer = Auth::Bearer { credential: NAME.into() };
        let credentials = snapshot(CredentialKind::Bearer, None);
        let check = |value: Option<&str>| {
            let presented = value.map_or_else(HeaderMap::new, |v| headers(&[("authorization", v)]));
            checked(&bearer, &presented, None, &credentials)
        };
        let ok = Ok(Some(NAME.to_owned()));
        assert_eq!(check(Some("Bearer s3cret")), ok);
        assert_eq!(check(Some("bearer  s3cret ")), ok);
        let refused = |reason| Err(AuthError { challenge: Some("Bearer"), reason });
        assert_eq!(check(None), refused(Reason::Missing));
        assert_eq!(check(Some("Basic s3cret")), refused(Reason::Missing));
        assert_eq!(check(Some("Bearers3cret")), refused(Reason::Missing));
        assert_eq!(check(Some("Bearer s3cre")), refused(Reason::Mismatch));
    }

    #[test]
    fn a_bearer_route_challenges_and_redacts_authorization() {
        let bearer = Auth::Bearer { credential: NAME.into() };
        assert_eq!(challenge(&bearer), Some("Bearer"));
        assert_eq!(kind_of(&bearer), Some(CredentialKind::Bearer));
        assert_eq!(redacted(&bearer), Redacted { header: Some("authorization"), query: None });
    }
}
