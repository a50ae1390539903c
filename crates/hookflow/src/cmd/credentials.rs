//! `hookflow credentials create|list|rotate|delete`: manage the secrets webhook routes require.
//! A generated secret is printed once, when it is issued; an hmac secret given on standard input
//! (`--secret-stdin`) is never printed; `list` never shows one.
//!
//! These open the store directly, so they cannot run while `hookflow serve` holds the same data
//! directory open.

use std::path::PathBuf;
use std::time::Duration;

use hookflow_runtime::credentials::{self, CredentialKind, Issued};
use hookflow_store::clock::now_ms;
use hookflow_store::{Store, StoreError, StoreKind};
use serde_json::json;

use super::{exit, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a credential and print its secret once.
    Create {
        /// The credential's name (letters, digits, `_`, `.`, `-`).
        name: String,
        /// `api_key`, `bearer`, `basic` or `hmac`.
        #[arg(long = "type", value_name = "TYPE")]
        kind: CredentialKind,
        /// The username, for a basic credential.
        #[arg(long)]
        username: Option<String>,
        /// Read the secret from standard input (an hmac credential only: the signing secret a
        /// provider gave); one trailing newline is dropped.
        #[arg(long)]
        secret_stdin: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the credentials (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Issue a new secret; the old one stops working now, or after `--grace` seconds.
    Rotate {
        name: String,
        /// Seconds during which the previous secret keeps working.
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
        /// Read the new secret from standard input (an hmac credential only).
        #[arg(long)]
        secret_stdin: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a credential: its secrets stop working at once.
    Delete {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, clap::Args)]
struct StoreArgs {
    /// The data directory.
    #[arg(long, default_value = "./hookflow-data")]
    data: PathBuf,
    /// The storage backend: `redb` (default) or `sled`.
    #[arg(long, default_value = "redb")]
    store: StoreKind,
}

impl StoreArgs {
    fn open(&self) -> Result<std::sync::Arc<dyn Store>, String> {
        std::fs::create_dir_all(&self.data)
            .map_err(|e| format!("cannot create {}: {e}", self.data.display()))?;
        hookflow_store::open(self.store, &self.data).map_err(|e| match e {
            StoreError::Locked { .. } => format!(
                "{e}\n  while `hookflow serve` runs, manage credentials through its admin API: \
                 GET/POST /api/credentials, POST /api/credentials/{{name}}/rotate, \
                 DELETE /api/credentials/{{name}} (see docs/admin-api.md)"
            ),
            e => format!("cannot open the {} store in {}: {e}", self.store, self.data.display()),
        })
    }
}

pub fn main(args: Args) -> u8 {
    match run(args.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("hookflow credentials: {message}");
            exit::COULD_NOT_RUN
        }
    }
}

fn run(command: Command) -> Result<u8, String> {
    let now = now_ms();
    match command {
        Command::Create { name, kind, username, secret_stdin, json, store } => {
            let given = secret_stdin.then(read_secret).transpose()?;
            let shown = given.is_none();
            let store = store.open()?;
            let issued =
                credentials::create_with_secret(&*store, &name, kind, username, given, now)
                    .map_err(|e| e.to_string())?;
            flush(&*store)?;
            print_issued(&issued, json, "created", shown);
        }
        Command::List { json, store } => {
            let store = store.open()?;
            let all = credentials::list(&*store, now).map_err(|e| e.to_string())?;
            if json {
                print(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?
                ));
            } else if all.is_empty() {
                print("no credentials\n");
            } else {
                let mut out = String::new();
                for c in all {
                    let user = c.username.map(|u| format!(" user={u}")).unwrap_or_default();
                    out.push_str(&format!(
                        "{:<24} {:<8} active_secrets={}{user}\n",
                        c.name, c.kind, c.active_secrets
                    ));
                }
                print(&out);
            }
        }
        Command::Rotate { name, grace, secret_stdin, json, store } => {
            let given = secret_stdin.then(read_secret).transpose()?;
            let shown = given.is_none();
            let store = store.open()?;
            let grace = grace.map(Duration::from_secs);
            let issued = credentials::rotate_with_secret(&*store, &name, grace, given, now)
                .map_err(|e| e.to_string())?;
            flush(&*store)?;
            print_issued(&issued, json, "rotated", shown);
        }
        Command::Delete { name, store } => {
            let store = store.open()?;
            let deleted = credentials::delete(&*store, &name).map_err(|e| e.to_string())?;
            flush(&*store)?;
            if !deleted {
                return Err(format!("no credential named `{name}`"));
            }
            print(&format!("deleted credential `{name}`\n"));
        }
    }
    Ok(exit::OK)
}

fn flush(store: &dyn Store) -> Result<(), String> {
    store.flush().map_err(|e| format!("cannot flush the store: {e}"))
}

/// The secret on standard input, without one trailing newline (`\n` or `\r\n`).
fn read_secret() -> Result<String, String> {
    let mut secret = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut secret)
        .map_err(|e| format!("cannot read the secret from standard input: {e}"))?;
    if secret.ends_with('\n') {
        secret.pop();
        if secret.ends_with('\r') {
            secret.pop();
        }
    }
    Ok(secret)
}

/// Prints what was issued; the secret only when `shown` (it was generated, not given).
fn print_issued(issued: &Issued, json: bool, what: &str, shown: bool) {
    if json {
        let mut doc = json!({
            "name": issued.name,
            "kind": issued.kind,
            "username": issued.username,
        });
        if shown {
            doc["secret"] = json!(issued.secret);
        }
        print(&format!("{doc}\n"));
        return;
    }
    let mut out = format!("{what} {} credential `{}`\n", issued.kind, issued.name);
    if let Some(user) = &issued.username {
        out.push_str(&format!("username: {user}\n"));
    }
    if shown {
        out.push_str(&format!("secret:   {}\n(shown once: store it now)\n", issued.secret));
    } else {
        out.push_str("secret:   read from standard input (not shown)\n");
    }
    print(&out);
}
