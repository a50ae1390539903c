//! A real hookflow webhook server on `127.0.0.1:0` for tests: a temp flows directory, a temp data
//! directory with a redb store, the credentials the flows reference, and a reqwest client. Also
//! the real `hookflow serve` binary as a process ([`ServeProcess`]), and that process with its
//! admin token and a client for the admin API ([`Served`]).

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hookflow_core::{compile_all, read_sources};
use hookflow_runtime::credentials::{self, CredentialKind};
use hookflow_runtime::history::{History, HistoryConfig};
use hookflow_runtime::http_client::{NetworkPolicy, ReqwestClient};
use hookflow_runtime::outbound::worker::DeliveryConfig;
use hookflow_runtime::{Engine, EngineConfig};
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
    /// The server's history (its store holds the executions).
    pub history: Arc<History>,
    /// The engine behind the server.
    pub engine: Arc<Engine>,
    _flows: TempDir,
    _data: TempDir,
}

impl Harness {
    /// Serves the flows given as `(file name, JSON text)`, which must compile without errors.
    pub async fn with_flows(flows: &[(&str, &str)]) -> Harness {
        Harness::with_flows_and_queue(flows, (4, 64)).await
    }

    /// Like [`Harness::with_flows`], with `(workers, capacity)` for the `accepted` queue.
    pub async fn with_flows_and_queue(flows: &[(&str, &str)], queue: (usize, usize)) -> Harness {
        let dir = tempfile::tempdir().expect("temp flows dir");
        for (name, text) in flows {
            std::fs::write(dir.path().join(name), text).expect("write a flow");
        }
        Harness::serve(dir, queue).await
    }

    /// Serves a copy of the flows in `src` (the example flows, say).
    pub async fn with_flows_from(src: &Path) -> Harness {
        let dir = tempfile::tempdir().expect("temp flows dir");
        copy_flows(src, dir.path());
        Harness::serve(dir, (4, 64)).await
    }

    async fn serve(flows: TempDir, (workers, capacity): (usize, usize)) -> Harness {
        let (sources, unreadable) = read_sources(&[flows.path().to_path_buf()]);
        assert!(unreadable.is_empty(), "{unreadable:?}");
        let set = compile_all(&sources);
        assert!(!set.has_errors(), "{:#?}", set.diagnostics);
        let data = tempfile::tempdir().expect("temp data dir");
        let store = hookflow_store::open(StoreKind::Redb, data.path()).expect("open the store");
        let mut secrets = HashMap::new();
        for plan in &set.plans {
            let Some(auth) = plan.webhook().map(|hook| &hook.auth) else { continue };
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
        let http = ReqwestClient::new(NetworkPolicy::AllowPrivate).expect("http client");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (engine, loaded) = Engine::start(EngineConfig {
            flows: flows.path().to_path_buf(),
            data: data.path().to_path_buf(),
            store,
            http: Arc::new(http),
            history: HistoryConfig::default(),
            workers,
            queue_capacity: capacity,
            public_base: format!("http://{addr}"),
            announce: Box::new(|_| {}),
            outbound: DeliveryConfig { network: NetworkPolicy::AllowPrivate, ..Default::default() },
        })
        .await
        .expect("start the engine");
        assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
        let history = engine.history.clone();
        tokio::spawn(hookflow_server::listener::serve(
            listener,
            hookflow_server::app(engine.clone()),
            hookflow_server::listener::Limits::default(),
            std::future::pending(),
        ));
        Harness {
            base: format!("http://{addr}"),
            history,
            engine,
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

    /// The flows directory the engine reads.
    pub fn flows_dir(&self) -> &Path {
        self._flows.path()
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

/// A real `hookflow serve` process on `127.0.0.1:0`, its log lines (standard error) and its
/// standard output read as they come.
pub struct ServeProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: mpsc::Receiver<String>,
    deadline: Instant,
}

/// Every line left on `lines` up to their end (panics if they do not end within 10 s).
fn rest_of(lines: &mpsc::Receiver<String>, what: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut rest = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => rest.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => return rest,
            Err(e) => panic!("hookflow serve's {what} did not end: {e}"),
        }
    }
}

/// Sends each line `from` yields to a channel, on a thread of its own.
fn read_lines(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl ServeProcess {
    /// Starts `hookflow serve` on `flows` and `data` with `extra` arguments.
    pub fn start(flows: &Path, data: &Path, extra: &[&str]) -> ServeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookflow"))
            .args(["serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--flows"])
            .arg(flows)
            .arg("--data")
            .arg(data)
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("HOOKFLOW_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hookflow serve");
        let lines = read_lines(child.stderr.take().expect("stderr"));
        let stdout = read_lines(child.stdout.take().expect("stdout"));
        ServeProcess { child, lines, stdout, deadline: Instant::now() + Duration::from_secs(30) }
    }

    /// The admin listener's address, from the log (logged after the webhook listener's, so call
    /// this after [`ServeProcess::addr`]).
    pub fn admin_addr(&mut self) -> String {
        let line = self.wait_for_line("admin listening on http://");
        line.rsplit("http://").next().expect("an address").trim().to_owned()
    }

    /// The first line of standard output containing `needle` (panics after 30 s from the start).
    pub fn wait_for_stdout(&mut self, needle: &str) -> String {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no `{needle}` line on hookflow serve's standard output: {e}"),
            }
        }
    }

