//! A real hookflow webhook server on `127.0.0.1:0` for tests: a temp flows directory, a temp data
//! directory with a redb store, the credentials the flows reference, and a reqwest client.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use hookflow_core::{compile_all, read_sources};
use hookflow_runtime::credentials::{self, CredentialKind};
use hookflow_server::{AppState, Deployed};
use hookflow_store::StoreKind;
use tempfile::TempDir;

/// The username of every basic credential the harness creates.
pub const BASIC_USER: &str = "tester";

/// A running server; it stops when the test's runtime ends.
pub struct Harness {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The secret of every credential the flows reference, by credential name.
    pub secrets: HashMap<String, String>,
    pub client: reqwest::Client,
    _flows: TempDir,
    _data: TempDir,
}

impl Harness {
    /// Serves the flows given as `(file name, JSON text)`, which must compile without errors.
    pub async fn with_flows(flows: &[(&str, &str)]) -> Harness {
        let dir = tempfile::tempdir().expect("temp flows dir");
        for (name, text) in flows {
            std::fs::write(dir.path().join(name), text).expect("write a flow");
        }
        Harness::serve(dir).await
    }

    /// Serves a copy of the flows in `src` (the example flows, say).
    pub async fn with_flows_from(src: &Path) -> Harness {
        let dir = tempfile::tempdir().expect("temp flows dir");
        for entry in std::fs::read_dir(src).expect("read flows dir") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                std::fs::copy(&path, dir.path().join(path.file_name().expect("file name")))
                    .expect("copy a flow");
            }
        }
        Harness::serve(dir).await
    }

    async fn serve(flows: TempDir) -> Harness {
        let (sources, unreadable) = read_sources(&[flows.path().to_path_buf()]);
        assert!(unreadable.is_empty(), "{unreadable:?}");
        let set = compile_all(&sources);
        assert!(!set.has_errors(), "{:#?}", set.diagnostics);
        let data = tempfile::tempdir().expect("temp data dir");
        let store = hookflow_store::open(StoreKind::Redb, data.path()).expect("open the store");
        let mut secrets = HashMap::new();
        for plan in &set.plans {
            let auth = &plan.trigger().auth;
            let Some(name) = auth.credential() else { continue };
            if secrets.contains_key(name) {
                continue;
            }
            let kind: CredentialKind = serde_json::to_value(auth).expect("auth serializes")["type"]
                .as_str()
                .expect("auth type")
                .parse()
                .expect("a credential kind");
            let username = (kind == CredentialKind::Basic).then(|| BASIC_USER.to_owned());
            let issued = credentials::create(&*store, name, kind, username, 0).expect("create");
            secrets.insert(name.to_owned(), issued.secret);
        }
        let state = Arc::new(AppState::load(Deployed::from(set), &*store).expect("load state"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(axum::serve(listener, hookflow_server::app(state)).into_future());
        Harness {
            base: format!("http://{addr}"),
            secrets,
            client: reqwest::Client::new(),
            _flows: flows,
            _data: data,
        }
    }

    /// The full URL of `path` (which starts with `/hooks`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The secret of credential `name`.
    pub fn secret(&self, name: &str) -> &str {
        self.secrets.get(name).map(String::as_str).unwrap_or_else(|| panic!("no credential {name}"))
    }
}

/// A one-webhook flow answering with a `respond` node; `webhook` is the webhook node's extra
/// fields (without the leading comma) and `respond` the respond node's.
pub fn flow(id: &str, active: bool, webhook: &str, respond: &str) -> String {
    format!(
        r#"{{ "id": "{id}", "name": "{id}", "active": {active},
  "nodes": [
    {{ "id": "hook", "type": "webhook", {webhook} }},
    {{ "id": "answer", "type": "respond", {respond} }}
  ],
  "edges": [ {{ "from": "hook", "to": "answer" }} ] }}"#
    )
}
