//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the admin listener. The document is
//! `docs/openapi.json`, served as it is checked in; it is public, like the docs, so it needs no
//! token.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as checked in.
pub const DOCUMENT: &str = include_str!("../../../../docs/openapi.json");

/// `GET /api/openapi.json`.
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use hookflow_runtime::credentials::digest;
    use hookflow_runtime::history::HistoryConfig;
    use hookflow_runtime::http_client::{NetworkPolicy, ReqwestClient};
    use hookflow_runtime::outbound::worker::DeliveryConfig;
    use hookflow_runtime::{Engine, EngineConfig};
    use hookflow_store::MemoryStore;
    use serde_json::Value;
    use tower::ServiceExt as _;

    use super::DOCUMENT;

    type Endpoints = BTreeMap<String, BTreeSet<String>>;

    fn described() -> Endpoints {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("docs/openapi.json is JSON");
        let paths = doc["paths"].as_object().expect("the document has paths");
        let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
        paths
            .iter()
            .map(|(path, item)| {
                let item = item.as_object().expect("a path item is an object");
                let mine = item.keys().filter(|k| methods.contains(&k.as_str()));
                (path.clone(), mine.map(|m| m.to_uppercase()).collect())
            })
            .collect()
    }

    async fn router() -> axum::Router {
        let dir = tempfile::tempdir().expect("a temp dir");
        let http = ReqwestClient::new(NetworkPolicy::AllowPrivate).expect("an HTTP client");
        let config = EngineConfig {
            flows: dir.path().join("no-flows"),
            data: dir.path().to_path_buf(),
            store: Arc::new(MemoryStore::new()),
            http: Arc::new(http),
            history: HistoryConfig::default(),
            workers: 1,
            queue_capacity: 1,
            public_base: String::new(),
            announce: Box::new(|_| {}),
            outbound: DeliveryConfig::default(),
        };
        let (engine, _) = Engine::start(config).await.expect("the engine starts");
        super::super::router(engine, digest("token"))
    }

    /// Every path the router mounts (axum lists them in its `Debug` output, and nowhere else).
    fn mounted_paths(router: &axum::Router) -> Vec<String> {
        let debug = format!("{router:?}");
        let routes = debug.split("fallback_router:").next().unwrap_or_default();
        let paths = routes.split_once("paths: {").map(|(_, p)| p).unwrap_or_default();
        paths
            .split("): \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect()
    }

    /// The methods `path` is mounted with, from the `Allow` of a `405` to `TRACE`.
    async fn methods(router: &axum::Router, path: &str) -> BTreeSet<String> {
        let uri = path.replace('{', "x").replace('}', "");
        let request = Request::builder()
            .method(Method::TRACE)
            .uri(&uri)
            .header(header::AUTHORIZATION, "Bearer token")
            .body(Body::empty())
            .expect("a request");
        let response = router.clone().oneshot(request).await.expect("an answer");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "TRACE {uri}");
        let allow = response.headers()[header::ALLOW].to_str().expect("ASCII").to_owned();
        let mut methods: BTreeSet<String> = allow.split(',').map(|m| m.trim().to_owned()).collect();
        if methods.contains("GET") {
            methods.remove("HEAD");
        }
        methods
    }

    #[tokio::test]
    async fn the_document_describes_exactly_what_the_router_mounts() {
        let router = router().await;
        let mut described = described();
        let mounted = mounted_paths(&router);
        assert!(mounted.iter().any(|p| p == "/api/executions/{id}"), "{mounted:?}");
        for path in &mounted {
            let mut methods = methods(&router, path).await;
            if path == "/api/flows/validate" {
                // A flow whose id is `validate` is shown, put and deleted at this path too: those
                // are the operations of `/api/flows/{id}`, described there.
                methods.retain(|m| m == "POST");
            }
            assert_eq!(described.remove(path), Some(methods), "{path}: described as mounted");
        }
        assert_eq!(described, Endpoints::new(), "described, but not mounted");
    }
}
