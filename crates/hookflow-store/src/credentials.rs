//! The credentials domain: API keys, bearer tokens and basic-auth passwords, stored as digests,
//! and HMAC signing secrets, stored as they are (a signature cannot be checked without them).

use std::{borrow::Cow, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::kv::{Record, Table};

/// A named credential that a webhook route can require.
///
/// The secrets of the kinds a caller presents are never stored: only their SHA-256 digests. An
/// [`CredentialKind::Hmac`] secret is kept too, in [`StoredSecret::secret`], since verifying a
/// signature needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Unique name, the key of the record.
    pub name: String,
    /// How the secret is presented.
    pub kind: CredentialKind,
    /// The user name, for [`CredentialKind::Basic`] only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The secrets that are (or were) valid, the current one last. After a rotation with a grace
    /// window the previous ones stay here with an `expires_at_ms`.
    pub secrets: Vec<StoredSecret>,
    /// When the credential was created, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

/// How a credential's secret is presented by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An API key in a header or query parameter.
    ApiKey,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic <user:password>`; the secret is the password.
    Basic,
    /// A signature over the request body, keyed with the secret (which the caller never sends).
    Hmac,
}

impl CredentialKind {
    /// Every kind.
    pub const ALL: [CredentialKind; 4] = [
        CredentialKind::ApiKey,
        CredentialKind::Bearer,
        CredentialKind::Basic,
        CredentialKind::Hmac,
    ];

    /// The name used in JSON, configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Bearer => "bearer",
            CredentialKind::Basic => "basic",
            CredentialKind::Hmac => "hmac",
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CredentialKind {
    type Err = UnknownCredentialKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CredentialKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownCredentialKind(s.to_owned()))
    }
}

/// A credential kind that hookflow does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown credential kind `{0}`: expected `api_key`, `bearer`, `basic` or `hmac`")]
pub struct UnknownCredentialKind(pub String);

/// One secret of a credential, as its digest (and, for an HMAC credential, the secret itself).
/// Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSecret {
    /// SHA-256 of the secret (never the secret itself); lowercase hex in JSON.
    #[serde(with = "hex_digest")]
    pub digest: [u8; 32],
    /// When the secret was issued, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When the secret stops being accepted (exclusive), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    /// The secret itself, for an [`CredentialKind::Hmac`] credential only (absent from records
    /// written before HMAC credentials existed, and from every other kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("digest", &"<digest>")
            .field("created_at_ms", &self.created_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Record for Credential {
    const TABLE: Table = Table::Credentials;

    fn key(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.name.as_bytes())
    }
}

/// `[u8; 32]` as 64 lowercase hex digits.
mod hex_digest {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    const DIGITS: &[u8; 16] = b"0123456789abcdef";

    pub(super) fn serialize<S: Serializer>(
        digest: &[u8; 32],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        serializer.serialize_str(&hex)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u8; 32], D::Error> {
        let hex = String::deserialize(deserializer)?;
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return Err(D::Error::custom(format_args!(
                "a SHA-256 digest is 64 hex digits, found {}",
                bytes.len()
            )));
        }
        let mut digest = [0u8; 32];
        for (out, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
            *out = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        return Ok(digest);

        fn nibble<E: serde::de::Error>(digit: u8) -> Result<u8, E> {
            match digit {
                b'0'..=b'9' => Ok(digit - b'0'),
                b'a'..=b'f' => Ok(digit - b'a' + 10),
                _ => Err(E::custom(format_args!(
                    "`{}` is not a lowercase hex digit",
                    char::from(digit).escape_default()
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Credential {
        let mut digest = [0u8; 32];
        for (i, byte) in digest.iter_mut().enumerate() {
            *byte = u8::try_from(i * 8).unwrap();
        }
        Credential {
            name: "ci".into(),
            kind: CredentialKind::Basic,
            username: Some("robot".into()),
            secrets: vec![StoredSecret {
                digest,
                created_at_ms: 5,
                expires_at_ms: Some(9),
                secret: None,
            }],
            created_at_ms: 1,
        }
    }

    #[test]
    fn json_shape_is_stable() {
        let value = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            value,
            json!({
                "name": "ci",
                "kind": "basic",
                "username": "robot",
                "secrets": [{
                    "digest": "0008101820283038404850586068707880889098a0a8b0b8c0c8d0d8e0e8f0f8",
                    "created_at_ms": 5,
                    "expires_at_ms": 9,
                }],
                "created_at_ms": 1,
            })
        );
        assert_eq!(serde_json::from_value::<Credential>(value).unwrap(), sample());
    }

    #[test]
    fn optional_fields_are_omitted_and_defaulted() {
        let credential = Credential {
            kind: CredentialKind::ApiKey,
            username: None,
            secrets: vec![StoredSecret { expires_at_ms: None, ..sample().secrets[0].clone() }],
            ..sample()
        };
        let text = serde_json::to_string(&credential).unwrap();
        assert!(!text.contains("username") && !text.contains("expires_at_ms"), "{text}");
        assert_eq!(serde_json::from_str::<Credential>(&text).unwrap(), credential);
    }

    #[test]
    fn bad_digests_are_rejected_with_the_reason() {
        let mut value = serde_json::to_value(sample()).unwrap();
        value["secrets"][0]["digest"] = json!("abc");
        let err = serde_json::from_value::<Credential>(value.clone()).unwrap_err();
        assert!(err.to_string().contains("64 hex digits, found 3"), "{err}");

        value["secrets"][0]["digest"] = json!("G".repeat(64));
        let err = serde_json::from_value::<Credential>(value).unwrap_err();
        assert!(err.to_string().contains("`G` is not a lowercase hex digit"), "{err}");
    }

    #[test]
    fn kinds_use_snake_case_names() {
        for kind in CredentialKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
            assert_eq!(kind.as_str().parse::<CredentialKind>().ok(), Some(kind));
        }
        assert_eq!(
            "apikey".parse::<CredentialKind>().unwrap_err().to_string(),
            "unknown credential kind `apikey`: expected `api_key`, `bearer`, `basic` or `hmac`"
        );
    }

    #[test]
    fn an_hmac_secret_is_kept_and_hidden_from_debug() {
        let secret =
            StoredSecret { secret: Some("whsec_abc".into()), ..sample().secrets[0].clone() };
        let credential = Credential {
            kind: CredentialKind::Hmac,
            username: None,
            secrets: vec![secret],
            ..sample()
        };
        let value = serde_json::to_value(&credential).unwrap();
        assert_eq!(value["secrets"][0]["secret"], "whsec_abc");
        assert_eq!(serde_json::from_value::<Credential>(value).unwrap(), credential);
        let debug = format!("{credential:?}");
        assert!(!debug.contains("whsec_abc") && debug.contains("<redacted>"), "{debug}");
        // A record written before the field existed decodes without a secret.
        let old = json!({
            "name": "ci",
            "kind": "api_key",
            "secrets": [{ "digest": "00".repeat(32), "created_at_ms": 1 }],
            "created_at_ms": 1,
        });
        let decoded = serde_json::from_value::<Credential>(old).unwrap();
        assert_eq!(decoded.secrets[0].secret, None);
    }
}
