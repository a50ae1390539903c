//! Credential operations: issue, rotate, delete, list and verify the secrets routes require.
//!
//! A secret is 32 random bytes from the operating system, base64url without padding (43
//! characters). It is returned once, in [`Issued`], and only its SHA-256 digest is stored.
//! Verification hashes what the caller presented and compares digests in constant time.
//!
//! An `hmac` credential is the exception: it keys the signatures a provider sends, so its secret
//! is stored as it is (and is still returned only once). It is either imported (the provider's
//! secret) or generated as `whsec_` and the base64 of 32 random bytes, a form every HMAC preset
//! reads (Standard Webhooks keys with the decoded bytes, the others with the text).
//!
//! Like the [`Store`] they use, these functions block: call them from `spawn_blocking`.

use std::{
    fmt,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use hookflow_store::{Store, StoreError};
use rand::{TryRngCore as _, rngs::OsRng};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use subtle::{Choice, ConstantTimeEq as _};

pub use hookflow_store::{Credential, CredentialKind, StoredSecret};

/// The longest credential name.
pub const MAX_NAME_LEN: usize = 64;

/// What can go wrong when managing credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// No credential has this name.
    #[error("no credential named `{0}`")]
    NotFound(String),

    /// A credential with this name exists already.
    #[error("a credential named `{0}` already exists")]
    AlreadyExists(String),

    /// The name breaks the naming rule.
    #[error("invalid credential name `{name}`: {reason}")]
    InvalidName {
        /// The refused name, escaped for display.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },

    /// A basic credential needs a username.
    #[error("a basic credential needs a username")]
    UsernameRequired,

    /// Only basic credentials have a username.
    #[error("a {0} credential has no username; only basic credentials do")]
    UsernameNotAllowed(CredentialKind),

    /// The username cannot be sent in HTTP Basic auth.
    #[error("invalid username `{username}`: {reason}")]
    InvalidUsername {
        /// The refused username, escaped for display.
        username: String,
        /// Why.
        reason: &'static str,
    },

    /// A secret was given for a kind whose secrets hookflow generates.
    #[error("a {0} credential's secret is generated; only hmac credentials take a given secret")]
    SecretNotAllowed(CredentialKind),

    /// The given secret is empty.
    #[error("the given secret is empty")]
    EmptySecret,

    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A newly issued secret: the only time it is ever returned. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    /// The credential's name.
    pub name: String,
    /// Its kind.
    pub kind: CredentialKind,
    /// Its username, for basic credentials.
    pub username: Option<String>,
    /// The secret (the password, for basic credentials), to hand to the caller once.
    pub secret: String,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What may be shown about a credential: never secret material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialInfo {
    /// The credential's name.
    pub name: String,
    /// Its kind.
    pub kind: CredentialKind,
    /// Its username, for basic credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// How many of its secrets are accepted now (more than one during a rotation's grace window).
    pub active_secrets: usize,
}

/// Serializes the writes (create, rotate, delete) so that two creates of one name cannot both
/// succeed, two rotations cannot lose each other's secret, and a rotation cannot bring back a
/// credential deleted meanwhile. The store has no compare-and-set; this covers the one process
/// that holds the embedded database open.
static WRITES: Mutex<()> = Mutex::new(());

/// A new secret: 32 bytes from the operating system's CSPRNG, base64url without padding.
///
/// # Panics
///
/// If the operating system cannot provide random bytes, which leaves nothing safe to do.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    if let Err(err) = OsRng.try_fill_bytes(&mut bytes) {
        panic!("the operating system's random number generator failed: {err}");
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new HMAC signing secret: `whsec_` and the standard base64 of 32 bytes from the operating
/// system's CSPRNG.
///
/// # Panics
///
/// If the operating system cannot provide random bytes, which leaves nothing safe to do.
pub fn generate_signing_secret() -> String {
    let mut bytes = [0u8; 32];
    if let Err(err) = OsRng.try_fill_bytes(&mut bytes) {
        panic!("the operating system's random number generator failed: {err}");
    }
    format!("{SIGNING_SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The prefix of a Standard Webhooks secret (and of the signing secrets hookflow generates).
pub const SIGNING_SECRET_PREFIX: &str = "whsec_";

/// The SHA-256 digest under which a secret is stored.
pub fn digest(secret: impl AsRef<[u8]>) -> [u8; 32] {
    Sha256::digest(secret.as_ref()).into()
}

/// Checks a credential name: 1 to 64 of ASCII letters, digits, `_`, `.` and `-`, starting with a
/// letter or digit.
pub fn validate_name(name: &str) -> Result<(), CredentialError> {
    let invalid = |reason: String| {
        Err(CredentialError::InvalidName { name: name.escape_debug().to_string(), reason })
    };
    let Some(first) = name.chars().next() else {
        return invalid("it is empty".to_owned());
    };
    if !first.is_ascii_alphanumeric() {
        return invalid(format!(
            "it starts with `{}`; start with a letter or a digit",
            first.escape_debug()
        ));
    }
    if let Some(bad) =
        name.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return invalid(format!(
            "`{}` is not allowed; use letters, digits, `_`, `.` or `-`",
            bad.escape_debug()
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return invalid(format!(
            "it is {} characters long; the limit is {MAX_NAME_LEN}",
            name.len()
        ));
    }
    Ok(())
}

fn validate_username(kind: CredentialKind, username: Option<&str>) -> Result<(), CredentialError> {
    let invalid = |username: &str, reason| {
        Err(CredentialError::InvalidUsername {
            username: username.escape_debug().to_string(),
            reason,
        })
    };
    match (kind, username) {
        (CredentialKind::Basic, None) => Err(CredentialError::UsernameRequired),
        (CredentialKind::Basic, Some("")) => invalid("", "it is empty"),
        (CredentialKind::Basic, Some(name)) if name.contains(':') => {
            invalid(name, "HTTP Basic auth cannot carry a `:` in a username")
        }
        (CredentialKind::Basic, Some(name)) if name.chars().any(char::is_control) => {
            invalid(name, "it contains a control character")
        }
        (CredentialKind::Basic, Some(_)) | (_, None) => Ok(()),
        (kind, Some(_)) => Err(CredentialError::UsernameNotAllowed(kind)),
    }
}

/// A new secret of `kind`: `given` (an hmac credential's imported secret) or a generated one,
/// with what the store keeps of it.
fn new_secret(
    kind: CredentialKind,
    given: Option<String>,
    now_ms: i64,
) -> Result<(String, StoredSecret), CredentialError> {
    let secret = match (kind, given) {
        (CredentialKind::Hmac, Some(given)) if given.is_empty() => {
            return Err(CredentialError::EmptySecret);
        }
        (CredentialKind::Hmac, Some(given)) => given,
        (CredentialKind::Hmac, None) => generate_signing_secret(),
        (kind, Some(_)) => return Err(CredentialError::SecretNotAllowed(kind)),
        (_, None) => generate_secret(),
    };
    let kept = (kind == CredentialKind::Hmac).then(|| secret.clone());
    let stored = StoredSecret {
        digest: digest(&secret),
        created_at_ms: now_ms,
        expires_at_ms: None,
        secret: kept,
    };
    Ok((secret, stored))
}

/// Whether a secret is still accepted at `now_ms`: it expires at `expires_at_ms`, exclusive.
pub(crate) fn is_active(secret: &StoredSecret, now_ms: i64) -> bool {
    secret.expires_at_ms.is_none_or(|expires| now_ms < expires)
}

/// Creates a credential named `name` and issues its first secret.
///
/// A basic credential needs a `username` (the secret is its password); the others refuse one.
pub fn create(
    store: &dyn Store,
    name: &str,
    kind: CredentialKind,
    username: Option<String>,
    now_ms: i64,
) -> Result<Issued, CredentialError> {
    create_with_secret(store, name, kind, username, None, now_ms)
}

/// [`create`], with the first secret `given` instead of generated: a provider's signing secret,
/// for an hmac credential only (the other kinds refuse one).
pub fn create_with_secret(
    store: &dyn Store,
    name: &str,
    kind: CredentialKind,
    username: Option<String>,
    given: Option<String>,
    now_ms: i64,
) -> Result<Issued, CredentialError> {
    validate_name(name)?;
    validate_username(kind, username.as_deref())?;
    let (secret, stored) = new_secret(kind, given, now_ms)?;
    let _writing = WRITES.lock().unwrap_or_else(PoisonError::into_inner);
    if store.credential(name)?.is_some() {
        return Err(CredentialError::AlreadyExists(name.to_owned()));
    }
    store.put_credential(&Credential {
        name: name.to_owned(),
        kind,
        username: username.clone(),
        secrets: vec![stored],
        created_at_ms: now_ms,
    })?;
    Ok(Issued { name: name.to_owned(), kind, username, secret })
}

/// Issues a new current secret for `name`.
///
/// With a `grace` window the previous secrets keep working until `now + grace` (or their own,
/// earlier expiry); without one they stop working at once. Expired secrets are pruned. An hmac
/// credential's previous secrets keep verifying signatures the same way.
pub fn rotate(
    store: &dyn Store,
    name: &str,
    grace: Option<Duration>,
    now_ms: i64,
) -> Result<Issued, CredentialError> {
    rotate_with_secret(store, name, grace, None, now_ms)
}

/// [`rotate`], with the new secret `given` instead of generated (hmac credentials only).
pub fn rotate_with_secret(
    store: &dyn Store,
    name: &str,
    grace: Option<Duration>,
    given: Option<String>,
    now_ms: i64,
) -> Result<Issued, CredentialError> {
    let _writing = WRITES.lock().unwrap_or_else(PoisonError::into_inner);
    let mut credential =
        store.credential(name)?.ok_or_else(|| CredentialError::NotFound(name.to_owned()))?;
    match grace {
        Some(grace) => {
            let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
            let until = now_ms.saturating_add(grace_ms);
            for secret in &mut credential.secrets {
                secret.expires_at_ms = Some(secret.expires_at_ms.map_or(until, |at| at.min(until)));
            }
            credential.secrets.retain(|secret| is_active(secret, now_ms));
        }
        None => credential.secrets.clear(),
    }
    let (secret, stored) = new_secret(credential.kind, given, now_ms)?;
    credential.secrets.push(stored);
    store.put_credential(&credential)?;
    Ok(Issued {
        name: credential.name,
        kind: credential.kind,
        username: credential.username,
        secret,
    })
}

/// Deletes the credential named `name`: its secrets stop working at once. `false` when there was
/// none.
pub fn delete(store: &dyn Store, name: &str) -> Result<bool, CredentialError> {
    let _writing = WRITES.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(store.delete_credential(name)?)
}

/// Every credential, sorted by name, with how many of its secrets are active at `now_ms`.
pub fn list(store: &dyn Store, now_ms: i64) -> Result<Vec<CredentialInfo>, CredentialError> {
    Ok(store
        .credentials()?
        .into_iter()
        .map(|credential| CredentialInfo {
            active_secrets: credential.secrets.iter().filter(|s| is_active(s, now_ms)).count(),
            name: credential.name,
            kind: credential.kind,
            username: credential.username,
            created_at_ms: credential.created_at_ms,
        })
        .collect())
}

/// Whether `presented` is an active secret of `credential` at `now_ms` (and, for a basic
/// credential, `username` is its username; other kinds ignore `username`).
///
/// Constant time in the secret and the username: every stored digest is compared, and the
/// usernames are compared as digests so that their lengths do not leak either.
pub fn verify(
    credential: &Credential,
    presented: &[u8],
    username: Option<&str>,
    now_ms: i64,
) -> bool {
    let presented = digest(presented);
    let mut matched = Choice::from(0);
    for secret in &credential.secrets {
        let active = Choice::from(u8::from(is_active(secret, now_ms)));
        matched |= secret.digest.as_slice().ct_eq(presented.as_slice()) & active;
    }
    let username_ok = match credential.kind {
        CredentialKind::Basic => match (credential.username.as_deref(), username) {
            (Some(expected), Some(given)) => {
                digest(expected).as_slice().ct_eq(digest(given).as_slice())
            }
            _ => Choice::from(0),
        },
        CredentialKind::ApiKey | CredentialKind::Bearer => Choice::from(1),
        // A signing secret is never presented: signatures are checked in `auth::hmac`.
        CredentialKind::Hmac => Choice::from(0),
    };
    (matched & username_ok).into()
}

#[cfg(test)]
mod tests {
    use hookflow_store::MemoryStore;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn created(store: &dyn Store, name: &str) -> Issued {
        create(store, name, CredentialKind::ApiKey, None, NOW).unwrap()
    }

    fn stored(store: &dyn Store, name: &str) -> Credential {
        store.credential(name).unwrap().unwrap()
    }

    #[test]
    fn created_secret_verifies_and_others_do_not() {
        let store = MemoryStore::new();
        let issued = created(&store, "ci");
        assert_eq!(
            (issued.name.as_str(), issued.kind, issued.username.as_deref()),
            ("ci", CredentialKind::ApiKey, None)
        );
        let credential = stored(&store, "ci");
        assert!(verify(&credential, issued.secret.as_bytes(), None, NOW));
        assert!(!verify(&credential, generate_secret().as_bytes(), None, NOW));
        assert!(!verify(&credential, b"", None, NOW));
        let mut truncated = issued.secret.clone();
        truncated.pop();
        assert!(!verify(&credential, truncated.as_bytes(), None, NOW));
    }

    #[test]
    fn basic_checks_the_username_too() {
        let store = MemoryStore::new();
        let issued =
            create(&store, "erp", CredentialKind::Basic, Some("erp-bot".into()), NOW).unwrap();
        assert_eq!(issued.username.as_deref(), Some("erp-bot"));
        let credential = stored(&store, "erp");
        let password = issued.secret.as_bytes();
        assert!(verify(&credential, password, Some("erp-bot"), NOW));
        assert!(!verify(&credential, password, Some("erp-bot2"), NOW));
        assert!(!verify(&credential, password, Some(""), NOW));
        assert!(!verify(&credential, password, None, NOW));
        assert!(!verify(&credential, b"wrong", Some("erp-bot"), NOW));
    }

    #[test]
    fn usernames_follow_the_kind() {
        let store = MemoryStore::new();
        assert!(matches!(
            create(&store, "a", CredentialKind::Basic, None, NOW),
            Err(CredentialError::UsernameRequired)
        ));
        for kind in [CredentialKind::ApiKey, CredentialKind::Bearer] {
            let err = create(&store, "a", kind, Some("u".into()), NOW).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("a {kind} credential has no username; only basic credentials do")
            );
        }
        for (username, reason) in [
            ("", "it is empty"),
            ("a:b", "HTTP Basic auth cannot carry a `:` in a username"),
            ("a\nb", "it contains a control character"),
        ] {
            let err =
                create(&store, "a", CredentialKind::Basic, Some(username.into()), NOW).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid username `{}`: {reason}", username.escape_debug())
            );
        }
        assert!(store.credentials().unwrap().is_empty());
    }

    #[test]
    fn names_are_checked_precisely() {
        for name in ["a", "A.b-c_d", "0", &"x".repeat(64)] {
            validate_name(name).unwrap();
        }
        for (name, message) in [
            ("", "invalid credential name ``: it is empty"),
            (
                "-a",
                "invalid credential name `-a`: it starts with `-`; start with a letter or a digit",
            ),
            (
                "a b",
                "invalid credential name `a b`: ` ` is not allowed; use letters, digits, `_`, `.` or `-`",
            ),
            (
                "aé",
                "invalid credential name `aé`: `é` is not allowed; use letters, digits, `_`, `.` or `-`",
            ),
            (
                "a\n",
                "invalid credential name `a\\n`: `\\n` is not allowed; use letters, digits, `_`, `.` or `-`",
            ),
        ] {
            assert_eq!(validate_name(name).unwrap_err().to_string(), message);
        }
        let long = "x".repeat(65);
        assert_eq!(
            validate_name(&long).unwrap_err().to_string(),
            format!("invalid credential name `{long}`: it is 65 characters long; the limit is 64")
        );
        let store = MemoryStore::new();
        assert!(matches!(
            create(&store, "a/b", CredentialKind::Bearer, None, NOW),
            Err(CredentialError::InvalidName { .. })
        ));
    }

    #[test]
    fn create_refuses_an_existing_name() {
        let store = MemoryStore::new();
        let first = created(&store, "ci");
        let err = create(&store, "ci", CredentialKind::Bearer, None, NOW).unwrap_err();
        assert_eq!(err.to_string(), "a credential named `ci` already exists");
        assert!(verify(&stored(&store, "ci"), first.secret.as_bytes(), None, NOW));
    }

    #[test]
    fn rotate_with_grace_keeps_the_old_secret_until_it_ends() {
        let store = MemoryStore::new();
        let old = created(&store, "ci");
        let new = rotate(&store, "ci", Some(Duration::from_secs(60)), NOW).unwrap();
        assert_ne!(old.secret, new.secret);
        assert_eq!((new.name.as_str(), new.kind), ("ci", CredentialKind::ApiKey));
        let credential = stored(&store, "ci");
        let grace_end = NOW + 60_000;
        for now in [NOW, grace_end - 1] {
            assert!(verify(&credential, old.secret.as_bytes(), None, now), "{now}");
            assert!(verify(&credential, new.secret.as_bytes(), None, now), "{now}");
        }
        for now in [grace_end, grace_end + 1] {
            assert!(!verify(&credential, old.secret.as_bytes(), None, now), "{now}");
            assert!(verify(&credential, new.secret.as_bytes(), None, now), "{now}");
        }
        assert_eq!(list(&store, NOW).unwrap()[0].active_secrets, 2);
        assert_eq!(list(&store, grace_end).unwrap()[0].active_secrets, 1);
    }

    #[test]
    fn rotate_without_grace_drops_the_old_secret_at_once() {
        let store = MemoryStore::new();
        let old = created(&store, "ci");
        let new = rotate(&store, "ci", None, NOW).unwrap();
        let credential = stored(&store, "ci");
        assert_eq!(credential.secrets.len(), 1);
        assert!(!verify(&credential, old.secret.as_bytes(), None, NOW));
        assert!(verify(&credential, new.secret.as_bytes(), None, NOW));
    }

    #[test]
    fn rotate_prunes_expired_secrets_and_never_extends_a_grace() {
        let store = MemoryStore::new();
        let first = created(&store, "ci");
        let second = rotate(&store, "ci", Some(Duration::from_secs(10)), NOW).unwrap();
        // A later rotation with a longer grace does not revive or extend the first secret.
        let third = rotate(&store, "ci", Some(Duration::from_secs(3600)), NOW + 5_000).unwrap();
        let credential = stored(&store, "ci");
        assert_eq!(credential.secrets.len(), 3);
        assert_eq!(credential.secrets[0].expires_at_ms, Some(NOW + 10_000));
        assert!(!verify(&credential, first.secret.as_bytes(), None, NOW + 10_000));
        assert!(verify(&credential, second.secret.as_bytes(), None, NOW + 10_000));

        // Once the first has expired, the next rotation drops it.
        let fourth = rotate(&store, "ci", Some(Duration::from_secs(60)), NOW + 20_000).unwrap();
        let credential = stored(&store, "ci");
        let digests: Vec<_> = credential.secrets.iter().map(|s| s.digest).collect();
        assert_eq!(
            digests,
            [digest(&second.secret), digest(&third.secret), digest(&fourth.secret)]
        );
        assert_eq!(credential.secrets[2].expires_at_ms, None);

        // A zero grace is the same as none.
        rotate(&store, "ci", Some(Duration::ZERO), NOW + 30_000).unwrap();
        assert_eq!(stored(&store, "ci").secrets.len(), 1);
    }

    #[test]
    fn rotate_keeps_the_username_and_creation_time() {
        let store = MemoryStore::new();
        create(&store, "erp", CredentialKind::Basic, Some("bot".into()), NOW).unwrap();
        let issued = rotate(&store, "erp", None, NOW + 1).unwrap();
        assert_eq!(issued.username.as_deref(), Some("bot"));
        let credential = stored(&store, "erp");
        assert_eq!((credential.created_at_ms, credential.secrets[0].created_at_ms), (NOW, NOW + 1));
        assert!(verify(&credential, issued.secret.as_bytes(), Some("bot"), NOW + 1));
    }

    #[test]
    fn missing_credentials_are_not_found() {
        let store = MemoryStore::new();
        let err = rotate(&store, "ghost", None, NOW).unwrap_err();
        assert_eq!(err.to_string(), "no credential named `ghost`");
        assert!(!delete(&store, "ghost").unwrap());
    }

    #[test]
    fn delete_and_list() {
        let store = MemoryStore::new();
        created(&store, "b");
        create(&store, "a", CredentialKind::Basic, Some("u".into()), NOW + 1).unwrap();
        assert_eq!(
            list(&store, NOW).unwrap(),
            [
                CredentialInfo {
                    name: "a".into(),
                    kind: CredentialKind::Basic,
                    username: Some("u".into()),
                    created_at_ms: NOW + 1,
                    active_secrets: 1,
                },
                CredentialInfo {
                    name: "b".into(),
                    kind: CredentialKind::ApiKey,
                    username: None,
                    created_at_ms: NOW,
                    active_secrets: 1,
                },
            ]
        );
        assert!(delete(&store, "b").unwrap());
        assert_eq!(list(&store, NOW).unwrap().len(), 1);
    }

    #[test]
    fn the_stored_record_never_holds_the_secret() {
        let store = MemoryStore::new();
        let issued = create(&store, "erp", CredentialKind::Basic, Some("bot".into()), NOW).unwrap();
        let rotated = rotate(&store, "erp", Some(Duration::from_secs(60)), NOW).unwrap();
        let record = serde_json::to_string(&stored(&store, "erp")).unwrap();
        for secret in [&issued.secret, &rotated.secret] {
            let raw = URL_SAFE_NO_PAD.decode(secret).unwrap();
            let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            assert!(!record.contains(secret.as_str()), "{record}");
            assert!(!record.contains(&hex), "{record}");
        }
        let listed = serde_json::to_string(&list(&store, NOW).unwrap()).unwrap();
        assert!(!listed.contains(&issued.secret) && !listed.contains("digest"), "{listed}");
        assert!(!format!("{issued:?}").contains(&issued.secret));
    }

    #[test]
    fn generated_secrets_are_43_base64url_chars_and_differ() {
        let secrets: Vec<String> = (0..16).map(|_| generate_secret()).collect();
        for secret in &secrets {
            assert_eq!(secret.len(), 43, "{secret}");
            assert!(
                secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{secret}"
            );
            assert_eq!(URL_SAFE_NO_PAD.decode(secret).unwrap().len(), 32);
        }
        let mut unique = secrets.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), secrets.len());
    }

    #[test]
    fn an_hmac_credential_keeps_its_imported_or_generated_secret() {
        let store = MemoryStore::new();
        let given = "It's a Secret to Everybody".to_owned();
        let issued = create_with_secret(
            &store,
            "github",
            CredentialKind::Hmac,
            None,
            Some(given.clone()),
            NOW,
        )
        .unwrap();
        assert_eq!(issued.secret, given);
        assert_eq!(stored(&store, "github").secrets[0].secret.as_deref(), Some(given.as_str()));
        // Nothing presented verifies an hmac credential: its secret only keys signatures.
        assert!(!verify(&stored(&store, "github"), given.as_bytes(), None, NOW));

        let generated = create(&store, "sw", CredentialKind::Hmac, None, NOW).unwrap();
        let encoded = generated.secret.strip_prefix(SIGNING_SECRET_PREFIX).unwrap();
        assert_eq!(STANDARD.decode(encoded).unwrap().len(), 32);
        assert_eq!(stored(&store, "sw").secrets[0].secret, Some(generated.secret.clone()));
        assert_ne!(generate_signing_secret(), generated.secret);
        let listed = serde_json::to_string(&list(&store, NOW).unwrap()).unwrap();
        assert!(!listed.contains(&given) && !listed.contains(&generated.secret), "{listed}");
    }

    #[test]
    fn only_hmac_credentials_take_a_given_secret() {
        let store = MemoryStore::new();
        let err =
            create_with_secret(&store, "a", CredentialKind::Bearer, None, Some("x".into()), NOW)
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a bearer credential's secret is generated; only hmac credentials take a given secret"
        );
        let err =
            create_with_secret(&store, "a", CredentialKind::Hmac, None, Some(String::new()), NOW)
                .unwrap_err();
        assert_eq!(err.to_string(), "the given secret is empty");
        assert!(store.credentials().unwrap().is_empty());
        created(&store, "key");
        let err = rotate_with_secret(&store, "key", None, Some("x".into()), NOW).unwrap_err();
        assert!(matches!(err, CredentialError::SecretNotAllowed(CredentialKind::ApiKey)), "{err}");
    }

    #[test]
    fn a_rotated_hmac_credential_keeps_both_secrets_in_the_grace_window() {
        let store = MemoryStore::new();
        create_with_secret(&store, "s", CredentialKind::Hmac, None, Some("old".into()), NOW)
            .unwrap();
        let grace = Some(Duration::from_secs(60));
        rotate_with_secret(&store, "s", grace, Some("new".into()), NOW).unwrap();
        let credential = stored(&store, "s");
        let kept: Vec<_> = credential.secrets.iter().map(|s| s.secret.as_deref()).collect();
        assert_eq!(kept, [Some("old"), Some("new")]);
        assert_eq!(credential.secrets[0].expires_at_ms, Some(NOW + 60_000));
        let generated = rotate(&store, "s", None, NOW).unwrap();
        assert!(generated.secret.starts_with(SIGNING_SECRET_PREFIX));
        assert_eq!(stored(&store, "s").secrets.len(), 1);
    }

    #[test]
    fn digest_is_sha256() {
        assert_eq!(
            digest("abc"),
            [
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
                0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
                0xf2, 0x00, 0x15, 0xad,
            ]
        );
    }
}
