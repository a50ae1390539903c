//! The `hmac` auth of a webhook: its fields (a provider preset, or a generic signature with its
//! header, algorithm, encoding, prefix, timestamp header and signed content), their defaults and
//! the compile-time checks that point at the field that is wrong.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Auth;
use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;

/// The default of `tolerance_s`: five minutes, as every provider that signs a timestamp advises.
pub const DEFAULT_TOLERANCE_S: u64 = 300;

/// The placeholder of the request's timestamp in `signed_content`.
pub const TIMESTAMP: &str = "{timestamp}";
/// The placeholder of the raw body in `signed_content`.
pub const BODY: &str = "{body}";

/// An HMAC signature over the raw body, keyed with an `hmac` credential's secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacAuth {
    /// Who signs: `github`, `stripe`, `slack`, `shopify`, `standard_webhooks` or `generic`.
    pub preset: HmacPreset,
    /// The `hmac` credential whose secret keys the signature.
    pub credential: String,
    /// `generic` only: the header that carries the signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// `generic` only: `sha1`, `sha256` (default) or `sha512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<HmacAlgorithm>,
    /// `generic` only: how the signature is written, `hex` (default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<SignatureEncoding>,
    /// `generic` only: text before the signature in its header, e.g. `sha256=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `generic` only: the header that carries the signing time, in seconds since the Unix
    /// epoch; held against `tolerance_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    /// `generic` only: what is signed, with `{body}` (the raw body) and `{timestamp}`; default
    /// `{body}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_content: Option<String>,
    /// How far the signed timestamp may be from the server's clock, either way, in seconds
    /// (default 300); also how long a signature is remembered with `replay`.
    #[serde(default = "default_tolerance_s")]
    pub tolerance_s: u64,
    /// Refuse a signature seen before within `tolerance_s` (default `false`).
    #[serde(default)]
    pub replay: bool,
}

fn default_tolerance_s() -> u64 {
    DEFAULT_TOLERANCE_S
}

/// A provider whose signature scheme hookflow knows, or `generic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HmacPreset {
    /// `X-Hub-Signature-256: sha256=<hex>` over the body.
    Github,
    /// `Stripe-Signature: t=<ts>,v1=<hex>` over `{t}.{body}`.
    Stripe,
    /// `X-Slack-Signature: v0=<hex>` over `v0:{ts}:{body}`, `X-Slack-Request-Timestamp`.
    Slack,
    /// `X-Shopify-Hmac-Sha256: <base64>` over the body.
    Shopify,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` over
    /// `{id}.{ts}.{body}`, keyed with the base64-decoded part of a `whsec_` secret.
    StandardWebhooks,
    /// The header, algorithm, encoding, prefix, timestamp header and signed content given.
    Generic,
}

impl HmacPreset {
    /// The name used in flows.
    pub fn as_str(self) -> &'static str {
        match self {
            HmacPreset::Github => "github",
            HmacPreset::Stripe => "stripe",
            HmacPreset::Slack => "slack",
            HmacPreset::Shopify => "shopify",
            HmacPreset::StandardWebhooks => "standard_webhooks",
            HmacPreset::Generic => "generic",
        }
    }
}

/// The hash of a generic HMAC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    Sha1,
    #[default]
    Sha256,
    Sha512,
}

/// How a generic signature is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    /// Lowercase or uppercase hex digits.
    #[default]
    Hex,
    /// Standard base64, with padding.
    Base64,
}

/// Reads the `auth` of a webhook's raw `config` once more when it is an `hmac` one, so that a
/// field error points into it (`/auth/preset`, `/auth/algorithm`...). `false` when it reported
/// one.
pub(super) fn precheck(cx: &mut CompileCx<'_>, config: &Value) -> bool {
    let Some(auth) = config.get("auth").and_then(Value::as_object) else { return true };
    if auth.get("type").and_then(Value::as_str) != Some("hmac") {
        return true;
    }
    let mut fields = auth.clone();
    fields.remove("type");
    cx.config_at::<HmacAuth>("/auth", Value::Object(fields)).is_some()
}

/// Checks what serde cannot: the fields each preset takes, the generic one's header, the
/// placeholders of `signed_content` and the tolerance. `false` when it reported something.
pub(super) fn check(cx: &mut CompileCx<'_>, auth: &Auth) -> bool {
    let Auth::Hmac(hmac) = auth else { return true };
    let mut ok = true;
    if hmac.tolerance_s == 0 {
        cx.report(Code::InvalidValue, "/auth/tolerance_s", "`tolerance_s` must be above 0")
            .set_help("the providers' advice is 300 seconds, the default");
        ok = false;
    }
    if hmac.preset != HmacPreset::Generic {
        let generic_only = [
            ("header", hmac.header.is_some()),
            ("algorithm", hmac.algorithm.is_some()),
            ("encoding", hmac.encoding.is_some()),
            ("prefix", hmac.prefix.is_some()),
            ("timestamp_header", hmac.timestamp_header.is_some()),
            ("signed_content", hmac.signed_content.is_some()),
        ];
        for (field, _) in generic_only.into_iter().filter(|(_, given)| *given) {
            cx.report(
                Code::InvalidValue,
                &format!("/auth/{field}"),
                format!(
                    "`{field}` is only for the `generic` preset; the `{}` preset knows where its \
                     provider puts the signature",
                    hmac.preset.as_str()
                ),
            )
            .set_help(format!("remove `{field}`, or use `\"preset\": \"generic\"`"));
            ok = false;
        }
        return ok;
    }
    match hmac.header.as_deref() {
        None => {
            cx.report(Code::MissingField, "/auth", "a `generic` hmac auth needs `header`")
                .set_help("name the header that carries the signature, e.g. `\"header\": \"X-Signature\"`");
            ok = false;
        }
        Some(name) => ok &= header_name(cx, "/auth/header", name),
    }
    if let Some(name) = hmac.timestamp_header.as_deref() {
        ok &= header_name(cx, "/auth/timestamp_header", name);
    }
    let content = hmac.signed_content.as_deref().unwrap_or(BODY);
    if let Err(problem) = placeholders(content) {
        cx.report(Code::InvalidValue, "/auth/signed_content", problem).set_help(
            "write the signed text with `{body}` and `{timestamp}`, e.g. `{timestamp}.{body}`",
        );
        ok = false;
    } else {
        let signs_timestamp = content.contains(TIMESTAMP);
        match (hmac.timestamp_header.is_some(), signs_timestamp) {
            (false, true) => {
                cx.report(
                    Code::InvalidValue,
                    "/auth/signed_content",
                    "`signed_content` has `{timestamp}` but no `timestamp_header` says where it is",
                )
                .set_help("add `timestamp_header`, the header that carries the signing time");
                ok = false;
            }
            (true, false) => {
                cx.report(
                    Code::InvalidValue,
                    "/auth/timestamp_header",
                    "the timestamp is not signed: anyone could change it to pass the tolerance",
                )
                .set_help("add `{timestamp}` to `signed_content`, e.g. `{timestamp}.{body}`");
                ok = false;
            }
            _ => {}
        }
    }
    ok
}

