//! How deliveries are signed: the Standard Webhooks signature (`webhook-signature`), the hex
//! signature of `x-hookflow-signature`, and new `whsec_` secrets.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::{TryRngCore as _, rngs::OsRng};
use sha2::Sha256;

/// What every signing secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// A secret that cannot sign: not `whsec_` followed by base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the signing secret does not start with `{SECRET_PREFIX}`")]
    MissingPrefix,
    #[error("the signing secret is not base64 after `{SECRET_PREFIX}`")]
    NotBase64,
}

/// The Standard Webhooks signature of a message: `v1,` and the base64 of the HMAC-SHA256 of
/// `{msg_id}.{timestamp_s}.{body}`, keyed with the bytes the secret's base64 stands for.
pub fn standard(
    secret: &str,
    msg_id: &str,
    timestamp_s: i64,
    body: &[u8],
) -> Result<String, SigningError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(SigningError::MissingPrefix)?;
    let key = STANDARD.decode(encoded).map_err(|_| SigningError::NotBase64)?;
    let mut mac = hmac(&key);
    mac.update(format!("{msg_id}.{timestamp_s}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The lowercase hex HMAC-SHA256 of `body`, keyed with the whole secret as written
/// (`whsec_...`): the value of `x-hookflow-signature`.
pub fn hex(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac(secret.as_bytes());
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A new signing secret: `whsec_` and the base64 of 32 bytes from the operating system's CSPRNG.
///
/// # Panics
///
/// If the operating system cannot provide random bytes, which leaves nothing safe to do.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    if let Err(err) = OsRng.try_fill_bytes(&mut bytes) {
        panic!("the operating system's random number generator failed: {err}");
    }
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    Hmac::new_from_slice(key).expect("HMAC accepts every key length")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use http::{HeaderMap, HeaderValue};
    use serde::Deserialize;
    use standardwebhooks::Webhook;

    use super::*;

    /// One `standard_webhooks` entry of the shared vectors.
    #[derive(Deserialize)]
    struct Vector {
        id: String,
        secret: String,
        msg_id: String,
        timestamp: i64,
        body: String,
        signature: String,
    }

    #[derive(Deserialize)]
    struct Vectors {
        standard_webhooks: Vec<Vector>,
        github: Vec<serde_json::Value>,
    }

    fn vectors() -> Vectors {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/vectors/webhook-signatures.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_published_standard_webhooks_vectors_pass() {
        let vectors = vectors().standard_webhooks;
        assert!(!vectors.is_empty());
        for v in vectors {
            let got = standard(&v.secret, &v.msg_id, v.timestamp, v.body.as_bytes()).unwrap();
            assert_eq!(got, v.signature, "{}", v.id);
        }
    }

    #[test]
    fn the_hex_signature_is_hmac_sha256_of_the_body() {
        // GitHub's published `X-Hub-Signature-256` is the same construction.
        let v = &vectors().github[0];
        let want = v["x_hub_signature_256"].as_str().unwrap().strip_prefix("sha256=").unwrap();
        let got = hex(v["secret"].as_str().unwrap(), v["body"].as_str().unwrap().as_bytes());
        assert_eq!(got, want);
    }

    #[test]
    fn a_signature_verifies_with_the_official_library() {
        let secret = generate_secret();
        let body = br#"{"type":"execution.succeeded","data":{"n":1}}"#;
        let now = hookflow_store::clock::now_ms() / 1000;
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", HeaderValue::from_static("msg_1"));
        headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
        let signature = standard(&secret, "msg_1", now, body).unwrap();
        headers.insert("webhook-signature", signature.parse().unwrap());
        Webhook::new(&secret).unwrap().verify(body, &headers).unwrap();

        headers.insert("webhook-id", HeaderValue::from_static("msg_2"));
        assert!(Webhook::new(&secret).unwrap().verify(body, &headers).is_err());
    }

    #[test]
    fn secrets_are_32_random_bytes_in_base64() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        let key = STANDARD.decode(a.strip_prefix(SECRET_PREFIX).unwrap()).unwrap();
        assert_eq!(key.len(), 32);
    }

    #[test]
    fn a_malformed_secret_cannot_sign() {
        assert_eq!(standard("abc", "m", 1, b""), Err(SigningError::MissingPrefix));
        assert_eq!(standard("whsec_not base64!", "m", 1, b""), Err(SigningError::NotBase64));
    }
}
