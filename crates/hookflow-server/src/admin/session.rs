//! Signing in from a browser: `POST /api/session` with `{"token": "<admin token>"}` opens a
//! session and answers its cookie (`HttpOnly`, `SameSite=Strict`, for 12 hours);
//! `DELETE /api/session` closes it. Sessions live in this process's memory, by the SHA-256 of
//! their id (a restart signs everyone out), at most [`MAX_SESSIONS`] at once (a new one pushes
//! the oldest out). The bearer token keeps working for every other caller.
//!
//! A change (any method but `GET`, `HEAD`, `OPTIONS`) that only the cookie authenticates must
//! carry [`CSRF_HEADER`]: a page of another site can make a browser send the cookie with a form,
//! but not with that header (that would need a CORS preflight, which the admin listener never
//! grants). `SameSite=Strict` keeps the cookie off such requests already; the header is the
//! second lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hookflow_runtime::credentials::{digest, generate_secret};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;

use super::extract::Body;
use super::{Admin, body};
use crate::error::AdminError;

/// The session cookie's name.
pub const COOKIE: &str = "hookflow_session";
/// The header a change made with the session cookie carries.
pub const CSRF_HEADER: &str = "x-hookflow-csrf";
/// How long a session lasts from sign-in.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The most sessions open at once.
pub const MAX_SESSIONS: usize = 1024;

/// The open sessions: the digest of each id, and when it ends.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Sessions {
    /// Opens a session: its id (shown only in the cookie) and when it ends.
    fn open(&self) -> (String, Instant) {
        let id = generate_secret();
        let ends = Instant::now() + LIFETIME;
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        open.retain(|_, ends| *ends > now);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open.iter().min_by_key(|(_, ends)| **ends).map(|(k, _)| *k)
        {
            open.remove(&oldest);
        }
        open.insert(digest(&id), ends);
        (id, ends)
    }

    /// Whether `id` is an open session.
    pub fn is_open(&self, id: &str) -> bool {
        let key = digest(id);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        match open.get(&key) {
            Some(ends) if *ends > Instant::now() => true,
            Some(_) => {
                open.remove(&key);
                false
            }
            None => false,
        }
    }

    fn close(&self, id: &str) {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).remove(&digest(id));
    }
}

/// The session id the request's cookie carries, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// The session routes (outside the token check: they are how a browser gets past it).
pub fn routes() -> Router<Arc<Admin>> {
    Router::new().route("/api/session", post(sign_in).delete(sign_out))
}

/// The body of `POST /api/session`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

/// `POST /api/session`: `200` with the cookie and `{"expires_at"}`, `401` for a wrong token.
async fn sign_in(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, AdminError> {
    let SignIn { token } = body::parse(&bytes)?;
    if !bool::from(digest(token.trim()).ct_eq(&admin.token_digest)) {
        tracing::info!("refused a sign-in with a wrong admin token");
        return Err(AdminError::WrongToken);
    }
    let (id, ends) = admin.sessions.open();
    let expires_at = SystemTime::now() + ends.saturating_duration_since(Instant::now());
    let secure = if forwarded_https(&headers) { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        LIFETIME.as_secs()
    );
    let body = json!({
        "expires_at": humantime::format_rfc3339_millis(expires_at).to_string(),
        "csrf_header": CSRF_HEADER,
    });
    let mut response = (StatusCode::OK, Json(body)).into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|_| AdminError::Internal)?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /api/session`: closes the cookie's session (if any) and clears the cookie; `204`.
async fn sign_out(State(admin): State<Arc<Admin>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers) {
        admin.sessions.close(id);
    }
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Whether a proxy in front says the browser came over HTTPS (then the cookie is `Secure`).
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_opens_is_found_by_its_id_and_closes() {
        let sessions = Sessions::default();
        let (id, _) = sessions.open();
        assert!(sessions.is_open(&id));
        assert!(!sessions.is_open("not-a-session"));
        sessions.close(&id);
        assert!(!sessions.is_open(&id));
    }

    #[test]
    fn the_oldest_session_makes_room() {
        let sessions = Sessions::default();
        let first = sessions.open().0;
        for _ in 1..MAX_SESSIONS {
            sessions.open();
        }
        assert!(sessions.is_open(&first));
        sessions.open();
        assert!(!sessions.is_open(&first), "pushed out by the newest");
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; hookflow_session=abc ; b=2"));
        assert_eq!(cookie(&headers), Some("abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("hookflow_sessions=x"));
        assert_eq!(cookie(&headers), None);
    }
}
