//! An HMAC signature of the raw body, checked against an `hmac` credential's secrets: the
//! providers' presets (GitHub, Stripe, Slack, Shopify, Standard Webhooks) and a generic scheme.
//!
//! A signed timestamp is held against the route's tolerance, either way, before the signature is
//! computed. Every active secret of the credential is tried (a rotation's grace window) against
//! every signature presented, and compared in constant time. With `replay`, a signature that
//! verified is remembered until its timestamp leaves the tolerance (for a scheme without a
//! timestamp: `tolerance_s` from when it was first seen), in a cache of at most
//! [`REPLAY_CAPACITY`] signatures; a full cache forgets the one closest to expiry first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Hmac;
use hookflow_core::nodes::webhook::{
    BODY, HmacAlgorithm, HmacAuth, HmacPreset, SignatureEncoding, TIMESTAMP,
};
use http::HeaderMap;
use sha2::{Digest as _, Sha256, Sha512};
use subtle::{Choice, ConstantTimeEq as _};

use super::{AuthInput, Reason};
use crate::credentials::{Credential, CredentialKind, SIGNING_SECRET_PREFIX, is_active};

/// The most signatures the replay cache remembers at once (about 5 MiB).
pub const REPLAY_CAPACITY: usize = 65_536;

/// What a call presents to an HMAC route: the signatures (any one may match), the signed
/// timestamp (seconds since the Unix epoch) and the signed content, in parts.
struct Signed<'a> {
    signatures: Vec<Vec<u8>>,
    timestamp: Option<i64>,
    content: Vec<&'a [u8]>,
    algorithm: HmacAlgorithm,
}

/// Checks the call's signature against the credential `hmac` names in `credentials`.
pub(super) fn check(
    hmac: &HmacAuth,
    input: AuthInput<'_>,
    credentials: &HashMap<String, Credential>,
) -> Result<(), Reason> {
    let name = hmac.credential.as_str();
    let signed = signed(hmac, input).inspect_err(|reason| {
        tracing::debug!(credential = %name, %reason, "refused a call without a usable signature");
    })?;
    let tolerance_ms = i64::try_from(hmac.tolerance_s).unwrap_or(i64::MAX).saturating_mul(1000);
    if let Some(timestamp) = signed.timestamp {
        let skew = input.now_ms.abs_diff(timestamp.saturating_mul(1000));
        if skew > tolerance_ms.unsigned_abs() {
            tracing::debug!(credential = %name, skew_ms = skew, "refused a call signed outside the tolerance");
            return Err(Reason::TimestampOutsideTolerance);
        }
    }
    let Some(credential) = credentials.get(name).filter(|c| c.kind == CredentialKind::Hmac) else {
        tracing::warn!(credential = %name, kind = %CredentialKind::Hmac, "the route's credential does not exist (or has another kind)");
        return Err(Reason::Unknown);
    };
    let Some(mac) = matching_mac(hmac.preset, credential, &signed, input.now_ms) else {
        tracing::debug!(credential = %name, "refused a call whose signature does not match");
        return Err(Reason::SignatureMismatch);
    };
    if hmac.replay {
        let expires_at_ms = signed
            .timestamp
            .map_or(input.now_ms, |timestamp| timestamp.saturating_mul(1000))
            .saturating_add(tolerance_ms);
        let key = replay_key(name, &mac);
        let mut replays = REPLAYS.lock().unwrap_or_else(PoisonError::into_inner);
        if !replays.first_sight(key, input.now_ms, expires_at_ms) {
            tracing::debug!(credential = %name, "refused a replayed signature");
            return Err(Reason::Replayed);
        }
    }
    Ok(())
}

