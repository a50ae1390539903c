//! `hookflow subscriptions ...`: the outbound webhook subscriptions of a running `hookflow serve`
//! and their deliveries, through its admin API (`--admin-url`, `--admin-token`). A signing secret
//! is printed once, when it is issued; header values given here are never printed. Exit 0 =
//! done, 1 = the server said no (its problem detail is printed) or the delivery attempt of `test`
//! or `retry` got no `2xx`, 2 = could not run (no connection, bad arguments).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use hookflow_core::pointer;
use hookflow_store::DeliveryStatus;
use serde_json::{Map, Value, json};

use super::admin_client::{AdminOptions, Failure, answer_with_code, segment, send_with, text};
use super::{Format, exit, table};

/// What a header's value shows in place of the value.
const REDACTED: &str = "[redacted]";
/// The longest last error a deliveries table shows in full.
const TABLE_ERROR_CHARS: usize = 60;
/// The most of a receiver's answer body `test` and `retry` show, on one line.
const OUTCOME_BODY_CHARS: usize = 300;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    admin: AdminOptions,
    /// `human` (default) or `json` (the admin API's answer as it is).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Print the admin API's answer as it is (the same as `--format json`).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a subscription and print its signing secret, once.
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
        /// Where deliveries are POSTed (`http` or `https`).
        #[arg(long)]
        url: String,
        /// An event type to deliver (repeat it, or separate with commas); default `*`, all.
        #[arg(long = "event", value_name = "TYPE", value_delimiter = ',')]
        events: Vec<String>,
        /// What the subscription is for.
        #[arg(long)]
        description: Option<String>,
        /// A header every delivery carries (repeat it); the value is kept secret.
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
        #[command(flatten)]
        payload: PayloadArgs,
        /// Create it paused: its events are held until `resume`.
        #[arg(long)]
        paused: bool,
    },
    /// List the subscriptions (never their secrets or header values).
    List,
    /// Show one subscription.
    Show { id: String },
    /// Change a subscription: what is given replaces what it had.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        url: Option<String>,
        /// The event types to deliver, replacing the current ones (repeat it, or separate with
        /// commas; `*` for all).
        #[arg(long = "event", value_name = "TYPE", value_delimiter = ',')]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        /// A header every delivery carries; the headers given replace all the current ones.
        #[arg(long = "header", value_name = "NAME=VALUE", conflicts_with = "no_headers")]
        headers: Vec<String>,
        /// Remove every header.
        #[arg(long)]
        no_headers: bool,
        #[command(flatten)]
        payload: PayloadArgs,
        /// Send the default event envelope again instead of a payload expression.
        #[arg(long, conflicts_with_all = ["payload", "payload_file"])]
        default_payload: bool,
    },
    /// Pause a subscription: its events are held (not lost) until `resume`.
    Pause { id: String },
    /// Resume a paused or disabled subscription: the events held meanwhile are sent.
    Resume { id: String },
    /// Delete a subscription and its deliveries.
    Delete { id: String },
    /// Send a `test` event now and print how the attempt went (exit 1 without a `2xx`).
    Test { id: String },
    /// Issue a new signing secret and print it once; the current one keeps signing beside it for
    /// `--grace`.
    RotateSecret {
        id: String,
        /// How long the current secret keeps signing (e.g. `24h`, `30m`, or seconds); default
        /// none.
        #[arg(long, value_name = "DURATION", value_parser = grace)]
        grace: Option<u64>,
    },
    /// List a subscription's deliveries, newest first.
    Deliveries {
        id: String,
        /// Only deliveries with this status: pending, succeeded or failed.
        #[arg(long)]
        status: Option<DeliveryStatus>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
        /// Continue after this delivery (the `next_cursor` of the previous page).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one delivery: its payload and every attempt with the receiver's answer.
    Delivery { id: String },
    /// Send a delivery again now, whatever its status (exit 1 without a `2xx`).
    Retry {
        #[arg(value_name = "DELIVERY_ID")]
        id: String,
    },
    /// List the event types a subscription can name.
    EventTypes,
}

