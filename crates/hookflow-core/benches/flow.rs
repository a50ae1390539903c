//! Criterion benchmarks of the order-intake example: compiling the flow, executing the compiled
//! plan on its sample request (both branches), the same with its two `js` fields removed (their
//! cost is the difference), and a `code` node that maps a 1 KB body.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use hookflow_core::services::{Offline, Services};
use hookflow_core::{ExecutionMeta, Plan, Prepared, Request, Source, compile, execute};
use serde_json::{Map, Value, json};

const FLOW: &str = include_str!("../../../flows/order-intake.json");

fn source() -> Source {
    Source { file: "flows/order-intake.json".into(), text: FLOW.into() }
}

fn request(body: &Value, query: &Map<String, Value>) -> Request {
    let mut params = Map::new();
    params.insert("region".into(), json!("eu"));
    let mut headers = Map::new();
    headers.insert("content-type".into(), json!("application/json"));
    headers.insert("x-api-key".into(), json!("redacted"));
    Request {
        method: "POST".into(),
        path: "/hooks/orders/eu".into(),
        params,
        query: query.clone(),
        headers,
        body: body.clone(),
        received_at: SystemTime::now(),
    }
}

/// Benchmarks executing `plan` as `meta` on `request`, which answers `status`.
fn bench_execute(
    c: &mut Criterion,
    name: &str,
    (plan, meta): (&Plan, &ExecutionMeta),
    request: Request,
    status: u16,
) {
    let services = Services::offline(&Arc::new(Offline::default()));
    c.bench_function(name, |b| {
        b.iter(|| {
            let prepared = Prepared::new(plan, request.clone(), meta.clone());
            let e = now(execute(plan, prepared, &services));
            assert_eq!(e.response.status, status);
            black_box(e)
        });
    });
}

/// Runs a future that never waits (a flow without I/O finishes on its first poll).
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the flow waited for I/O"),
    }
}

fn benches(c: &mut Criterion) {
    c.bench_function("compile order-intake", |b| {
        let source = source();
        b.iter(|| black_box(compile(black_box(&source))));
    });

    let plan = compile(&source()).plan.expect("order-intake compiles");
    let id = "0193a5c0-0000-7000-8000-000000000000";
    let meta = ExecutionMeta::new(id.into(), &plan, Some("erp".into()));
    let large = json!({ "id": "ORD-1", "customer": { "name": "Ada" }, "total": 120.5,
                        "items": [ { "sku": "A1", "qty": 2 }, { "sku": "B7", "qty": 1 } ] });
    let small = json!({ "id": "ORD-2", "customer": { "name": "Bo" }, "total": 40,
                        "items": [ { "sku": "C3", "qty": 1 } ] });
    let no_query = Map::new();
    let mut status_query = Map::new();
    status_query.insert("status".into(), json!("202"));

    bench_execute(
        c,
        "execute order-intake (review branch)",
        (&plan, &meta),
        request(&large, &no_query),
        201,
    );
    // The same flow without its two `js` fields (and the response fields that read them).
    let without: Value = {
        let mut doc: Value = serde_json::from_str(FLOW).expect("JSON");
        let fields = doc["nodes"][1]["fields"].as_object_mut().expect("the map's fields");
        fields.retain(|_, v| v.get("js").is_none());
        let body = doc["nodes"][3]["body"].as_object_mut().expect("the review body");
        body.retain(|k, _| k != "item_count" && k != "total_with_vat");
        doc
    };
    let text = without.to_string();
    let bare = compile(&Source { file: "flows/order-intake.json".into(), text })
        .plan
        .expect("the flow without js compiles");
    let bare_meta = ExecutionMeta::new(id.into(), &bare, Some("erp".into()));
    bench_execute(
        c,
        "execute order-intake without its js fields (review branch)",
        (&bare, &bare_meta),
        request(&large, &no_query),
        201,
    );

    // A code node that maps a 1 KB body into a new object.
    let code = json!({
        "id": "mapper", "name": "Mapper",
        "nodes": [
            { "id": "in", "type": "webhook", "suffix": "/m", "methods": ["POST"], "auth": { "type": "none" } },
            { "id": "map", "type": "code", "source":
              "const b = request.body;\nreturn { id: b.id, customer: b.customer.name.toUpperCase(), \
               lines: b.items.map(i => ({ sku: i.sku, qty: i.qty, amount: Math.round(i.qty * i.price * 100) / 100 })), \
               total: b.items.reduce((s, i) => s + i.qty * i.price, 0) };" },
            { "id": "answer", "type": "respond", "body": { "out": "$.nodes.map" } }
        ],
        "edges": [ { "from": "in", "to": "map" }, { "from": "map", "to": "answer" } ]
    });
    let code = compile(&Source { file: "mapper.json".into(), text: code.to_string() })
        .plan
        .expect("the code flow compiles");
    let code_meta = ExecutionMeta::new(id.into(), &code, None);
    let items: Vec<Value> = (0..16)
        .map(|i| json!({ "sku": format!("SKU-{i:04}"), "qty": i + 1, "price": 9.95, "note": "gift wrap" }))
        .collect();
    let kilobyte = json!({ "id": "ORD-9", "customer": { "name": "Ada Lovelace" }, "items": items });
    assert!((950..1100).contains(&kilobyte.to_string().len()), "{}", kilobyte.to_string().len());
    bench_execute(
        c,
        "execute a code node mapping a 1 KB body",
        (&code, &code_meta),
        request(&kilobyte, &no_query),
        200,
    );

    bench_execute(
        c,
        "execute order-intake (accept branch, status override)",
        (&plan, &meta),
        request(&small, &status_query),
        202,
    );
}

criterion_group!(flow, benches);
criterion_main!(flow);
