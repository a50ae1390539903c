//! The admin API from the command line: the options every client command takes
//! (`--admin-url`, `--admin-token`), the HTTP client, and how an answer becomes output and an exit
//! code (0 = done, 1 = the server said no, its problem detail printed; 2 = could not run).

use std::time::Duration;

use serde_json::Value;

use super::{exit, print};

/// Exit code when the server answered with an error.
const REFUSED: u8 = 1;
/// How long to wait for a connection, and for an answer (a replay runs the flow).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the admin API is, and its token.
#[derive(Debug, clap::Args)]
pub struct AdminOptions {
    /// The admin listener's base URL.
    #[arg(
        long,
        global = true,
        env = "HOOKFLOW_ADMIN_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    admin_url: String,
    /// The admin token (`hookflow serve` printed it when it generated it).
    #[arg(long, global = true, env = "HOOKFLOW_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

impl AdminOptions {
    /// An HTTP client for the admin API, its base URL (without a trailing `/`) and the token.
    pub(super) fn connect(&self) -> Result<(reqwest::Client, &str, &str), Failure> {
        let token =
            self.admin_token.as_deref().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                Failure::CouldNotRun(
                    "no admin token: pass --admin-token or set HOOKFLOW_ADMIN_TOKEN".into(),
                )
            })?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(ANSWER_TIMEOUT)
            .build()
            .map_err(|e| Failure::CouldNotRun(format!("cannot build an HTTP client: {e}")))?;
        Ok((client, self.admin_url.trim_end_matches('/'), token))
    }
}

/// Why the command did not print its result, and its exit code.
pub(super) enum Failure {
    /// The server answered with an error status.
    Refused(String),
    /// No answer, or an answer that is not JSON.
    CouldNotRun(String),
}

/// Runs an admin API client on a runtime of its own, prints its text and answers the exit code
/// (0 = done, 1 = the server refused, 2 = could not run), with messages as `hookflow <command>`.
pub(super) fn answer(
    command: &str,
    client: impl FnOnce(&tokio::runtime::Runtime) -> Result<String, Failure>,
) -> u8 {
    answer_with_code(command, |runtime| client(runtime).map(|text| (text, exit::OK)))
}

/// [`answer`] for a client whose result has an exit code of its own (a delivery attempt that
/// failed prints what happened, and exits non-zero).
pub(super) fn answer_with_code(
    command: &str,
    client: impl FnOnce(&tokio::runtime::Runtime) -> Result<(String, u8), Failure>,
) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hookflow {command}: cannot start the async runtime: {e}");
            return exit::COULD_NOT_RUN;
        }
    };
    match client(&runtime) {
        Ok((text, code)) => {
            print(&text);
            code
        }
        Err(Failure::Refused(message)) => {
            eprintln!("hookflow {command}: {message}");
            REFUSED
        }
        Err(Failure::CouldNotRun(message)) => {
            eprintln!("hookflow {command}: {message}");
            exit::COULD_NOT_RUN
        }
    }
}

/// An id as one path segment (an id with `/` or `?` in it cannot reach another endpoint).
pub(super) fn segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sends `request`; answers the JSON of a 2xx answer (`null` for an empty one, as `204`).
pub(super) async fn send(request: reqwest::RequestBuilder, base: &str) -> Result<Value, Failure> {
    send_with(request, base, |_| None).await
}

/// [`send`], naming in a refusal the command-line option behind each request-body field the
/// server found wrong: `option` maps a JSON pointer (`/url`) to the option (`--url`).
pub(super) async fn send_with(
    request: reqwest::RequestBuilder,
    base: &str,
    option: impl Fn(&str) -> Option<String>,
) -> Result<Value, Failure> {
    let response = request.send().await.map_err(|e| {
        let why = if e.is_connect() {
            "cannot connect"
        } else if e.is_timeout() {
            "no answer in time"
        } else {
            "the request failed"
        };
        Failure::CouldNotRun(format!(
            "{why} to the admin API at {base}: {e} (is `hookflow serve` running? see --admin-url)"
        ))
    })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| Failure::CouldNotRun(format!("cannot read the admin API's answer: {e}")))?;
    let doc: Option<Value> = serde_json::from_str(&text).ok();
    if status.is_success() {
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        return doc.ok_or_else(|| {
            Failure::CouldNotRun("the admin API answered something that is not JSON".into())
        });
    }
    let detail = doc
        .as_ref()
        .and_then(|d| d.get("detail"))
        .and_then(Value::as_str)
        .map_or_else(|| text.chars().take(500).collect(), str::to_owned);
    // A refused body field (`pointer`) is named by its option too.
    let at = doc.as_ref().and_then(|d| d.get("pointer")).and_then(Value::as_str).and_then(option);
    let see = at.map(|o| format!(" (see {o})")).unwrap_or_default();
    Err(Failure::Refused(format!("{status}: {detail}{see}")))
}

/// A JSON value as plain text: strings without quotes, `null` as `-`.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