/// The payload expression of `create` and `update`.
#[derive(Debug, clap::Args)]
struct PayloadArgs {
    /// The payload expression (JSON) that shapes what each delivery sends, instead of the
    /// default event envelope.
    #[arg(long, value_name = "JSON", conflicts_with = "payload_file")]
    payload: Option<String>,
    /// The payload expression, from a JSON file.
    #[arg(long, value_name = "FILE")]
    payload_file: Option<PathBuf>,
}

impl PayloadArgs {
    /// The expression given, if any.
    fn read(&self) -> Result<Option<Value>, Failure> {
        if let Some(text) = &self.payload {
            return serde_json::from_str(text)
                .map(Some)
                .map_err(|e| Failure::CouldNotRun(format!("--payload is not JSON: {e}")));
        }
        let Some(path) = &self.payload_file else { return Ok(None) };
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::CouldNotRun(format!("--payload-file: cannot read {}: {e}", path.display()))
        })?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Failure::CouldNotRun(format!("--payload-file: {} is not JSON: {e}", path.display()))
        })
    }
}

/// `--grace`: a duration such as `24h` or `1h 30m`, or a number of seconds, as whole seconds
/// (a fraction of a second counts as one).
fn grace(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    let duration = humantime::parse_duration(text).map_err(|e| {
        format!("`{text}` is not a duration such as `24h`, `30m` or `90s` (or seconds): {e}")
    })?;
    Ok(duration.as_secs() + u64::from(duration.subsec_nanos() > 0))
}

/// The `--header NAME=VALUE` options as a map. A message never repeats a value: the name is
/// split off at the first `=`, and only it is named.
fn headers(given: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (i, option) in given.iter().enumerate() {
        let Some((name, value)) = option.split_once('=') else {
            return Err(Failure::CouldNotRun(format!(
                "--header #{}: give NAME=VALUE (there is no `=`)",
                i + 1
            )));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(Failure::CouldNotRun(format!(
                "--header #{}: the name before `=` is empty",
                i + 1
            )));
        }
        if out.keys().any(|seen| seen.eq_ignore_ascii_case(name)) {
            return Err(Failure::CouldNotRun(format!("--header `{name}` is given twice")));
        }
        out.insert(name.to_owned(), value.to_owned());
    }
    Ok(out)
}

/// The option behind a request-body field (`/url` → `--url`), for the server's refusals.
fn option_of(pointer: &str) -> Option<String> {
    let mut parts = pointer.strip_prefix('/')?.splitn(2, '/');
    let field = parts.next()?;
    let rest = parts.next();
    Some(match field {
        "name" => "--name".into(),
        "url" => "--url".into(),
        "events" => "--event".into(),
        "description" => "--description".into(),
        "payload" => "--payload".into(),
        "active" => "pause/resume".into(),
        "grace_seconds" => "--grace".into(),
        "headers" => match rest {
            Some(name) if !name.is_empty() => {
                let name = name.split('/').next().unwrap_or(name);
                format!("--header {}", pointer::unescape(name))
            }
            _ => "--header".into(),
        },
        _ => return None,
    })
}

pub fn main(args: Args) -> u8 {
    answer_with_code("subscriptions", |runtime| runtime.block_on(run(&args)))
}

