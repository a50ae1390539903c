//! hookflow-baseline: the work of `flows/order-intake.json` written by hand on bare axum + tokio.
//!
//! `POST /hooks/orders/{region}` with an `X-API-Key` header compared in constant time against the
//! `BASELINE_API_KEY` environment variable; the JSON body is mapped to
//! `order_id, customer, total, region, skus, channel, item_count, total_with_vat` (the number of
//! items, and the total × 1.2 rounded to cents, as the flow's two `js` fields compute them); an
//! order whose total is over 100 is held for review (201, `X-Order-Id`, `{id, review: true, skus,
//! item_count, total_with_vat, message}`), any other is accepted
//! (201 or the `?status=` override, `{id, review: false}`). Usage:
//! `BASELINE_API_KEY=... hookflow-baseline [ADDR]` (default `127.0.0.1:0`); prints the bound
//! address as `listening on http://ADDR`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

/// The environment variable holding the expected API key.
const KEY_ENV: &str = "BASELINE_API_KEY";

/// The order-intake `map` node's output.
struct Order {
    order_id: Value,
    customer: Value,
    total: Value,
    #[allow(dead_code)]
    region: String,
    skus: Vec<Value>,
    #[allow(dead_code)]
    channel: &'static str,
    /// `request.body.items.length` (JavaScript: a missing `items` fails the run).
    item_count: Option<usize>,
    /// `Math.round(request.body.total * 1.2 * 100) / 100`.
    total_with_vat: Value,
}

fn main() {
    let key = match std::env::var(KEY_ENV) {
        Ok(k) if !k.is_empty() => k,
        _ => {
            eprintln!("hookflow-baseline: set {KEY_ENV} to the expected API key");
            std::process::exit(2);
        }
    };
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        let bound = listener.local_addr().expect("no local address");
        let app = Router::new()
            .route("/hooks/orders/{region}", post(orders))
            .with_state(Arc::new(key.into_bytes()));
        println!("listening on http://{bound}");
        axum::serve(listener, app).await.expect("server failed");
    });
}

async fn orders(
    State(key): State<Arc<Vec<u8>>>,
    Path(region): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let presented = headers.get("x-api-key").map(HeaderValue::as_bytes).unwrap_or_default();
    if !bool::from(presented.ct_eq(key.as_slice())) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized", "Missing or invalid credentials.");
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return problem(StatusCode::BAD_REQUEST, "Malformed body", "The body is not valid JSON.");
        }
    };
    let order = Order {
        order_id: body.get("id").cloned().unwrap_or(Value::Null),
        customer: body.pointer("/customer/name").cloned().unwrap_or(Value::Null),
        total: body.get("total").cloned().unwrap_or(Value::Null),
        region,
        skus: body
            .get("items")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(|i| i.get("sku").cloned()).collect())
            .unwrap_or_default(),
        channel: "erp",
        item_count: body.get("items").and_then(Value::as_array).map(Vec::len),
        total_with_vat: body
            .get("total")
            .and_then(Value::as_f64)
            .map(|t| json_number((t * 1.2 * 100.0).round() / 100.0))
            .unwrap_or(Value::Null),
    };
    let Some(item_count) = order.item_count else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Flow failed",
            "The flow failed while handling this request. Look up the execution for details.",
        );
    };
    let large = order.total.as_f64().is_some_and(|t| t > 100.0);
    if large {
        let id = text(&order.order_id);
        let message = format!("Order {id} for {} is held for review", text(&order.customer));
        let body = json!({
            "id": order.order_id, "review": true, "skus": order.skus, "item_count": item_count,
            "total_with_vat": order.total_with_vat, "message": message,
        });
        let mut response = json_response(StatusCode::CREATED, &body);
        if let Ok(v) = HeaderValue::from_str(&id) {
            response.headers_mut().insert("x-order-id", v);
        }
        response
    } else {
        let status = match query.get("status") {
            None => StatusCode::CREATED,
            Some(s) => match s.trim().parse::<u16>().ok().and_then(|n| StatusCode::from_u16(n).ok()) {
                Some(code) if (200..=599).contains(&code.as_u16()) => code,
                _ => {
                    return problem(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Flow failed",
                        "The flow failed while handling this request. Look up the execution for details.",
                    );
                }
            },
        };
        json_response(status, &json!({ "id": order.order_id, "review": false }))
    }
}

/// A JavaScript number as JSON: whole numbers as integers.
fn json_number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// A value as a template renders it: strings bare, null empty, anything else as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({ "type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/problem+json")], bytes).into_response()
}
