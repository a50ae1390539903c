//! Signing in from a browser, against a real `hookflow serve`: the admin token exchanged for a
//! session cookie (`HttpOnly`, `SameSite=Strict`), reads and writes with it, a write without the
//! CSRF header refused, the bearer token still accepted, and signing out.

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, Served, flow};

async fn send(
    s: &Served,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = s.client.request(method, format!("{}{path}", s.admin));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.expect("an answer");
    let status = r.status();
    let set_cookie = r.headers().get(SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    let doc = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
    (status, set_cookie, doc)
}

#[tokio::test]
async fn a_browser_signs_in_with_the_token_and_writes_only_with_the_csrf_header() {
    let none = r#""suffix": "/a", "auth": { "type": "none" }"#;
    let s = Served::with_flows(&[("a.json", flow("a", true, none, r#""status": 200"#))], &[]);
    let post = |body: Value| send(&s, Method::POST, "/api/session", None, &[], Some(body));

    let (status, set, doc) = post(json!({ "token": "not-it" })).await;
    assert_eq!((status, set), (StatusCode::UNAUTHORIZED, None), "{doc}");
    assert!(doc["detail"].as_str().unwrap().contains("not the admin token"), "{doc}");
    let (status, _, doc) = post(json!({ "tokn": ADMIN_TOKEN })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{doc}");

    let (status, set, doc) = post(json!({ "token": ADMIN_TOKEN })).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let set = set.expect("a cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    assert_eq!(doc["csrf_header"], "x-hookflow-csrf");
    assert!(doc["expires_at"].is_string());
    let cookie = set.split(';').next().unwrap().to_owned();

    let (status, _, doc) = send(&s, Method::GET, "/api/flows", Some(&cookie), &[], None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["items"][0]["id"], "a");
    let (status, _, doc) = send(&s, Method::POST, "/api/reload", Some(&cookie), &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{doc}");
    assert!(doc["detail"].as_str().unwrap().contains("`x-hookflow-csrf: 1`"), "{doc}");
    let csrf = [("x-hookflow-csrf", "1")];
    let (status, _, _) = send(&s, Method::POST, "/api/reload", Some(&cookie), &csrf, None).await;
    assert_eq!(status, StatusCode::OK);

    // The bearer token works as before, and a wrong one is refused even beside a good cookie.
    let bearer = [("authorization", "Bearer test-admin-token")];
    assert_eq!(send(&s, Method::POST, "/api/reload", None, &bearer, None).await.0, StatusCode::OK);
    let wrong = [("authorization", "Bearer nope")];
    let (status, _, _) = send(&s, Method::GET, "/api/flows", Some(&cookie), &wrong, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = "hookflow_session=forged";
    let (status, _, _) = send(&s, Method::GET, "/api/flows", Some(forged), &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, cleared, _) =
        send(&s, Method::DELETE, "/api/session", Some(&cookie), &[], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(cleared.unwrap().contains("Max-Age=0"));
    let (status, _, _) = send(&s, Method::GET, "/api/flows", Some(&cookie), &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session is closed");

    // Behind a proxy that says HTTPS, the cookie is Secure.
    let proxied = [("x-forwarded-proto", "https")];
    let body = Some(json!({ "token": ADMIN_TOKEN }));
    let (_, set, _) = send(&s, Method::POST, "/api/session", None, &proxied, body).await;
    assert!(set.unwrap().contains("; Secure"));
    s.stop();
}