async fn run(args: &Args) -> Result<(String, u8), Failure> {
    let (client, base, token) = args.admin.connect()?;
    let subscription = |id: &str| format!("{base}/api/subscriptions/{}", segment(id));
    let request = match &args.command {
        Command::Create { name, url, events, description, headers: given, payload, paused } => {
            let mut body = json!({
                "name": name,
                "url": url,
                "events": if events.is_empty() { vec!["*".to_owned()] } else { events.clone() },
                "active": !paused,
            });
            if let Some(description) = description {
                body["description"] = json!(description);
            }
            let headers = headers(given)?;
            if !headers.is_empty() {
                body["headers"] = json!(headers);
            }
            if let Some(payload) = payload.read()? {
                body["payload"] = payload;
            }
            client.post(format!("{base}/api/subscriptions")).json(&body)
        }
        Command::List => client.get(format!("{base}/api/subscriptions")),
        Command::Show { id } => client.get(subscription(id)),
        Command::Update {
            id,
            name,
            url,
            events,
            description,
            headers: given,
            no_headers,
            payload,
            default_payload,
        } => {
            let mut patch = Map::new();
            if let Some(name) = name {
                patch.insert("name".into(), json!(name));
            }
            if let Some(url) = url {
                patch.insert("url".into(), json!(url));
            }
            if !events.is_empty() {
                patch.insert("events".into(), json!(events));
            }
            if let Some(description) = description {
                patch.insert("description".into(), json!(description));
            }
            if *no_headers {
                patch.insert("headers".into(), json!({}));
            } else if !given.is_empty() {
                patch.insert("headers".into(), json!(headers(given)?));
            }
            if *default_payload {
                patch.insert("payload".into(), Value::Null);
            } else if let Some(payload) = payload.read()? {
                patch.insert("payload".into(), payload);
            }
            if patch.is_empty() {
                return Err(Failure::CouldNotRun(
                    "nothing to change: give --name, --url, --event, --description, --header, \
                     --no-headers, --payload, --payload-file or --default-payload"
                        .into(),
                ));
            }
            client.patch(subscription(id)).json(&patch)
        }
        Command::Pause { id } => client.patch(subscription(id)).json(&json!({ "active": false })),
        Command::Resume { id } => client.patch(subscription(id)).json(&json!({ "active": true })),
        Command::Delete { id } => client.delete(subscription(id)),
        Command::Test { id } => client.post(format!("{}/test", subscription(id))),
        Command::RotateSecret { id, grace } => {
            let request = client.post(format!("{}/rotate-secret", subscription(id)));
            match grace {
                Some(seconds) => request.json(&json!({ "grace_seconds": seconds })),
                None => request,
            }
        }
        Command::Deliveries { id, status, limit, cursor } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(status) = status {
                query.push(("status", status.as_str().to_owned()));
            }
            if let Some(limit) = limit {
                query.push(("limit", limit.to_string()));
            }
            if let Some(cursor) = cursor {
                query.push(("cursor", cursor.clone()));
            }
            client.get(format!("{}/deliveries", subscription(id))).query(&query)
        }
        Command::Delivery { id } => client.get(format!("{base}/api/deliveries/{}", segment(id))),
        Command::Retry { id } => {
            client.post(format!("{base}/api/deliveries/{}/retry", segment(id)))
        }
        Command::EventTypes => client.get(format!("{base}/api/event-types")),
    };
    let doc = send_with(request.bearer_auth(token), base, option_of).await?;
    let code = match &args.command {
        Command::Test { .. } | Command::Retry { .. } if !got_2xx(&doc) => exit::FLOW_ERRORS,
        _ => exit::OK,
    };
    if args.json || args.format == Format::Json {
        let doc = match (&args.command, doc) {
            // `204` has no body: say what was done.
            (Command::Delete { id }, Value::Null) => json!({ "id": id, "deleted": true }),
            (_, doc) => doc,
        };
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        return Ok((format!("{text}\n"), code));
    }
    let out = match &args.command {
        Command::Create { .. } => issued(&doc, "created subscription"),
        Command::List => list(&doc),
        Command::Show { .. } | Command::Update { .. } => show(&doc),
        Command::Pause { .. } | Command::Resume { .. } => switched(&doc),
        Command::Delete { id } => format!("deleted subscription {id} and its deliveries\n"),
        Command::Test { .. } => outcome(&doc, "test delivery"),
        Command::Retry { .. } => outcome(&doc, "retried delivery"),
        Command::RotateSecret { .. } => rotated(&doc),
        Command::Deliveries { .. } => deliveries(&doc),
        Command::Delivery { .. } => delivery(&doc),
        Command::EventTypes => event_types(&doc),
    };
    Ok((out, code))
}