/// The signed parts of the call, as `hmac`'s preset reads them.
fn signed<'a>(hmac: &'a HmacAuth, input: AuthInput<'a>) -> Result<Signed<'a>, Reason> {
    let headers = input.headers;
    let body = input.body;
    let sha256 = HmacAlgorithm::Sha256;
    Ok(match hmac.preset {
        HmacPreset::Github => {
            let value = header(headers, "x-hub-signature-256")?;
            let hex = value.strip_prefix("sha256=").ok_or(Reason::SignatureMalformed)?;
            Signed {
                signatures: vec![decode_hex(hex).ok_or(Reason::SignatureMalformed)?],
                timestamp: None,
                content: vec![body],
                algorithm: sha256,
            }
        }
        HmacPreset::Shopify => {
            let value = header(headers, "x-shopify-hmac-sha256")?;
            Signed {
                signatures: vec![STANDARD.decode(value).map_err(|_| Reason::SignatureMalformed)?],
                timestamp: None,
                content: vec![body],
                algorithm: sha256,
            }
        }
        HmacPreset::Slack => {
            let value = header(headers, "x-slack-signature")?;
            let stamp = header(headers, "x-slack-request-timestamp")?;
            let hex = value.strip_prefix("v0=").ok_or(Reason::SignatureMalformed)?;
            Signed {
                signatures: vec![decode_hex(hex).ok_or(Reason::SignatureMalformed)?],
                timestamp: Some(timestamp(stamp)?),
                content: vec![b"v0:", stamp.as_bytes(), b":", body],
                algorithm: sha256,
            }
        }
        HmacPreset::Stripe => {
            let value = header(headers, "stripe-signature")?;
            let mut stamp = None;
            let mut signatures = Vec::new();
            for (key, item) in value.split(',').filter_map(|pair| pair.trim().split_once('=')) {
                match key {
                    "t" if stamp.is_none() => stamp = Some(item),
                    // A v1 that is not hex cannot match; the others may.
                    "v1" => signatures.extend(decode_hex(item)),
                    _ => {}
                }
            }
            let stamp = stamp.ok_or(Reason::SignatureMalformed)?;
            Signed {
                signatures,
                timestamp: Some(timestamp(stamp)?),
                content: vec![stamp.as_bytes(), b".", body],
                algorithm: sha256,
            }
        }
        HmacPreset::StandardWebhooks => {
            let id = header(headers, "webhook-id")?;
            let stamp = header(headers, "webhook-timestamp")?;
            let value = header(headers, "webhook-signature")?;
            let entries: Vec<(&str, &str)> =
                value.split_whitespace().filter_map(|entry| entry.split_once(',')).collect();
            if entries.is_empty() {
                return Err(Reason::SignatureMalformed);
            }
            let signatures = entries
                .into_iter()
                .filter(|(version, _)| *version == "v1")
                .filter_map(|(_, signature)| STANDARD.decode(signature).ok())
                .collect();
            Signed {
                signatures,
                timestamp: Some(timestamp(stamp)?),
                content: vec![id.as_bytes(), b".", stamp.as_bytes(), b".", body],
                algorithm: sha256,
            }
        }
        HmacPreset::Generic => generic(hmac, headers, body)?,
    })
}

/// The signed parts of a call to a generic HMAC route.
fn generic<'a>(
    hmac: &'a HmacAuth,
    headers: &'a HeaderMap,
    body: &'a [u8],
) -> Result<Signed<'a>, Reason> {
    // The compiler refuses a generic auth without a header.
    let value = header(headers, hmac.header.as_deref().unwrap_or_default())?;
    let encoded = match hmac.prefix.as_deref() {
        Some(prefix) => value.strip_prefix(prefix).ok_or(Reason::SignatureMalformed)?,
        None => value,
    };
    let signature = match hmac.encoding.unwrap_or_default() {
        SignatureEncoding::Hex => decode_hex(encoded),
        SignatureEncoding::Base64 => STANDARD.decode(encoded).ok(),
    }
    .ok_or(Reason::SignatureMalformed)?;
    let stamp = hmac.timestamp_header.as_deref().map(|name| header(headers, name)).transpose()?;
    let mut content = Vec::new();
    let mut rest = hmac.signed_content.as_deref().unwrap_or(BODY);
    while let Some(open) = rest.find('{') {
        let (text, tail) = rest.split_at(open);
        content.push(text.as_bytes());
        if let Some(after) = tail.strip_prefix(BODY) {
            content.push(body);
            rest = after;
        } else if let Some(after) = tail.strip_prefix(TIMESTAMP) {
            content.push(stamp.unwrap_or_default().as_bytes());
            rest = after;
        } else {
            content.push(b"{");
            rest = &tail[1..];
        }
    }
    content.push(rest.as_bytes());
    Ok(Signed {
        signatures: vec![signature],
        timestamp: stamp.map(timestamp).transpose()?,
        content,
        algorithm: hmac.algorithm.unwrap_or_default(),
    })
}