    /// Every line of standard output not read yet, up to its end: call it once the process has
    /// exited (panics if the output does not end within 10 s).
    pub fn rest_of_stdout(&mut self) -> Vec<String> {
        rest_of(&self.stdout, "standard output")
    }

    /// Every log line not read yet, up to the end of the log: call it once the process has
    /// exited (panics if the log does not end within 10 s).
    pub fn rest_of_log(&mut self) -> Vec<String> {
        rest_of(&self.lines, "log")
    }

    /// The first log line containing `needle` (panics after 30 s from the start).
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no `{needle}` line from hookflow serve: {e}"),
            }
        }
    }

    /// The webhook listener's address, from the log.
    pub fn addr(&mut self) -> String {
        let line = self.wait_for_line("webhooks listening on http://");
        line.rsplit("http://").next().expect("an address").trim().to_owned()
    }

    /// Sends SIGTERM to the process (by its PID) and waits for it to exit, at most `within`.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        eventually_blocking("hookflow serve stops", within, || {
            self.child.try_wait().expect("wait for the child")
        })
    }

    /// Kills the process we started and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("kill the child we started");
        self.child.wait().expect("reap the child");
    }

    /// Sends SIGHUP to the process (by its PID): it reloads its flows.
    pub fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP failed");
    }
}

/// Copies a flows directory: its JSON files (flows and cases) and the JavaScript files below it
/// that `code` nodes read, in the same layout.
pub fn copy_flows(src: &Path, dst: &Path) {
    for entry in std::fs::read_dir(src).expect("read a flows dir") {
        let path = entry.expect("dir entry").path();
        let target = dst.join(path.file_name().expect("file name"));
        if path.is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_flows(&path, &target);
        } else if path.extension().is_some_and(|e| e == "json" || e == "js") {
            std::fs::copy(&path, &target).expect("copy a flow file");
        }
    }
}

/// The admin token [`Served`] starts `hookflow serve` with.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A `hookflow serve` process on given flows and data directories (which outlive it, so that a
/// test can restart it on them) or on temporary ones, with the admin token and a client; killed
/// when dropped.
pub struct Served {
    process: Option<ServeProcess>,
    /// `http://` + the webhook listener's address.
    pub hooks: String,
    /// `http://` + the admin listener's address.
    pub admin: String,
    pub client: reqwest::Client,
    /// The temporary directories it serves from, removed after it stops.
    dirs: Vec<TempDir>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
    }
}

impl Served {
    /// Starts `hookflow serve` with [`ADMIN_TOKEN`] and `extra` arguments and waits until both
    /// listeners are up.
    pub fn start(flows: &Path, data: &Path, extra: &[&str]) -> Served {
        let mut args = vec!["--admin-token", ADMIN_TOKEN];
        args.extend_from_slice(extra);
        let mut process = ServeProcess::start(flows, data, &args);
        let hooks = format!("http://{}", process.addr());
        let admin = format!("http://{}", process.admin_addr());
        Served {
            process: Some(process),
            hooks,
            admin,
            client: reqwest::Client::new(),
            dirs: Vec::new(),
        }
    }

    /// Starts `hookflow serve` on the flows given as `(file name, JSON text)`, in a temporary
    /// flows directory, with a temporary data directory.
    pub fn with_flows(flows: &[(&str, String)], extra: &[&str]) -> Served {
        let (dir, data) =
            (tempfile::tempdir().expect("flows dir"), tempfile::tempdir().expect("data dir"));
        for (name, text) in flows {
            std::fs::write(dir.path().join(name), text).expect("write a flow");
        }
        let mut served = Served::start(dir.path(), data.path(), extra);
        served.dirs = vec![dir, data];
        served
    }

    /// The process, to read its output or signal it.
    pub fn process(&mut self) -> &mut ServeProcess {
        self.process.as_mut().expect("the process runs until the end of the test")
    }

    /// Kills the process with SIGKILL: nothing it held in memory survives.
    pub fn kill(mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
    }

    /// Stops the process with SIGTERM and waits for it to exit.
    pub fn stop(self) {
        self.stop_within(Duration::from_secs(10));
    }

    /// Stops the process with SIGTERM, checks that it exits cleanly within `within`, and
    /// answers the log lines not read yet.
    pub fn stop_within(mut self, within: Duration) -> Vec<String> {
        let mut process = self.process.take().expect("the process runs until stopped");
        assert!(process.terminate(within).success(), "a clean exit");
        process.rest_of_log()
    }

    /// The full URL of webhook `path` (after `/hooks`).
    pub fn hook(&self, path: &str) -> String {
        format!("{}/hooks{path}", self.hooks)
    }