/// The newest attempt of a delivery detail.
fn last_attempt(delivery: &Value) -> Option<&Value> {
    delivery["attempts"].as_array().and_then(|a| a.last())
}

/// The newest attempt got a `2xx` answer.
fn got_2xx(delivery: &Value) -> bool {
    last_attempt(delivery)
        .and_then(|a| a["status"].as_u64())
        .is_some_and(|status| (200..300).contains(&status))
}

/// `active`, `paused`, or `disabled` (hookflow switched it off; the reason says why).
fn state(view: &Value) -> &'static str {
    if view["active"] == true {
        "active"
    } else if view["disabled_reason"].is_string() {
        "disabled"
    } else {
        "paused"
    }
}

fn events(view: &Value) -> String {
    let names: Vec<String> =
        view["events"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(text).collect();
    if names.is_empty() { "-".into() } else { names.join(",") }
}

/// The header names, each with `[redacted]` for its value: a value is never shown, whatever the
/// server answered.
fn header_names(view: &Value) -> String {
    let names: Vec<String> = view["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, _)| format!("{name}: {REDACTED}"))
        .collect();
    if names.is_empty() { "-".into() } else { names.join(", ") }
}

fn field(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "  {:<14} {value}", format!("{name}:"));
}

/// `list` as a table.
fn list(doc: &Value) -> String {
    let items = doc["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "no subscriptions\n".into();
    }
    let header = ["ID", "NAME", "STATE", "EVENTS", "URL"];
    let rows: Vec<[String; 5]> = items
        .iter()
        .map(|s| [text(&s["id"]), text(&s["name"]), state(s).into(), events(s), text(&s["url"])])
        .collect();
    table(header, &rows)
}

/// One subscription as a readable record.
fn show(view: &Value) -> String {
    let mut out = format!("subscription {}\n", text(&view["id"]));
    record(&mut out, view);
    out
}

fn record(out: &mut String, view: &Value) {
    field(out, "name", text(&view["name"]));
    field(out, "url", text(&view["url"]));
    let state = match view["disabled_reason"].as_str() {
        Some(reason) if view["active"] != true => format!("disabled: {reason}"),
        _ => state(view).into(),
    };
    field(out, "state", state);
    field(out, "events", events(view));
    field(out, "description", text(&view["description"]));
    field(out, "headers", header_names(view));
    let payload = match &view["payload"] {
        Value::Null => "the default event envelope".into(),
        expression => expression.to_string(),
    };
    field(out, "payload", payload);
    for (i, secret) in view["secrets"].as_array().into_iter().flatten().enumerate() {
        let until = match secret["expires_at"].as_str() {
            Some(at) => format!("signing until {at}"),
            None => "signing".into(),
        };
        let label = if i == 0 { "secrets:" } else { "" };
        let _ = writeln!(out, "  {label:<14} created {}, {until}", text(&secret["created_at"]));
    }
    field(out, "created", text(&view["created_at"]));
    field(out, "updated", text(&view["updated_at"]));
}

/// `create`: the subscription and its secret, which is not shown again.
fn issued(doc: &Value, what: &str) -> String {
    let mut out = format!("{what} {}\n", text(&doc["id"]));
    record(&mut out, doc);
    let _ = writeln!(
        out,
        "\nsigning secret: {}\n(shown only now: store it where the receiver verifies signatures)",
        text(&doc["secret"])
    );
    out
}

/// `rotate-secret`: the new secret, once, and until when the previous one signs too.
fn rotated(doc: &Value) -> String {
    let mut out = format!(
        "new signing secret for subscription {} ({}): {}\n(shown only now: store it where the \
         receiver verifies signatures)\n",
        text(&doc["id"]),
        text(&doc["name"]),
        text(&doc["secret"])
    );
    match doc["previous_valid_until"].as_str() {
        Some(at) => {
            let _ = writeln!(out, "the previous secret signs too until {at}");
        }
        None => out.push_str("the previous secret no longer signs\n"),
    }
    out
}

/// `pause` and `resume`: the subscription's state now.
fn switched(view: &Value) -> String {
    let (id, name) = (text(&view["id"]), text(&view["name"]));
    match state(view) {
        "active" => format!("subscription {id} ({name}) is active: its events are delivered\n"),
        "paused" => format!(
            "subscription {id} ({name}) is paused: its events are held until `hookflow \
             subscriptions resume {id}`\n"
        ),
        other => format!("subscription {id} ({name}) is {other}\n"),
    }
}

/// `HTTP 200 in 12 ms`, or what went wrong.
fn attempt_line(attempt: &Value) -> String {
    let took = attempt["duration_ms"].as_u64().map(|ms| format!(" in {ms} ms")).unwrap_or_default();
    let error = attempt["error"].as_str();
    match (attempt["status"].as_u64(), error) {
        (Some(status), None) => format!("HTTP {status}{took}"),
        (Some(status), Some(error)) => format!("HTTP {status}{took}: {error}"),
        (None, Some(error)) => format!("no answer{took}: {error}"),
        (None, None) => format!("no answer{took}"),
    }
}

/// `test` and `retry`: how the attempt went, and what comes next.
fn outcome(delivery: &Value, what: &str) -> String {
    let mut out = format!(
        "{what} {} ({}) to subscription {}: ",
        text(&delivery["id"]),
        text(&delivery["event_type"]),
        text(&delivery["subscription_id"])
    );
    let Some(attempt) = last_attempt(delivery) else {
        out.push_str("no attempt was made\n");
        return out;
    };
    let verdict = if got_2xx(delivery) { "delivered" } else { "failed" };
    let _ = writeln!(out, "{verdict}, {}", attempt_line(attempt));
    if !got_2xx(delivery) {
        if let Some(body) = attempt["response_body"].as_str().filter(|b| !b.trim().is_empty()) {
            let _ = writeln!(out, "  the receiver answered: {}", shorten(body, OUTCOME_BODY_CHARS));
        }
        let _ = write!(out, "  delivery status: {}", text(&delivery["status"]));
        if let Some(at) = delivery["next_attempt_at"].as_str() {
            let _ = write!(out, ", next attempt at {at}");
        }
        out.push('\n');
    }
    out
}

/// `deliveries` as a table, then how to get the next page.
fn deliveries(doc: &Value) -> String {
    let items = doc["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "no deliveries\n".into();
    }
    let header = ["ID", "EVENT", "STATUS", "ATTEMPTS", "LAST", "CREATED", "NEXT ATTEMPT"];
    let rows: Vec<[String; 7]> = items
        .iter()
        .map(|d| {
            let last = match (d["last_status"].as_u64(), d["last_error"].as_str()) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(error)) => shorten(error, TABLE_ERROR_CHARS),
                (None, None) => "-".into(),
            };
            [
                text(&d["id"]),
                text(&d["event_type"]),
                text(&d["status"]),
                text(&d["attempts"]),
                last,
                text(&d["created_at"]),
                text(&d["next_attempt_at"]),
            ]
        })
        .collect();
    let mut out = table(header, &rows);
    if let Some(cursor) = doc["next_cursor"].as_str() {
        let _ = writeln!(out, "more: --cursor {cursor}");
    }
    out
}

