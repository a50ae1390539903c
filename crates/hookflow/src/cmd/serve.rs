//! `hookflow serve`: open the store, start the engine (which loads the flows through its reload
//! task, creating missing credentials, and runs again what a previous process left unfinished),
//! watch the flows and reload on SIGHUP, and serve the webhooks (and the admin listener) until
//! SIGINT or SIGTERM.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::builder::TypedValueParser as _;
use hookflow_core::diagnostic::render_all;
use hookflow_core::routes::public_url;
use hookflow_runtime::credentials;
use hookflow_runtime::history::HistoryConfig;
use hookflow_runtime::outbound::worker::{self, DeliveryConfig};
use hookflow_runtime::outbound::{retry, sender};
use hookflow_runtime::reload::Trigger;
use hookflow_runtime::retention::{self, Retention};
use hookflow_runtime::watch::{FlowsWatcher, watch};
use hookflow_runtime::{Engine, EngineConfig, Reloader};
use hookflow_server::listener::{self as serving, Limits};
use hookflow_store::StoreKind;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{exit, print};

/// The webhook listener's address unless `--listen` says otherwise.
pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long in-flight requests may take to finish once a shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often history retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flows directory (or file).
    #[arg(long, default_value = "flows")]
    flows: PathBuf,
    /// The data directory (created if missing).
    #[arg(long, default_value = "./hookflow-data")]
    data: PathBuf,
    /// The webhook listener's address; port 0 picks a free port.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: String,
    /// The admin listener's address (`/healthz`, `/readyz`, `/metrics` and the admin API); port 0
    /// picks a free port.
    #[arg(long, default_value = "127.0.0.1:8081")]
    admin_listen: String,
    /// The token the admin API asks for (`Authorization: Bearer <token>`). Without it, the token
    /// whose SHA-256 digest is in `<data>/admin-token.sha256`; when that file is missing, a new
    /// token is generated, its digest written there and the token printed once.
    #[arg(long, env = "HOOKFLOW_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The base URL callers use to reach the webhook listener (default: `http://` + its address).
    #[arg(long)]
    public_url: Option<String>,
    /// The storage backend: `redb` (default) or `sled`.
    #[arg(long, default_value = "redb")]
    store: StoreKind,
    /// Let flows (`http_request`) and outbound webhook deliveries reach loopback, private,
    /// link-local and unique-local addresses (refused by default).
    #[arg(long, visible_alias = "allow-private-network")]
    allow_private_outbound: bool,
    /// Do not watch the flows for changes (reload them with SIGHUP or `POST /api/reload`).
    #[arg(long)]
    no_watch: bool,
    /// Do not record executions (calls answered `202` are still stored until they ran).
    #[arg(long)]
    no_history: bool,
    /// Workers running `accepted` calls at once.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// `accepted` calls that may wait for a worker; more get `503` with `Retry-After`.
    #[arg(long, default_value_t = 1024)]
    queue_capacity: usize,
    /// Finished executions older than this many days are removed.
    #[arg(long, default_value_t = 30)]
    retention_days: u64,
    /// Finished executions kept per flow (the newest).
    #[arg(long, default_value_t = 10_000)]
    retention_per_flow: usize,
    /// Finished outbound deliveries kept per subscription (the newest); older than
    /// `--retention-days` they go too.
    #[arg(long, default_value_t = Retention::default().per_subscription)]
    retention_per_subscription: usize,
    /// Outbound deliveries sent at once, in all.
    #[arg(long, default_value_t = worker::DEFAULT_WORKERS, value_parser = clap::value_parser!(u16).range(1..))]
    delivery_workers: u16,
    /// Outbound deliveries sent at once to one subscription.
    #[arg(long, default_value_t = worker::DEFAULT_PER_SUBSCRIPTION, value_parser = clap::value_parser!(u16).range(1..))]
    delivery_per_subscription: u16,
    /// How long one delivery attempt may take (e.g. `10s`, `500ms`).
    #[arg(long, default_value_t = sender::DEFAULT_TIMEOUT.into(), value_parser = duration)]
    delivery_timeout: humantime::Duration,
    /// The waits before each retry of a failed delivery, comma-separated (e.g.
    /// `30s,2m,15m,1h,4h`); after the last one fails the delivery is `failed`.
    #[arg(long, default_value_t = Schedule(retry::DEFAULT_SCHEDULE.to_vec()), value_parser = schedule)]
    delivery_schedule: Schedule,
    /// The CPU priority of the threads that send deliveries, as a nice value from 0 (that of
    /// the request path) to 19 (the lowest): when the CPU is busy, webhook calls come first.
    #[arg(long, default_value_t = worker::DEFAULT_NICE, value_parser = clap::value_parser!(u8).range(0..=19))]
    delivery_nice: u8,
    /// How long a client may take to send a request's head (request line and headers), on both
    /// listeners: from the connection's opening or, between requests, from the head's first
    /// byte. A connection whose head is not complete in time is closed.
    #[arg(long, default_value_t = Limits::default().header_timeout.into(), value_parser = duration)]
    header_timeout: humantime::Duration,
    /// How long a client may take to send a request's body once its head came; a webhook call
    /// whose body is not complete in time is answered `408` and its connection closed.
    #[arg(long, default_value_t = Limits::default().body_timeout.into(), value_parser = duration)]
    body_timeout: humantime::Duration,
    /// How long a kept-alive connection may wait for its next request before it is closed.
    #[arg(long, default_value_t = Limits::default().idle_timeout.into(), value_parser = duration)]
    idle_timeout: humantime::Duration,
    /// The largest request head (request line and headers) in bytes, at least 1024; a longer
    /// one is answered `431`.
    #[arg(long, default_value_t = Limits::default().max_header_bytes, value_parser = clap::value_parser!(u32).range(1024..).map(|n| n as usize))]
    max_header_bytes: usize,
    /// Connections each listener keeps open at once; beyond it, new connections wait (in the
    /// listen backlog) until one closes.
    #[arg(long, default_value_t = Limits::default().max_connections, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    max_connections: usize,
}

