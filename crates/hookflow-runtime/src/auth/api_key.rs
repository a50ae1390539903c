//! An API key, in a request header (default `x-api-key`) or a query parameter (default
//! `api_key`), checked against an `api_key` credential.

use hookflow_core::intake::parse_query;
use hookflow_core::nodes::webhook::KeyLocation;

use super::{AuthInput, Presented, Redacted};

/// The header of an API key whose route names none.
pub const DEFAULT_KEY_HEADER: &str = "x-api-key";
/// The query parameter of an API key whose route names none.
const DEFAULT_KEY_QUERY: &str = "api_key";

/// The key the caller presented in the header or query parameter `name` (or the default one).
/// A parameter given more than once presents nothing.
pub(super) fn presented(
    location: KeyLocation,
    name: Option<&str>,
    input: AuthInput<'_>,
) -> Option<Presented> {
    let secret = match location {
        KeyLocation::Header => {
            input.headers.get(name.unwrap_or(DEFAULT_KEY_HEADER))?.as_bytes().to_vec()
        }
        KeyLocation::Query => parse_query(input.query.unwrap_or(""))
            .get(name.unwrap_or(DEFAULT_KEY_QUERY))?
            .as_str()?
            .as_bytes()
            .to_vec(),
    };
    Some(Presented { secret, username: None })
}

/// The header or query parameter that carries the key.
pub(super) fn redacted(location: KeyLocation, name: Option<&str>) -> Redacted<'_> {
    match location {
        KeyLocation::Header => {
            Redacted { header: Some(name.unwrap_or(DEFAULT_KEY_HEADER)), query: None }
        }
        KeyLocation::Query => {
            Redacted { header: None, query: Some(name.unwrap_or(DEFAULT_KEY_QUERY)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use hookflow_core::nodes::webhook::Auth;
    use hookflow_store::CredentialKind;
    use http::HeaderMap;

    use super::*;
    use crate::auth::tests::{NAME, checked, headers, snapshot};
    use crate::auth::{AuthError, Reason, challenge, kind_of, redacted};

    fn api_key(location: KeyLocation, name: Option<&str>) -> Auth {
        Auth::ApiKey { location, name: name.map(str::to_owned), credential: NAME.into() }
    }

    #[test]
    fn a_header_key_is_read_from_its_header_in_any_case() {
        let credentials = snapshot(CredentialKind::ApiKey, None);
        let default = api_key(KeyLocation::Header, None);
        let named = api_key(KeyLocation::Header, Some("X-ERP-Key"));
        let ok = Ok(Some(NAME.to_owned()));
        assert_eq!(checked(&default, &headers(&[("x-api-key", "s3cret")]), None, &credentials), ok);
        assert_eq!(checked(&named, &headers(&[("x-erp-key", "s3cret")]), None, &credentials), ok);
        let refused = |reason| Err(AuthError { challenge: None, reason });
        assert_eq!(
            checked(&named, &headers(&[("x-api-key", "s3cret")]), None, &credentials),
            refused(Reason::Missing)
        );
        assert_eq!(
            checked(&default, &headers(&[("x-api-key", "s3cret2")]), None, &credentials),
            refused(Reason::Mismatch)
        );
        assert_eq!(
            checked(&default, &HeaderMap::new(), Some("api_key=s3cret"), &credentials),
            refused(Reason::Missing)
        );
    }

    #[test]
    fn a_query_key_is_read_from_its_parameter_once() {
        let credentials = snapshot(CredentialKind::ApiKey, None);
        let default = api_key(KeyLocation::Query, None);
        let named = api_key(KeyLocation::Query, Some("token"));
        let none = HeaderMap::new();
        let ok = Ok(Some(NAME.to_owned()));
        assert_eq!(checked(&default, &none, Some("x=1&api_key=s3cret"), &credentials), ok);
        assert_eq!(checked(&named, &none, Some("token=s3cret"), &credentials), ok);
        assert_eq!(checked(&default, &none, Some("api_key=s3cr%65t"), &credentials), ok);
        let reason = |query| checked(&default, &none, query, &credentials).unwrap_err().reason;
        assert_eq!(reason(None), Reason::Missing);
        assert_eq!(reason(Some("api_key=s3cret&api_key=s3cret")), Reason::Missing);
        assert_eq!(reason(Some("api_key=wrong")), Reason::Mismatch);
        let in_header = headers(&[("x-api-key", "s3cret")]);
        assert_eq!(
            checked(&default, &in_header, None, &credentials).unwrap_err().reason,
            Reason::Missing
        );
    }

    #[test]
    fn a_key_has_no_challenge_and_redacts_where_it_travels() {
        let header = api_key(KeyLocation::Header, Some("X-ERP-Key"));
        let query = api_key(KeyLocation::Query, None);
        assert_eq!((challenge(&header), challenge(&query)), (None, None));
        assert_eq!(kind_of(&header), Some(CredentialKind::ApiKey));
        assert_eq!(redacted(&header), Redacted { header: Some("X-ERP-Key"), query: None });
        assert_eq!(
            redacted(&api_key(KeyLocation::Header, None)),
            Redacted { header: Some("x-api-key"), query: None }
        );
        assert_eq!(redacted(&query), Redacted { header: None, query: Some("api_key") });
    }
}
