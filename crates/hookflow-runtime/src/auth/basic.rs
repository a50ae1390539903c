//! HTTP Basic, `Authorization: Basic base64(username:password)`, checked against a `basic`
//! credential's username and password.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{AuthInput, Presented, authorization};

/// The `WWW-Authenticate` challenge of a Basic route.
pub(super) const CHALLENGE: &str = "Basic realm=\"hookflow\"";

/// The username and password the caller presented; nothing when they are not base64 of UTF-8
/// text with a `:`.
pub(super) fn presented(input: AuthInput<'_>) -> Option<Presented> {
    let encoded = authorization(input.headers, "basic")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some(Presented { secret: password.as_bytes().to_vec(), username: Some(username.to_owned()) })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use hookflow_core::nodes::webhook::Auth;
    use hookflow_store::CredentialKind;

    use crate::auth::tests::{NAME, checked, headers, snapshot};
    use crate::auth::{AuthError, Reason, Redacted, challenge, kind_of, redacted};

    #[test]
    fn basic_reads_the_username_and_password() {
        let basic = Auth::Basic { credential: NAME.into() };
        let credentials = snapshot(CredentialKind::Basic, Some("bot"));
        let check = |value: &str| {
            checked(&basic, &headers(&[("authorization", value)]), None, &credentials)
        };
        let encoded = |pair: &str| format!("Basic {}", STANDARD.encode(pair));
        assert_eq!(check(&encoded("bot:s3cret")), Ok(Some(NAME.to_owned())));
        assert_eq!(
            check(&format!("basic {} ", STANDARD.encode("bot:s3cret"))),
            Ok(Some(NAME.to_owned()))
        );
        let refused =
            |reason| Err(AuthError { challenge: Some("Basic realm=\"hookflow\""), reason });
        assert_eq!(check(&encoded("bot2:s3cret")), refused(Reason::Mismatch));
        assert_eq!(check(&encoded("bot:wrong")), refused(Reason::Mismatch));
        assert_eq!(check(&encoded("bot")), refused(Reason::Missing));
        assert_eq!(check("Basic not*base64"), refused(Reason::Missing));
        assert_eq!(
            check(&format!("Basic {}", STANDARD.encode([b'b', b':', 0xff]))),
            refused(Reason::Missing)
        );
        assert_eq!(check("Bearer s3cret"), refused(Reason::Missing));
    }

    #[test]
    fn a_basic_route_challenges_with_its_realm_and_redacts_authorization() {
        let basic = Auth::Basic { credential: NAME.into() };
        assert_eq!(challenge(&basic), Some("Basic realm=\"hookflow\""));
        assert_eq!(kind_of(&basic), Some(CredentialKind::Basic));
        assert_eq!(redacted(&basic), Redacted { header: Some("authorization"), query: None });
    }
}