/// Whether `name` can be a header name (an HTTP token).
fn header_name(cx: &mut CompileCx<'_>, rel: &str, name: &str) -> bool {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !name.is_empty() && name.chars().all(token) {
        return true;
    }
    cx.report(Code::InvalidValue, rel, format!("`{}` is not a header name", name.escape_debug()))
        .set_help("use letters, digits and `-`, e.g. `X-Signature`");
    false
}

/// Checks that `content` has `{body}` once, `{timestamp}` at most once, and no other `{...}`.
fn placeholders(content: &str) -> Result<(), String> {
    let mut rest = content;
    let (mut bodies, mut timestamps) = (0, 0);
    while let Some(open) = rest.find('{') {
        let tail = &rest[open..];
        if let Some(after) = tail.strip_prefix(BODY) {
            bodies += 1;
            rest = after;
        } else if let Some(after) = tail.strip_prefix(TIMESTAMP) {
            timestamps += 1;
            rest = after;
        } else {
            let end = tail.find('}').map_or(tail.len(), |i| i + 1);
            return Err(format!(
                "`signed_content` has `{}`; it knows `{{body}}` and `{{timestamp}}` only",
                &tail[..end]
            ));
        }
    }
    match (bodies, timestamps) {
        (1, 0 | 1) => Ok(()),
        (0, _) => Err("`signed_content` has no `{body}`: the body would not be signed".into()),
        (_, 2..) => Err("`signed_content` has `{timestamp}` more than once".into()),
        _ => Err("`signed_content` has `{body}` more than once".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_body_once_and_timestamp_at_most_once() {
        assert_eq!(placeholders("{body}"), Ok(()));
        assert_eq!(placeholders("{timestamp}.{body}"), Ok(()));
        assert_eq!(placeholders("v0:{timestamp}:{body}"), Ok(()));
        assert!(placeholders("{timestamp}").unwrap_err().contains("no `{body}`"));
        assert!(placeholders("{body}{body}").unwrap_err().contains("more than once"));
        assert!(placeholders("{ts}.{body}").unwrap_err().contains("has `{ts}`"));
        assert!(placeholders("{body}{").unwrap_err().contains("has `{`"));
    }

    #[test]
    fn an_hmac_auth_parses_with_its_defaults() {
        let auth: Auth =
            serde_json::from_str(r#"{"type":"hmac","preset":"github","credential":"gh"}"#).unwrap();
        let Auth::Hmac(hmac) = &auth else { panic!("{auth:?}") };
        assert_eq!((hmac.preset, hmac.tolerance_s, hmac.replay), (HmacPreset::Github, 300, false));
        assert_eq!(auth.credential(), Some("gh"));
        assert!(
            serde_json::from_str::<Auth>(
                r#"{"type":"hmac","preset":"github","credential":"gh","x":1}"#
            )
            .is_err()
        );
        let err =
            serde_json::from_str::<Auth>(r#"{"type":"hmac","preset":"gitlab","credential":"gh"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("unknown variant `gitlab`"), "{err}");
    }
}