    /// Calls the admin API with the token: the status and the JSON answer, `null` for none (an
    /// error is checked to be problem+json with its status).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request =
            self.client.request(method, format!("{}{path}", self.admin)).bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let r = request.send().await.expect("the admin API answers");
        let status = r.status();
        let content_type =
            r.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned());
        let text = r.text().await.expect("an answer's body");
        let doc: serde_json::Value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON answer")
        };
        if !status.is_success() {
            assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{doc}");
            assert_eq!(doc["status"], status.as_u16(), "{doc}");
        }
        (status, doc)
    }

    /// `GET path` on the admin listener without the token: the status, content type and text.
    pub async fn open(&self, path: &str) -> (reqwest::StatusCode, String, String) {
        let r = self.client.get(format!("{}{path}", self.admin)).send().await.expect("an answer");
        let status = r.status();
        let content_type = r.headers()["content-type"].to_str().expect("ASCII").to_owned();
        (status, content_type, r.text().await.expect("an answer's body"))
    }

    /// Runs `hookflow ARGS` against this server's admin API: exit code, stdout, stderr.
    pub fn cli(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let o = Command::new(env!("CARGO_BIN_EXE_hookflow"))
            .args(args)
            .args(["--admin-url", &self.admin])
            .env("HOOKFLOW_ADMIN_TOKEN", ADMIN_TOKEN)
            .env_remove("HOOKFLOW_ADMIN_URL")
            .output()
            .expect("run hookflow");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (o.status.code(), text(o.stdout), text(o.stderr))
    }
}

/// Sends `request`, which must be refused: the status and the problem document, checked to be
/// `application/problem+json` naming its status. Send a body the server will not read (one over
/// a limit) from a client of its own: the server closes that connection.
pub async fn problem(request: reqwest::RequestBuilder) -> (reqwest::StatusCode, serde_json::Value) {
    let r = request.send().await.expect("an answer");
    let status = r.status();
    let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned());
    let text = r.text().await.expect("a body");
    assert!(status.is_client_error() || status.is_server_error(), "{status}: {text}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{status}: {text}");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("a JSON problem");
    assert_eq!(doc["status"], status.as_u16(), "{doc}");
    assert!(doc["title"].is_string() && doc["detail"].is_string(), "{doc}");
    (status, doc)
}

/// How often [`eventually`] and [`eventually_blocking`] check again.
const POLL: Duration = Duration::from_millis(10);

/// Checks `check` until it answers `Some`, every 10 ms for `timeout` at most; panics naming
/// `what` when it does not.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a check that blocks: the thread sleeps between checks.
pub fn eventually_blocking<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(POLL);
    }
}

/// A webhook receiver on `127.0.0.1:0` that keeps every request it gets (headers, raw body,
/// arrival time) and answers each with the next of its scripted answers, `200` once they are
/// used up.
pub struct Receiver {
    pub url: String,
    state: Arc<std::sync::Mutex<ReceiverState>>,
}

/// A request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: axum::http::HeaderMap,
    pub body: axum::body::Bytes,
    pub at: Instant,
}

impl Received {
    /// Header `name`, which must be there.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap_or_else(|| panic!("no {name}")).to_str().expect("ASCII")
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A scripted answer: its status and headers.
pub type Answer = (u16, Vec<(&'static str, &'static str)>);

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    script: std::collections::VecDeque<Answer>,
    /// How long each answer takes.
    delay: Duration,
}

impl Receiver {
    /// A receiver that answers `200` to everything.
    pub async fn start() -> Receiver {
        Receiver::answering(Vec::new()).await
    }

    /// A receiver that answers with `script`, in order, then `200`.
    pub async fn answering(script: Vec<Answer>) -> Receiver {
        Receiver::serve(ReceiverState { script: script.into(), ..ReceiverState::default() }).await
    }

    /// A receiver that takes `delay` to answer each request `200`.
    pub async fn slow(delay: Duration) -> Receiver {
        Receiver::serve(ReceiverState { delay, ..ReceiverState::default() }).await
    }

    async fn serve(state: ReceiverState) -> Receiver {
        type Shared = Arc<std::sync::Mutex<ReceiverState>>;
        async fn keep(
            axum::extract::State(state): axum::extract::State<Shared>,
            headers: axum::http::HeaderMap,
            body: axum::body::Bytes,
        ) -> axum::response::Response {
            let ((status, headers), delay) = {
                let mut state = state.lock().unwrap();
                state.received.push(Received { headers, body, at: Instant::now() });
                (state.script.pop_front().unwrap_or((200, Vec::new())), state.delay)
            };
            tokio::time::sleep(delay).await;
            let mut response = axum::response::IntoResponse::into_response(
                axum::http::StatusCode::from_u16(status).expect("a status"),
            );
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().expect("a header value"));
            }
            response
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("local addr"));
        let state: Shared = Arc::new(std::sync::Mutex::new(state));
        let app = axum::Router::new().fallback(keep).with_state(state.clone());
        tokio::spawn(axum::serve(listener, app).into_future());
        Receiver { url, state }
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Every body received so far, in order, as JSON.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.received().iter().map(Received::json).collect()
    }
}
