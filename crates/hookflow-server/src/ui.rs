//! The web UI's files, embedded in the binary and served on the admin listener: `GET /` (the
//! page) and `GET /ui/{file}` (its script and style). Each answer carries a strict
//! Content-Security-Policy (this origin's files only: no inline script or style, no other
//! origin), `no-cache` with an `ETag` (a reload costs a `304`), and `nosniff`. The page signs in
//! and reads everything through the admin API.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hookflow_runtime::credentials::digest;

/// The policy every UI answer carries.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                       form-action 'none'; frame-ancestors 'none'";

/// The UI's files: name, content type, content.
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../ui/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../ui/app.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../ui/app.css")),
];

/// The UI's routes (open: the page itself signs in).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { file("index.html", &headers) }))
        .route(
            "/ui/{file}",
            get(
                |Path(name): Path<String>, headers: HeaderMap| async move { file(&name, &headers) },
            ),
        )
}

/// Each file's tag, in [`FILES`] order, computed once.
static TAGS: LazyLock<Vec<String>> =
    LazyLock::new(|| FILES.iter().map(|(_, _, b)| etag(b)).collect());

/// File `name`, or `304` when the browser holds this version, or `404`.
fn file(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = FILES.iter().position(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let (_, content_type, bytes) = FILES[i];
    let tag = &TAGS[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag.as_str()));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { bytes.into_response() };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(tag) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, tag);
    }
    response
}

/// A quoted tag of `bytes`: the first 16 hex digits of their SHA-256.
fn etag(bytes: &[u8]) -> String {
    let hex: String = digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_carries_the_policy_and_a_tag_that_answers_304() {
        for (name, content_type, _) in FILES {
            let r = file(name, &HeaderMap::new());
            assert_eq!(r.status(), StatusCode::OK, "{name}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], *content_type);
            assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], CSP);
            let mut again = HeaderMap::new();
            again.insert(header::IF_NONE_MATCH, r.headers()[header::ETAG].clone());
            assert_eq!(file(name, &again).status(), StatusCode::NOT_MODIFIED, "{name}");
        }
        assert_eq!(file("../Cargo.toml", &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
        let size: usize = FILES.iter().map(|(_, _, bytes)| bytes.len()).sum();
        assert!(size < 300 << 10, "the UI is {size} bytes");
    }
}