/// The header `name` as text; a missing one is [`Reason::SignatureMissing`], one that is not
/// visible ASCII is malformed.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Reason> {
    let value = headers.get(name).ok_or(Reason::SignatureMissing)?;
    Ok(value.to_str().map_err(|_| Reason::SignatureMalformed)?.trim())
}

/// A timestamp in whole seconds since the Unix epoch.
fn timestamp(text: &str) -> Result<i64, Reason> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reason::SignatureMalformed);
    }
    text.parse().map_err(|_| Reason::SignatureMalformed)
}

/// Hex digits (either case) as bytes.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |digit: u8| char::from(digit).to_digit(16).and_then(|n| u8::try_from(n).ok());
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

/// The MAC that one of the call's signatures matches, computed with an active secret of
/// `credential`; every secret is tried against every signature, in constant time each.
fn matching_mac(
    preset: HmacPreset,
    credential: &Credential,
    signed: &Signed<'_>,
    now_ms: i64,
) -> Option<Vec<u8>> {
    let mut found = None;
    for stored in credential.secrets.iter().filter(|s| is_active(s, now_ms)) {
        let Some(key) = stored.secret.as_deref().and_then(|secret| key(preset, secret)) else {
            tracing::warn!(credential = %credential.name, "a secret of the credential cannot key this preset's signatures");
            continue;
        };
        let expected = mac(signed.algorithm, &key, &signed.content);
        let mut matched = Choice::from(0);
        for signature in signed.signatures.iter().filter(|s| !s.is_empty()) {
            matched |= expected.as_slice().ct_eq(signature);
        }
        if bool::from(matched) {
            found = Some(expected);
        }
    }
    found
}

/// The HMAC key of a secret: Standard Webhooks keys with the base64-decoded part after
/// `whsec_`; every other scheme with the secret's text.
fn key(preset: HmacPreset, secret: &str) -> Option<Vec<u8>> {
    match preset {
        HmacPreset::StandardWebhooks => {
            STANDARD.decode(secret.strip_prefix(SIGNING_SECRET_PREFIX).unwrap_or(secret)).ok()
        }
        _ => Some(secret.as_bytes().to_vec()),
    }
}

/// The HMAC of the concatenated `parts` under `key`.
fn mac(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn with<M: hmac::Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // An HMAC takes a key of any length.
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
            unreachable!("HMAC accepts keys of every length")
        };
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        HmacAlgorithm::Sha1 => with::<Hmac<sha1::Sha1>>(key, parts),
        HmacAlgorithm::Sha256 => with::<Hmac<Sha256>>(key, parts),
        HmacAlgorithm::Sha512 => with::<Hmac<Sha512>>(key, parts),
    }
}

/// What the replay cache remembers of a verified signature: a digest of the credential's name
/// and the MAC, so that neither is kept.
fn replay_key(credential: &str, mac: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(credential.as_bytes());
    hasher.update([0]);
    hasher.update(mac);
    hasher.finalize().into()
}

/// The signatures seen lately, for routes with `replay`.
static REPLAYS: Mutex<ReplayCache> = Mutex::new(ReplayCache::new());

/// Signatures and when they may be forgotten, bounded by [`REPLAY_CAPACITY`].
struct ReplayCache {
    expiry: BTreeMap<[u8; 32], i64>,
    by_expiry: BTreeSet<(i64, [u8; 32])>,
}

impl ReplayCache {
    const fn new() -> ReplayCache {
        ReplayCache { expiry: BTreeMap::new(), by_expiry: BTreeSet::new() }
    }

    /// Remembers `key` until `expires_at_ms`; `false` when it is remembered already.
    fn first_sight(&mut self, key: [u8; 32], now_ms: i64, expires_at_ms: i64) -> bool {
        while let Some(&(at, old)) = self.by_expiry.first() {
            if at > now_ms {
                break;
            }
            self.by_expiry.pop_first();
            self.expiry.remove(&old);
        }
        if self.expiry.contains_key(&key) {
            return false;
        }
        if self.expiry.len() >= REPLAY_CAPACITY
            && let Some((_, old)) = self.by_expiry.pop_first()
        {
            self.expiry.remove(&old);
        }
        self.expiry.insert(key, expires_at_ms);
        self.by_expiry.insert((expires_at_ms, key));
        true
    }
}

