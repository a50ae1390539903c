//! One module per command.

mod admin_client;
pub mod cases;
pub mod credentials;
pub mod executions;
pub mod flows;
pub mod records;
pub mod routes;
pub mod run;
pub mod serve;
pub mod subscriptions;
pub mod test;
pub mod validate;

/// Exit codes shared by the commands.
pub mod exit {
    pub const OK: u8 = 0;
    /// The flows (or the run) have errors; a delivery attempt got no `2xx`.
    pub const FLOW_ERRORS: u8 = 1;
    /// The command could not do its work (bad arguments, unreadable files).
    pub const COULD_NOT_RUN: u8 = 2;
}

/// Output format of the commands that print reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Human,
    Json,
}

/// `rows` under `header` as aligned columns, two spaces apart, one line each.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> =
            cells.zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut header.into_iter());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Writes to standard output; a closed pipe (`hookflow run ... | head`) is not an error.
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The outbound HTTP client flows call out with: it refuses private, loopback and link-local
/// destinations unless `allow_private_network`.
pub fn http_client(
    allow_private_network: bool,
) -> Result<
    std::sync::Arc<dyn hookflow_core::services::HttpClient>,
    hookflow_runtime::http_client::BuildError,
> {
    use hookflow_runtime::http_client::ReqwestClient;
    let policy = network(allow_private_network);
    Ok(std::sync::Arc::new(ReqwestClient::new(policy)?))
}

/// The HTTP client of an offline run of `plan`: the network only when the flow calls out.
pub fn offline_http(
    plan: &hookflow_core::plan::Plan,
    allow_private_network: bool,
) -> Result<
    std::sync::Arc<dyn hookflow_core::services::HttpClient>,
    hookflow_runtime::http_client::BuildError,
> {
    if plan.calls_out() {
        http_client(allow_private_network)
    } else {
        Ok(std::sync::Arc::new(hookflow_core::services::NoNetwork))
    }
}

/// The policy of every outbound call: private networks allowed, or refused.
pub fn network(allow_private_network: bool) -> hookflow_runtime::http_client::NetworkPolicy {
    use hookflow_runtime::http_client::NetworkPolicy;
    if allow_private_network { NetworkPolicy::AllowPrivate } else { NetworkPolicy::PublicOnly }
}