/// The retry waits of `--delivery-schedule`.
#[derive(Debug, Clone)]
struct Schedule(Vec<Duration>);

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let steps: Vec<String> =
            self.0.iter().map(|step| humantime::format_duration(*step).to_string()).collect();
        f.write_str(&steps.join(","))
    }
}

/// A positive duration in humantime's form (`10s`, `1h 30m`, `250ms`).
fn duration(text: &str) -> Result<humantime::Duration, String> {
    let parsed = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration such as `10s` or `500ms`: {e}"))?;
    if parsed.is_zero() {
        return Err(format!("`{text}` is zero; give a positive duration"));
    }
    Ok(parsed.into())
}

/// Comma-separated positive durations, at least one.
fn schedule(text: &str) -> Result<Schedule, String> {
    let steps = text
        .split(',')
        .enumerate()
        .map(|(i, step)| duration(step).map(Into::into).map_err(|e| format!("step {}: {e}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Schedule(steps))
}

pub fn main(args: Args) -> u8 {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hookflow serve: cannot start the async runtime: {e}");
            return exit::COULD_NOT_RUN;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => exit::OK,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("hookflow serve: {e:#}");
            exit::COULD_NOT_RUN
        }
    }
}

/// Logs to standard error, `info` and up unless `RUST_LOG` says otherwise.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Before the first deploy, which resolves the routes' metric handles.
    hookflow_server::metrics::install()?;
    let http = super::http_client(args.allow_private_outbound)?;

    let admin_digest = {
        let (data, token) = (args.data.clone(), args.admin_token.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&data)
                .with_context(|| format!("cannot create the data directory {}", data.display()))?;
            admin_token_digest(token.as_deref(), &data)
        })
        .await??
    };
    let store = {
        let (kind, dir) = (args.store, args.data.clone());
        tokio::task::spawn_blocking(move || hookflow_store::open(kind, &dir)).await?.with_context(
            || format!("cannot open the {} store in {}", args.store, args.data.display()),
        )?
    };
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let admin = TcpListener::bind(&args.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.admin_listen))?;
    let addr = listener.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let public = public_base(args.public_url.as_deref(), addr);

    let (engine, loaded) = Engine::start(EngineConfig {
        flows: args.flows.clone(),
        data: args.data.clone(),
        store: store.clone(),
        http,
        history: HistoryConfig { enabled: !args.no_history, ..HistoryConfig::default() },
        workers: args.workers,
        queue_capacity: args.queue_capacity,
        public_base: public.clone(),
        announce: Box::new(print),
        outbound: DeliveryConfig {
            workers: args.delivery_workers.into(),
            per_subscription: args.delivery_per_subscription.into(),
            timeout: args.delivery_timeout.into(),
            schedule: args.delivery_schedule.0.clone(),
            network: super::network(args.allow_private_outbound),
            nice: args.delivery_nice.into(),
            ..DeliveryConfig::default()
        },
    })
    .await?;
    if !loaded.diagnostics.is_empty() {
        print(&render_all(&loaded.diagnostics));
        tracing::warn!(
            problems = loaded.diagnostics.len(),
            "some flows have problems; flows with errors are not served"
        );
    }
    let reloader = engine.reloader();
    let _watcher = if args.no_watch { None } else { watch_flows(&args.flows, reloader).await? };
    let retention = Retention {
        max_age: Duration::from_secs(args.retention_days.saturating_mul(24 * 3600)),
        per_flow: args.retention_per_flow,
        per_subscription: args.retention_per_subscription,
        ..Retention::default()
    };
    retention::start(store.clone(), retention, RETENTION_EVERY);
    for route in engine.deployed.load().routes.entries() {
        let inactive = if route.active { "" } else { " (inactive)" };
        tracing::info!(
            flow = %route.plan.id,
            "route {} {}{inactive}",
            route.method.as_str(),
            public_url(&public, route.suffix)
        );
    }
    reload_on_hangup(reloader)?;
    tracing::info!("webhooks listening on http://{addr}");
    tracing::info!("admin listening on http://{admin_addr}");

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let limits = Limits {
        header_timeout: args.header_timeout.into(),
        body_timeout: args.body_timeout.into(),
        idle_timeout: args.idle_timeout.into(),
        max_header_bytes: args.max_header_bytes,
        max_connections: args.max_connections,
    };
    let hooks = tokio::spawn(serving::serve(
        listener,
        hookflow_server::app(engine.clone()),
        limits,
        stopped(stop_rx.clone()),
    ));
    let admin = tokio::spawn(serving::serve(
        admin,
        hookflow_server::admin_app(engine.clone(), admin_digest),
        limits,
        stopped(stop_rx),
    ));

    shutdown_signal().await;
    tracing::info!("shutting down: no new connections; waiting for requests in flight");
    let _ = stop_tx.send(true);
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        let (h, a) = tokio::join!(hooks, admin);
        for result in [h, a] {
            if let Err(e) = result {
                tracing::error!(error = %e, "a listener task failed");
            }
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            grace_s = SHUTDOWN_GRACE.as_secs(),
            "requests still in flight after the grace period; stopping anyway"
        );
    }
    engine.shutdown().await.context("cannot flush the store")?;
    tracing::info!("stopped");
    Ok(())
}