/// `text` on one line, at most `max` characters.
fn shorten(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}

/// `delivery`: the record, every attempt with the receiver's answer, and the payload.
fn delivery(doc: &Value) -> String {
    let mut out = format!("delivery {}\n", text(&doc["id"]));
    field(&mut out, "subscription", text(&doc["subscription_id"]));
    field(&mut out, "event", text(&doc["event_type"]));
    field(&mut out, "status", text(&doc["status"]));
    field(&mut out, "created", text(&doc["created_at"]));
    if let Some(at) = doc["next_attempt_at"].as_str() {
        field(&mut out, "next attempt", at);
    }
    let attempts = doc["attempts"].as_array().map(Vec::as_slice).unwrap_or_default();
    if attempts.is_empty() {
        out.push_str("\nattempts\n  (none yet)\n");
    } else {
        out.push_str("\nattempts\n");
    }
    for (i, attempt) in attempts.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}: {}", i + 1, text(&attempt["at"]), attempt_line(attempt));
        for (name, value) in attempt["response_headers"].as_object().into_iter().flatten() {
            let _ = writeln!(out, "     {name}: {}", text(value));
        }
        if let Some(body) = attempt["response_body"].as_str().filter(|b| !b.is_empty()) {
            let cut = if attempt["response_body_truncated"] == true {
                "\n     (cut at the recording limit)"
            } else {
                ""
            };
            let _ = writeln!(out, "\n     {}{cut}", body.trim_end().replace('\n', "\n     "));
        }
    }
    if !doc["payload"].is_null() {
        let payload = serde_json::to_string_pretty(&doc["payload"]).unwrap_or_default();
        let _ = writeln!(out, "\npayload\n  {}", payload.replace('\n', "\n  "));
    }
    out
}