#[cfg(test)]
mod tests {
    use hookflow_core::nodes::webhook::Auth;
    use hookflow_store::StoredSecret;
    use serde_json::Value;

    use super::*;
    use crate::auth::tests::{NAME, headers};
    use crate::auth::{AuthError, Redacted, challenge, kind_of, redacted};
    use crate::credentials::digest;

    /// The published vectors.
    const VECTORS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/webhook-signatures.json"
    ));

    fn vectors() -> Value {
        serde_json::from_str(VECTORS).unwrap()
    }

    fn text(vector: &Value, field: &str) -> String {
        match &vector[field] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("{field}: {other}"),
        }
    }

    /// A snapshot with one hmac credential, [`NAME`], with `secrets` (the current one last).
    fn snapshot(secrets: &[&str]) -> HashMap<String, Credential> {
        let secrets = secrets
            .iter()
            .map(|s| StoredSecret {
                digest: digest(s),
                created_at_ms: 0,
                expires_at_ms: None,
                secret: Some((*s).to_owned()),
            })
            .collect();
        let credential = Credential {
            name: NAME.into(),
            kind: CredentialKind::Hmac,
            username: None,
            secrets,
            created_at_ms: 0,
        };
        HashMap::from([(NAME.to_owned(), credential)])
    }

    fn auth(preset: HmacPreset) -> HmacAuth {
        HmacAuth {
            preset,
            credential: NAME.into(),
            header: None,
            algorithm: None,
            encoding: None,
            prefix: None,
            timestamp_header: None,
            signed_content: None,
            tolerance_s: 300,
            replay: false,
        }
    }

    /// `hmac` checked through [`crate::auth::check`] on `pairs` and `body` at `now_s`.
    fn checked(
        hmac: &HmacAuth,
        pairs: &[(&'static str, &str)],
        body: &str,
        now_s: i64,
        credentials: &HashMap<String, Credential>,
    ) -> Result<(), Reason> {
        let headers = headers(pairs);
        let input = AuthInput {
            headers: &headers,
            query: None,
            body: body.as_bytes(),
            now_ms: now_s * 1000,
        };
        match crate::auth::check(&Auth::Hmac(hmac.clone()), input, credentials) {
            Ok(name) => {
                assert_eq!(name.as_deref(), Some(NAME));
                Ok(())
            }
            Err(AuthError { challenge, reason }) => {
                assert_eq!(challenge, None);
                Err(reason)
            }
        }
    }

    #[test]
    fn github_vectors_pass_and_decoys_fail() {
        for v in vectors()["github"].as_array().unwrap() {
            let (secret, body) = (text(v, "secret"), text(v, "body"));
            let credentials = snapshot(&[&secret]);
            let github = auth(HmacPreset::Github);
            let signature = text(v, "x_hub_signature_256");
            let now = 1_700_000_000;
            assert_eq!(
                checked(&github, &[("x-hub-signature-256", &signature)], &body, now, &credentials),
                Ok(()),
                "{}",
                v["id"]
            );
            let refused = |pairs: &[(&'static str, &str)], body: &str| {
                checked(&github, pairs, body, now, &credentials).unwrap_err()
            };
            assert_eq!(
                refused(&[("x-hub-signature-256", &signature)], "Hello, World?"),
                Reason::SignatureMismatch
            );
            assert_eq!(
                refused(&[("x-hub-signature-256", &signature.replace("sha256=", "sha1="))], &body),
                Reason::SignatureMalformed
            );
            assert_eq!(
                refused(&[("x-hub-signature-256", "sha256=zz")], &body),
                Reason::SignatureMalformed
            );
            assert_eq!(
                refused(&[("x-hub-signature", &text(v, "x_hub_signature_sha1_derived"))], &body),
                Reason::SignatureMissing
            );
            // The SHA-1 form GitHub also sends, through the generic preset.
            let sha1 = HmacAuth {
                header: Some("X-Hub-Signature".into()),
                algorithm: Some(HmacAlgorithm::Sha1),
                prefix: Some("sha1=".into()),
                ..auth(HmacPreset::Generic)
            };
            let derived = text(v, "x_hub_signature_sha1_derived");
            assert_eq!(
                checked(&sha1, &[("x-hub-signature", &derived)], &body, now, &credentials),
                Ok(())
            );
        }
    }

    #[test]
    fn stripe_vectors_pass_at_their_time_and_decoys_fail() {
        for v in vectors()["stripe"].as_array().unwrap() {
            let (secret, body, header) =
                (text(v, "secret"), text(v, "body"), text(v, "stripe_signature"));
            let now: i64 = text(v, "timestamp").parse().unwrap();
            let credentials = snapshot(&[&secret]);
            let stripe = auth(HmacPreset::Stripe);
            let check = |value: &str, body: &str, now| {
                checked(&stripe, &[("stripe-signature", value)], body, now, &credentials)
            };
            assert_eq!(check(&header, &body, now), Ok(()), "{}", v["id"]);
            let (t, v1) = header.split_once(',').unwrap();
            // Any one v1 may match, in any position; other schemes are ignored.
            assert_eq!(
                check(&format!("{t},v1={},v0=abc,{v1}", "00".repeat(32)), &body, now),
                Ok(())
            );
            assert_eq!(check(&header, &body, now + 300), Ok(()));
            assert_eq!(check(&header, &body, now + 301), Err(Reason::TimestampOutsideTolerance));
            assert_eq!(check(&header, &body, now - 301), Err(Reason::TimestampOutsideTolerance));
            assert_eq!(check(&header, &format!("{body} "), now), Err(Reason::SignatureMismatch));
            assert_eq!(
                check(&format!("t={},{v1}", now + 1), &body, now),
                Err(Reason::SignatureMismatch)
            );
            assert_eq!(check(t, &body, now), Err(Reason::SignatureMismatch));
            assert_eq!(check(v1, &body, now), Err(Reason::SignatureMalformed));
            assert_eq!(check(&format!("t=soon,{v1}"), &body, now), Err(Reason::SignatureMalformed));
        }
    }

    #[test]
    fn slack_vectors_pass_at_their_time_and_decoys_fail() {
        for v in vectors()["slack"].as_array().unwrap() {
            let (secret, body, stamp, signature) = (
                text(v, "secret"),
                text(v, "body"),
                text(v, "timestamp"),
                text(v, "x_slack_signature"),
            );
            let now: i64 = stamp.parse().unwrap();
            let credentials = snapshot(&[&secret]);
            let slack = auth(HmacPreset::Slack);
            let check = |pairs: &[(&'static str, &str)], now| {
                checked(&slack, pairs, &body, now, &credentials)
            };
            let both = [
                ("x-slack-signature", signature.as_str()),
                ("x-slack-request-timestamp", stamp.as_str()),
            ];
            assert_eq!(check(&both, now), Ok(()), "{}", v["id"]);
            assert_eq!(check(&both, now + 301), Err(Reason::TimestampOutsideTolerance));
            let later = (now + 1).to_string();
            assert_eq!(
                check(&[both[0], ("x-slack-request-timestamp", &later)], now),
                Err(Reason::SignatureMismatch)
            );
            assert_eq!(check(&both[..1], now), Err(Reason::SignatureMissing));
            assert_eq!(
                check(&[("x-slack-signature", &signature[3..]), both[1]], now),
                Err(Reason::SignatureMalformed)
            );
        }
    }

    #[test]
    fn shopify_vectors_pass_and_decoys_fail() {
        for v in vectors()["shopify"].as_array().unwrap() {
            let (secret, body, signature) =
                (text(v, "secret"), text(v, "body"), text(v, "x_shopify_hmac_sha256"));
            let credentials = snapshot(&[&secret]);
            let shopify = auth(HmacPreset::Shopify);
            let check = |value: &str, body: &str| {
                checked(&shopify, &[("x-shopify-hmac-sha256", value)], body, 0, &credentials)
            };
            assert_eq!(check(&signature, &body), Ok(()), "{}", v["id"]);
            assert_eq!(check(&signature, "{\"foo\": \"baz\"}"), Err(Reason::SignatureMismatch));
            assert_eq!(check("not base64!", &body), Err(Reason::SignatureMalformed));
            let other = snapshot(&["another secret"]);
            assert_eq!(
                checked(&shopify, &[("x-shopify-hmac-sha256", &signature)], &body, 0, &other),
                Err(Reason::SignatureMismatch)
            );
        }
    }

    #[test]
    fn standard_webhooks_vectors_pass_at_their_time_and_decoys_fail() {
        let all = vectors();
        let decoys: Vec<String> = all["standard_webhooks_decoys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect();
        for v in all["standard_webhooks"].as_array().unwrap() {
            let (secret, body, id, stamp, signature) = (
                text(v, "secret"),
                text(v, "body"),
                text(v, "msg_id"),
                text(v, "timestamp"),
                text(v, "signature"),
            );
            let now: i64 = stamp.parse().unwrap();
            let credentials = snapshot(&[&secret]);
            let sw = auth(HmacPreset::StandardWebhooks);
            let check = |signature: &str, now| {
                let pairs = [
                    ("webhook-id", id.as_str()),
                    ("webhook-timestamp", stamp.as_str()),
                    ("webhook-signature", signature),
                ];
                checked(&sw, &pairs, &body, now, &credentials)
            };
            assert_eq!(check(&signature, now), Ok(()), "{}", v["id"]);
            for decoy in &decoys {
                assert_eq!(check(decoy, now), Err(Reason::SignatureMismatch), "{decoy}");
                // A list passes when any one of its signatures matches.
                assert_eq!(check(&format!("{decoy} {signature}"), now), Ok(()), "{decoy}");
            }
            assert_eq!(check(&signature, now - 301), Err(Reason::TimestampOutsideTolerance));
            assert_eq!(check("v1", now), Err(Reason::SignatureMalformed));
            let missing = checked(
                &sw,
                &[("webhook-id", &id), ("webhook-signature", &signature)],
                &body,
                now,
                &credentials,
            );
            assert_eq!(missing, Err(Reason::SignatureMissing));
        }
    }

    #[test]
    fn a_generic_signature_follows_its_fields() {
        let credentials = snapshot(&["k"]);
        let generic = HmacAuth {
            header: Some("X-Signature".into()),
            algorithm: Some(HmacAlgorithm::Sha512),
            encoding: Some(SignatureEncoding::Base64),
            prefix: Some("sig=".into()),
            timestamp_header: Some("X-Timestamp".into()),
            signed_content: Some("{timestamp}.{body}".into()),
            ..auth(HmacPreset::Generic)
        };
        let signature = STANDARD.encode(mac(HmacAlgorithm::Sha512, b"k", &[b"1000.{\"a\":1}"]));
        let sig = format!("sig={signature}");
        let check = |pairs: &[(&'static str, &str)], now| {
            checked(&generic, pairs, "{\"a\":1}", now, &credentials)
        };
        assert_eq!(check(&[("x-signature", &sig), ("x-timestamp", "1000")], 1000), Ok(()));
        assert_eq!(
            check(&[("x-signature", &sig), ("x-timestamp", "1000")], 1301),
            Err(Reason::TimestampOutsideTolerance)
        );
        assert_eq!(
            check(&[("x-signature", &sig), ("x-timestamp", "1001")], 1000),
            Err(Reason::SignatureMismatch)
        );
        assert_eq!(
            check(&[("x-signature", &signature), ("x-timestamp", "1000")], 1000),
            Err(Reason::SignatureMalformed)
        );
        assert_eq!(check(&[("x-signature", &sig)], 1000), Err(Reason::SignatureMissing));
        assert_eq!(
            check(&[("x-signature", &sig), ("x-timestamp", "-5")], 1000),
            Err(Reason::SignatureMalformed)
        );
        let hex = HmacAuth { header: Some("X-Sig".into()), ..auth(HmacPreset::Generic) };
        let expected: String = mac(HmacAlgorithm::Sha256, b"k", &[b"body"])
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(checked(&hex, &[("x-sig", &expected)], "body", 0, &credentials), Ok(()));
    }

    #[test]
    fn a_rotated_credential_verifies_with_either_secret_until_the_old_one_expires() {
        let mut credentials = snapshot(&["old", "new"]);
        let shopify = auth(HmacPreset::Shopify);
        let sign = |key: &[u8]| STANDARD.encode(mac(HmacAlgorithm::Sha256, key, &[b"x"]));
        let check = |key: &[u8], credentials: &HashMap<String, Credential>| {
            checked(&shopify, &[("x-shopify-hmac-sha256", &sign(key))], "x", 10, credentials)
        };
        assert_eq!(check(b"old", &credentials), Ok(()));
        assert_eq!(check(b"new", &credentials), Ok(()));
        if let Some(c) = credentials.get_mut(NAME) {
            c.secrets[0].expires_at_ms = Some(10_000);
        }
        assert_eq!(check(b"old", &credentials), Err(Reason::SignatureMismatch));
        assert_eq!(check(b"new", &credentials), Ok(()));
    }

    #[test]
    fn a_replay_is_refused_within_the_window_when_asked() {
        let credentials = snapshot(&["replay-secret"]);
        let stripe = HmacAuth { replay: true, ..auth(HmacPreset::Stripe) };
        let now = 1_800_000_000;
        let hex: String =
            mac(HmacAlgorithm::Sha256, b"replay-secret", &[format!("{now}.r").as_bytes()])
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
        let header = format!("t={now},v1={hex}");
        let check = |hmac: &HmacAuth, at| {
            checked(hmac, &[("stripe-signature", &header)], "r", at, &credentials)
        };
        assert_eq!(check(&stripe, now), Ok(()));
        assert_eq!(check(&stripe, now + 1), Err(Reason::Replayed));
        assert_eq!(check(&auth(HmacPreset::Stripe), now + 2), Ok(()));
        assert_eq!(check(&stripe, now + 301), Err(Reason::TimestampOutsideTolerance));
    }

    #[test]
    fn the_replay_cache_is_bounded_and_forgets_expired_signatures() {
        let mut cache = ReplayCache::new();
        let key = |i: usize| {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&i.to_le_bytes());
            k
        };
        assert!(cache.first_sight(key(0), 0, 10));
        assert!(!cache.first_sight(key(0), 9, 10));
        assert!(cache.first_sight(key(0), 10, 20));
        for i in 1..=REPLAY_CAPACITY {
            assert!(cache.first_sight(key(i), 10, 1_000 + i64::try_from(i).unwrap()));
        }
        assert_eq!(cache.expiry.len(), REPLAY_CAPACITY);
        // Full: the one closest to expiry went first.
        assert!(cache.first_sight(key(0), 11, 30));
        assert_eq!((cache.expiry.len(), cache.by_expiry.len()), (REPLAY_CAPACITY, REPLAY_CAPACITY));
        assert!(!cache.first_sight(key(REPLAY_CAPACITY), 11, 5_000));
    }

    #[test]
    fn an_unknown_or_other_kind_credential_refuses_a_signed_call() {
        let v = &vectors()["shopify"][0];
        let pairs = [("x-shopify-hmac-sha256", text(v, "x_shopify_hmac_sha256"))];
        let pairs: Vec<(&'static str, &str)> =
            pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let shopify = auth(HmacPreset::Shopify);
        assert_eq!(
            checked(&shopify, &pairs, &text(v, "body"), 0, &HashMap::new()),
            Err(Reason::Unknown)
        );
        let mut other = snapshot(&[&text(v, "secret")]);
        if let Some(c) = other.get_mut(NAME) {
            c.kind = CredentialKind::Bearer;
        }
        assert_eq!(checked(&shopify, &pairs, &text(v, "body"), 0, &other), Err(Reason::Unknown));
    }

    #[test]
    fn an_hmac_route_has_no_challenge_and_redacts_nothing_more() {
        let hmac = Auth::Hmac(auth(HmacPreset::Github));
        assert_eq!((challenge(&hmac), kind_of(&hmac)), (None, Some(CredentialKind::Hmac)));
        assert_eq!(redacted(&hmac), Redacted::default());
    }

    #[test]
    fn hex_is_read_in_either_case() {
        assert_eq!(decode_hex("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("+1"), None);
        assert_eq!(decode_hex(""), Some(vec![]));
    }
}