/// Watches the flows for changes, each settled burst of which reloads them. A watch that cannot
/// start is logged, and the flows are reloaded by SIGHUP and the admin API only.
async fn watch_flows(flows: &Path, reloader: &Reloader) -> anyhow::Result<Option<FlowsWatcher>> {
    let (path, reloader) = (flows.to_path_buf(), reloader.clone());
    let watching =
        tokio::task::spawn_blocking(move || watch(&path, move || reloader.trigger(Trigger::Watch)))
            .await?;
    Ok(match watching {
        Ok(watcher) => {
            tracing::info!(flows = %flows.display(), "watching the flows for changes");
            Some(watcher)
        }
        Err(e) => {
            tracing::warn!(flows = %flows.display(), error = %e, "cannot watch the flows; reload them with SIGHUP or POST /api/reload");
            None
        }
    })
}

/// Reloads the flows on every SIGHUP.
#[cfg(unix)]
fn reload_on_hangup(reloader: &Reloader) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let reloader = reloader.clone();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("received SIGHUP: reloading the flows");
            reloader.trigger(Trigger::Signal);
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn reload_on_hangup(_: &Reloader) -> anyhow::Result<()> {
    Ok(())
}

/// The public base URL without a trailing `/`.
pub(super) fn public_base(given: Option<&str>, addr: SocketAddr) -> String {
    match given {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{addr}"),
    }
}

/// Where the admin token's digest is kept in the data directory (hex SHA-256, never the token).
const ADMIN_TOKEN_FILE: &str = "admin-token.sha256";

/// The SHA-256 digest of the admin token: the `given` one, else the one stored in the data
/// directory, else a new token whose digest is stored there (mode 0600) and which is printed
/// once to standard output (and logged without the token). Blocks on the file system.
fn admin_token_digest(given: Option<&str>, data: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    if let Some(token) = given {
        anyhow::ensure!(!token.trim().is_empty(), "the admin token is empty");
        return Ok(credentials::digest(token.trim()));
    }
    let path = data.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = text.trim();
            let digest = (text.len() == 64)
                .then(|| {
                    let mut out = [0u8; 32];
                    for (i, byte) in out.iter_mut().enumerate() {
                        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
                    }
                    Some(out)
                })
                .flatten();
            digest.with_context(|| {
                format!(
                    "{} does not hold a hex SHA-256 digest; delete it to get a new admin token",
                    path.display()
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = credentials::generate_secret();
            let digest = credentials::digest(&token);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file =
                options.open(&path).with_context(|| format!("cannot create {}", path.display()))?;
            std::io::Write::write_all(&mut file, format!("{hex}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            print(&format!(
                "admin token (shown once; only its digest is kept, in {}; delete that file and restart for a new one): {token}\n",
                path.display()
            ));
            tracing::info!(file = %path.display(), "generated an admin token; it was printed once to standard output");
            Ok(digest)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = term => tracing::info!("received SIGTERM"),
    }
}