/// `event-types` as a table.
fn event_types(doc: &Value) -> String {
    let items = doc["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    let header = ["EVENT", "DESCRIPTION"];
    let mut rows: Vec<[String; 2]> =
        items.iter().map(|t| [text(&t["name"]), text(&t["description"])]).collect();
    rows.push(["*".into(), "every event type".into()]);
    table(header, &rows)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// The command line as `main.rs` parses it, with `subscriptions` first.
    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Top {
        Subscriptions(Args),
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let mut all = vec!["hookflow", "subscriptions"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|cli| match cli.command {
            Top::Subscriptions(args) => args,
        })
    }

    fn refused(result: Result<impl std::fmt::Debug, Failure>) -> String {
        match result {
            Err(Failure::CouldNotRun(message) | Failure::Refused(message)) => message,
            Ok(value) => panic!("accepted: {value:?}"),
        }
    }

    #[test]
    fn a_header_is_split_at_its_first_equals_sign() {
        let given = ["X-Token=abc=def".to_owned(), "X-Empty=".to_owned(), " X-Pad =v".to_owned()];
        let parsed = headers(&given).map_err(|_| ()).unwrap();
        assert_eq!(parsed["X-Token"], "abc=def");
        assert_eq!(parsed["X-Empty"], "");
        assert_eq!(parsed["X-Pad"], "v");
    }

    #[test]
    fn a_bad_header_option_is_refused_without_its_value() {
        let message = refused(headers(&["X-Token:s3cret".to_owned()]));
        assert!(message.contains("NAME=VALUE") && message.contains("#1"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
        let message = refused(headers(&["=s3cret".to_owned()]));
        assert!(message.contains("name") && !message.contains("s3cret"), "{message}");
        let twice = ["X-A=s3cret".to_owned(), "x-a=other".to_owned()];
        let message = refused(headers(&twice));
        assert!(message.contains("twice") && !message.contains("s3cret"), "{message}");
    }

    #[test]
    fn grace_takes_durations_and_seconds() {
        assert_eq!(grace("24h"), Ok(24 * 3600));
        assert_eq!(grace("1h 30m"), Ok(5400));
        assert_eq!(grace("90s"), Ok(90));
        assert_eq!(grace("3600"), Ok(3600));
        assert_eq!(grace("0"), Ok(0));
        assert_eq!(grace("1500ms"), Ok(2), "a fraction of a second counts as one");
        let wrong = grace("a day").unwrap_err();
        assert!(wrong.contains("`a day`") && wrong.contains("24h"), "{wrong}");
        assert!(grace("-5").is_err());
    }

    #[test]
    fn rotate_secret_parses_its_grace() {
        let args = parse(&["rotate-secret", "sub_1", "--grace", "24h"]).unwrap();
        let Command::RotateSecret { id, grace } = args.command else { panic!() };
        assert_eq!((id.as_str(), grace), ("sub_1", Some(86_400)));
        let error = parse(&["rotate-secret", "sub_1", "--grace", "soon"]).unwrap_err();
        assert!(error.to_string().contains("soon"), "{error}");
    }

    #[test]
    fn create_takes_repeated_and_comma_separated_events() {
        let args = parse(&[
            "create",
            "--name",
            "crm",
            "--url",
            "https://example.com/in",
            "--event",
            "execution.failed,execution.succeeded",
            "--event",
            "test",
            "--header",
            "X-Token=s",
            "--paused",
            "--json",
        ])
        .unwrap();
        assert!(args.json);
        let Command::Create { events, headers, paused, .. } = args.command else { panic!() };
        assert_eq!(events, ["execution.failed", "execution.succeeded", "test"]);
        assert_eq!(headers, ["X-Token=s"]);
        assert!(paused);
    }

    #[test]
    fn payload_options_exclude_each_other() {
        let base = ["create", "--name", "n", "--url", "https://e.com"];
        let both = [&base[..], &["--payload", "{}", "--payload-file", "p.json"]].concat();
        assert!(parse(&both).is_err());
        let update = ["update", "sub_1", "--payload", "{}", "--default-payload"];
        assert!(parse(&update).is_err());
        let update = ["update", "sub_1", "--header", "A=b", "--no-headers"];
        assert!(parse(&update).is_err());
        let args = parse(&["update", "sub_1", "--payload", r#"{"text":"$.event.type"}"#]).unwrap();
        let Command::Update { payload, .. } = args.command else { panic!() };
        assert_eq!(payload.read().map_err(|_| ()).unwrap(), Some(json!({"text": "$.event.type"})));
        let args = parse(&["update", "sub_1", "--payload", "{not json"]).unwrap();
        let Command::Update { payload, .. } = args.command else { panic!() };
        assert!(refused(payload.read()).starts_with("--payload is not JSON"));
    }

    #[test]
    fn deliveries_takes_a_status() {
        let args = parse(&["deliveries", "sub_1", "--status", "failed", "--limit", "5"]).unwrap();
        let Command::Deliveries { status, limit, .. } = args.command else { panic!() };
        assert_eq!((status, limit), (Some(DeliveryStatus::Failed), Some(5)));
        assert!(parse(&["deliveries", "sub_1", "--status", "lost"]).is_err());
    }

    #[test]
    fn body_fields_name_their_option() {
        assert_eq!(option_of("/url").as_deref(), Some("--url"));
        assert_eq!(option_of("/events/2").as_deref(), Some("--event"));
        assert_eq!(option_of("/headers/X-Token").as_deref(), Some("--header X-Token"));
        assert_eq!(option_of("/headers/a~1b").as_deref(), Some("--header a/b"));
        assert_eq!(option_of("/payload/body/0").as_deref(), Some("--payload"));
        assert_eq!(option_of("/other"), None);
        assert_eq!(option_of(""), None);
    }

    #[test]
    fn a_view_never_shows_header_values() {
        let view = json!({
            "id": "sub_1", "name": "crm", "url": "https://e.com", "events": ["*"],
            "active": true, "headers": { "X-Token": "s3cret" }, "payload": null,
            "secrets": [{ "created_at": "2025-01-01T00:00:00Z", "expires_at": null }],
        });
        let shown = show(&view);
        assert!(shown.contains("X-Token: [redacted]"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("the default event envelope"), "{shown}");
    }

    #[test]
    fn states_and_outcomes() {
        assert_eq!(state(&json!({ "active": true })), "active");
        assert_eq!(state(&json!({ "active": false, "disabled_reason": null })), "paused");
        assert_eq!(state(&json!({ "active": false, "disabled_reason": "410 Gone" })), "disabled");
        let ok = json!({ "attempts": [{ "status": 500 }, { "status": 204, "duration_ms": 3 }] });
        assert!(got_2xx(&ok));
        let refused = json!({ "id": "msg_1", "status": "pending", "attempts": [
            { "status": null, "error": "connection refused", "duration_ms": 1 }] });
        assert!(!got_2xx(&refused));
        let text = outcome(&refused, "test delivery");
        assert!(text.contains("failed, no answer in 1 ms: connection refused"), "{text}");
        assert!(!got_2xx(&json!({ "attempts": [] })));
    }
}
